"""`make test`: the whole pytest suite in two parts that run side by side.

CI has two cores and a time limit. The tests that share the local stack spend most of their
time waiting on it (emulators, the Vertex stand-in, Pub/Sub push retries, leases running
out), while `tests/terraform` (terraform validate and replan, checkov) and `tests/unit` need
no stack and mostly compute. Running the second group beside the first uses the idle core.
tests/conftest.py splits the collected tests by IMAGEGEN_TEST_PART into exact complements,
so the two parts together are the whole suite; a test that uses the stack, however
indirectly, always runs in the stack's part (one stack, started once).

The stack's part streams its output; the other part's is printed when both are done. The
exit status is non-zero when either part fails.

    python scripts/test_parts.py [pytest args...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def main(args: list[str]) -> int:
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", *args]
    with tempfile.TemporaryFile(mode="w+") as beside_log:
        beside = subprocess.Popen(
            command,
            env={**os.environ, "IMAGEGEN_TEST_PART": "beside"},
            stdout=beside_log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            stack = subprocess.run(command, env={**os.environ, "IMAGEGEN_TEST_PART": "stack"})
        finally:
            beside_code = beside.wait()
        beside_log.seek(0)
        print("\n===== the tests beside the stack (tests/unit, tests/terraform) =====", flush=True)
        sys.stdout.write(beside_log.read())
    took = time.monotonic() - started
    print(
        f"\n===== make test: stack part exit {stack.returncode}, beside part exit "
        f"{beside_code}, {took:.0f} s in all =====",
        flush=True,
    )
    return stack.returncode or beside_code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
