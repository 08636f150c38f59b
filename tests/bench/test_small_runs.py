"""Every benchmark still runs (issue 27): `python -m bench --small <name>` against the test
session's own stack (`BENCH_STACK=running`), a few jobs each. Asserts that it completes,
prints its section with numbers in it, and writes nothing to RESULTS.md; never a timing.
Before this test, `python -m bench memory` crashed on `Job.get` for weeks unnoticed."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"
# benchmark -> a line its section must print (a table row with numbers, not just a title)
SECTIONS = {
    "coldstart": r"\| submit +\| [0-9.]+ +\|",
    "submit": r"\| submit +\| 1 +\| \d+ +\| 0 +\|",
    "worker": r"\| total +\| [0-9.]+ +\|",
    "memory": r"\| 2 x 1K .*\| streamed +\| on +\| \d+ ",
    "results": r"\| webhook delivery .*\| \d+ +\| [0-9.]+ ",
    "quota": r"\| Cloud Tasks queue \(as built\), measured +\| 1x +\| [0-9.]+ ",
    "writes": r"\| baseline: 1 shard +\| \d+ ",
    "native": r"\| native +\| [0-9.]+ ",
    "batch": r"\| streamed +\| 20 +\| \d+ +\| \d+ +\| \d+ ",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.stack
@pytest.mark.parametrize("name", list(SECTIONS))
def test_benchmark_runs_in_small_mode(stack, name):
    before = RESULTS.read_bytes()
    env = dict(os.environ)  # the session stack's (tests/conftest.py put it there)
    env.update(
        {
            "BENCH_STACK": "running",
            "BENCH_SUBMIT_PORT": str(_free_port()),
            "BENCH_BASELINE_PORT": str(_free_port()),
            "BENCH_NOISY_PORT": str(_free_port()),
            "BENCH_GENERATE_PORT": str(_free_port()),
            "PYTHONPATH": str(ROOT),
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--small", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert f"[bench] {name}: small run, RESULTS.md left as it is" in out, out[-4000:]
    assert re.search(SECTIONS[name], out), f"no numbers for {name}:\n{out[-4000:]}"
    assert RESULTS.read_bytes() == before, "a small run must not write RESULTS.md"
