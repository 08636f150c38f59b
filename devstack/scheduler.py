"""Local stand-in for Cloud Scheduler calling the `sweep` function (terraform/scheduler.tf):
every DEVSTACK_SWEEP_SECONDS the sweep runs with the functions' own settings, so jobs nobody
works on are re-queued and batches (issue 29) follow their Vertex batch jobs, as deployed.

It runs the sweep's own code (`imagegen.services.upkeep.sweep`, what `main.sweep` calls) in
this process instead of POSTing to a served function: one process and no port of its own,
so local stacks of several people side by side need no new port setting. `python -m
devstack up` starts it (every 5 s unless DEVSTACK_SWEEP_SECONDS says otherwise; 0 = off);
the test suites leave it off and run the sweep themselves when a test needs it.

Run: python -m devstack.scheduler --every 5   (cwd functions/, the functions' environment)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Any


def log(**fields: Any) -> None:
    sys.stdout.write(json.dumps({"ts": round(time.time(), 3), **fields}, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.scheduler")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between sweeps")
    args = parser.parse_args(argv)
    from imagegen.bootstrap import Services
    from imagegen.services.upkeep import sweep

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    services = Services()
    log(message="scheduler started", every=args.every)
    while not stop.is_set():
        try:
            counts = sweep(services)
            if any(value for key, value in counts.items() if key != "batches_followed"):
                log(message="sweep", **counts)
        except Exception as exc:  # as Cloud Scheduler would: log, and call again next time
            log(message="sweep failed", error=f"{type(exc).__name__}: {exc}")
        stop.wait(args.every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
