"""`python -m bench` runs every benchmark; `python -m bench coldstart|submit|worker|memory|...`
runs the ones named. The cold start runs before the local stack starts (so the emulators do
not compete with it); the others share one stack, started here and always stopped.

`python -m bench --small [names]` runs each benchmark in a small mode (a few jobs each,
seconds) and writes nothing to RESULTS.md: `make test` runs it (tests/bench), so a refactor
that breaks a benchmark fails the build instead of rotting until the next full run."""

from __future__ import annotations

import sys
import time

from bench import batch, coldstart, memory, native, quota, results, submit, worker, writes
from bench._common import RESULTS, machine
from bench._stack import local_stack

STACK_BENCHES = {
    "submit": submit.run,
    "worker": worker.run,
    "memory": memory.run,
    "results": results.run,  # issue 16: events, signed URLs, webhooks
    "quota": quota.run,  # issue 18: the shared Vertex limiter; issue 27: pacing mechanisms
    "writes": writes.run,  # issue 18: sharded counters
    "batch": batch.run,  # issue 29: splitting a batch output into items
}
ALL = ["coldstart", *STACK_BENCHES, "native"]
SMALL_FLAG = "--small"


def main(argv: list[str]) -> int:
    small = SMALL_FLAG in argv
    names = [a for a in argv if a != SMALL_FLAG] or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(
            f"unknown benchmark(s) {unknown}; choose from {', '.join(ALL)}"
            f" (and {SMALL_FLAG} for a quick run that writes nothing)",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    print(f"[bench] {machine()}{' (small run)' if small else ''}", flush=True)
    if "coldstart" in names:
        coldstart.run(small)
    if "native" in names:  # issue 28: the whole stack, its own (before the shared one)
        native.run(small)
    wanted = [n for n in names if n in STACK_BENCHES]
    if wanted:
        with local_stack() as stack:
            for name in wanted:
                STACK_BENCHES[name](stack, small)
                print(f"[bench] {name} done", flush=True)
    where = "nothing written (small run)" if small else f"results in {RESULTS}"
    print(f"[bench] done in {time.monotonic() - started:.0f} s; {where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
