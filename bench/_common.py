"""Shared helpers: machine facts, statistics, Markdown tables and the RESULTS.md sections."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
FUNCTIONS_DIR = ROOT / "functions"
RESULTS = BENCH_DIR / "RESULTS.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming what the numbers were measured on, and when."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()} "
        f"({sys.implementation.name}), {platform.system()} {platform.release()}, {now}"
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text in a terminal)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


HEADER = """# imagegen benchmarks — results

Written by `python -m bench` (see README.md for what each measures and how to reproduce).
Each section is replaced when its benchmark runs again; the machine line says where and
when that section was measured.
"""


def write_section(name: str, body: str) -> None:
    """Replace (or add) the section `name` of RESULTS.md, keeping the others."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    order = ["coldstart", "submit", "worker", "memory"]
    sections = {
        m.group(1): m.group(0)
        for m in re.finditer(r"<!-- bench:(\w+) -->.*?<!-- /bench:\1 -->", text, re.S)
    }
    head = text.split("<!-- bench:", 1)[0].rstrip()
    ordered = [sections[k] for k in order if k in sections]
    ordered += [v for k, v in sections.items() if k not in order]
    RESULTS.write_text(head + "\n\n" + "\n\n".join(ordered) + "\n")


def emit(name: str, body: str, small: bool = False) -> None:
    """Print a benchmark's section and store it in RESULTS.md. A small run (`--small`: a
    few jobs each, to prove the benchmark still runs) only prints: its numbers are not
    results."""
    print(body, flush=True)
    if small:
        print(f"[bench] {name}: small run, RESULTS.md left as it is", flush=True)
        return
    write_section(name, body)
