"""`python -m bench` runs every benchmark; `python -m bench coldstart|submit|worker|memory`
runs the ones named. The cold start runs before the local stack starts (so the emulators do
not compete with it); the others share one stack, started here and always stopped."""

from __future__ import annotations

import sys
import time

from bench import batch, coldstart, memory, quota, results, submit, worker, writes
from bench._common import RESULTS, machine
from bench._stack import local_stack

STACK_BENCHES = {
    "submit": submit.run,
    "worker": worker.run,
    "memory": memory.run,
    "results": results.run,  # issue 16: events, signed URLs, webhooks
    "quota": quota.run,  # issue 18: the shared Vertex limiter
    "writes": writes.run,  # issue 18: sharded counters
    "batch": batch.run,  # issue 29: splitting a batch output into items
}
ALL = ["coldstart", *STACK_BENCHES]


def main(argv: list[str]) -> int:
    names = argv or ALL
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    print(f"[bench] {machine()}", flush=True)
    if "coldstart" in names:
        coldstart.run()
    wanted = [n for n in names if n in STACK_BENCHES]
    if wanted:
        with local_stack() as stack:
            for name in wanted:
                STACK_BENCHES[name](stack)
    print(f"[bench] done in {time.monotonic() - started:.0f} s; results in {RESULTS}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
