"""Peak memory of a benchmark's child process, and running that child: the memory and
batch benchmarks measure one case each in a fresh subprocess that prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys

from bench._common import ROOT


def status(field: str) -> int:
    """A /proc/self/status field (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (/proc/self/clear_refs); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def run_child(module: str, env: dict[str, str], case: dict, timeout: float) -> dict:
    """`python -m <module> --child <case>` (cwd functions/, as deployed); its last line
    starting `{"baseline"`, as a dict."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--child", json.dumps(case)],
        cwd=ROOT / "functions",
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"baseline"')]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} child failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(lines[-1])
