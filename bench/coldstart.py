"""Cold start: a fresh interpreter importing what each entry point needs, against the
deprecated `vertexai.preview.vision_models` path (the guide's) and a bare interpreter.

Each case runs `sys.executable -c "<imports>"` with cwd = functions/ (functions-framework
loads main.py from the source dir and puts that dir on sys.path). Runs are interleaved
across cases so drift on a shared machine spreads evenly; one warm-up round fills the page
cache and is discarded. `-X importtime` then shows what dominates the submit path.

`BENCH_COLDSTART_BEFORE=<another checkout's functions/ dir>` also times every case from that
tree, interleaved in the same run, and adds a before -> after table (a refactor's cold-start
cost, measured against its own baseline: e.g. `git worktree add /tmp/before <commit>`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from bench._common import FUNCTIONS_DIR, emit, machine, median, ms, table, verdict

RUNS = int(os.environ.get("BENCH_COLDSTART_RUNS", "10"))
BEFORE = os.environ.get("BENCH_COLDSTART_BEFORE", "")

BASELINE = "import vertexai.preview.vision_models"
CASES: list[tuple[str, str, float | None]] = [
    # (name, code, target as a fraction of the baseline)
    ("bare interpreter", "pass", None),
    ("submit", "import main; import imagegen.http_api", 0.25),
    (
        "generate",
        "import main; import imagegen.services.worker; import google.cloud.aiplatform_v1",
        0.6,
    ),
    ("on_upload", "import main; import imagegen.services.uploads", None),
    # What the first request/job also imports when it builds its clients (informational).
    (
        "submit + first request (firestore, pubsub_v1)",
        "import main; import imagegen.http_api; import google.cloud.firestore;"
        " import google.cloud.pubsub_v1",
        None,
    ),
    (
        "generate + first job (firestore, storage)",
        "import main; import imagegen.services.worker; import google.cloud.aiplatform_v1;"
        " import google.cloud.firestore; import google.cloud.storage",
        None,
    ),
    ("baseline: vertexai.preview.vision_models", BASELINE, None),
]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.setdefault("LOG_LEVEL", "WARNING")
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def time_once(code: str, env: dict[str, str], cwd: str | os.PathLike = FUNCTIONS_DIR) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def importtime(code: str, top: int = 15) -> list[tuple[int, int, str]]:
    """(self µs, cumulative µs, module) of the slowest imports by self time."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=FUNCTIONS_DIR,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(.+)$", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), m.group(4).strip()))
    rows.sort(reverse=True)
    return rows[:top]


def top_packages(code: str) -> list[tuple[str, float]]:
    """Self time summed per top-level distribution-ish prefix (google.cloud.x, pydantic...)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=FUNCTIONS_DIR,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(.+)$", line)
        if not m:
            continue
        parts = m.group(4).strip().split(".")
        depth = 3 if parts[0] == "google" and len(parts) > 2 and parts[1] == "cloud" else 2
        key = ".".join(parts[:depth]) if parts[0] == "google" else parts[0]
        totals[key] = totals.get(key, 0) + int(m.group(1))
    return sorted(((k, v / 1e6) for k, v in totals.items()), key=lambda kv: -kv[1])[:12]


def run(small: bool = False) -> dict[str, object]:
    """`small`: one timed run per case and no warm-up round (proves it still runs)."""
    env = _env()
    runs = 1 if small else RUNS
    samples: dict[str, list[float]] = {name: [] for name, _, _ in CASES}
    before: dict[str, list[float]] = {name: [] for name, _, _ in CASES}
    if not small:
        for _, code, _ in CASES:  # warm-up round: page cache, .pyc files
            time_once(code, env)
            if BEFORE:
                time_once(code, env, BEFORE)
    for _ in range(runs):
        for name, code, _ in CASES:
            samples[name].append(time_once(code, env))
            if BEFORE:
                before[name].append(time_once(code, env, BEFORE))
    base = median(samples[CASES[-1][0]])
    bare = median(samples["bare interpreter"])
    rows = []
    results: dict[str, object] = {"baseline_s": base, "bare_s": bare}
    for name, _, target in CASES:
        med = median(samples[name])
        ratio = med / base
        goal = f"≤ {target:.2f}x → {verdict(ratio <= target)}" if target else ""
        rows.append(
            [
                name,
                ms(med),
                ms(min(samples[name])),
                ms(max(samples[name])),
                ms(med - bare),
                f"{ratio:.3f}x",
                goal,
            ]
        )
        results[name] = med
    tops = importtime(CASES[1][1])
    pkgs = top_packages(CASES[1][1])
    body = [
        "## Cold start",
        "",
        f"Machine: {machine()}.",
        f"Median of {runs} fresh interpreters per case (`{os.path.basename(sys.executable)} -c`,"
        " cwd `functions/`), interleaved, after one discarded warm-up round.",
        "",
        table(
            ["case", "median ms", "min ms", "max ms", "minus bare ms", "vs baseline", "target"],
            rows,
        ),
        "",
        "Top imports of `submit` by self time (`python -X importtime`, one run):",
        "",
        table(
            ["module", "self ms", "cumulative ms"],
            [[mod, f"{s / 1000:.1f}", f"{c / 1000:.1f}"] for s, c, mod in tops],
        ),
        "",
        "Self time of `submit`'s imports summed per package:",
        "",
        table(["package", "self ms"], [[k, f"{v * 1000:.1f}"] for k, v in pkgs]),
    ]
    if BEFORE:
        body += ["", *_before_after(samples, before, base)]
    emit("coldstart", "\n".join(body), small)
    return results


def _before_after(
    after: dict[str, list[float]], before: dict[str, list[float]], base: float
) -> list[str]:
    """The same cases from the `BENCH_COLDSTART_BEFORE` tree, same run: medians and ratios."""
    rows = []
    for name, _, _ in CASES[1:-1]:
        old, new = median(before[name]), median(after[name])
        rows.append(
            [name, ms(old), ms(new), f"{old / base:.3f}x", f"{new / base:.3f}x", f"{new / old:.3f}"]
        )
    return [
        f"Before ({BEFORE}) and after (this tree), same run, medians of {len(after[CASES[1][0]])}:",
        "",
        table(
            ["case", "before ms", "after ms", "before vs baseline", "after vs baseline", "ratio"],
            rows,
        ),
    ]


if __name__ == "__main__":
    run()
