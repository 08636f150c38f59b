"""Peak memory of the local stack's `submit` worker around one oversized chunked POST
(issue 31). Not part of `python -m bench`: it measures a running `devstack up` stack.

    source <ports>.env; .venv/bin/python -m devstack up
    .venv/bin/python -m bench.body_cap [submit port, default $DEVSTACK_SUBMIT_PORT] [MiB]

It resets the gunicorn worker's high-water mark (`/proc/<pid>/clear_refs`), sends a chunked
body of the given size (300 MiB) without Content-Length, reads the answer and prints the
worker's RSS before and its peak (VmHWM), how much was sent before the server answered, and
the answer's status line. Measured 2026-12-06 on 2 shared cores: main (c08d881) 39 -> 343
MiB, all 300 MiB read, then 413; now 39 -> 75 MiB, the 413 after about 40 MiB.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

MiB = 1024 * 1024


def submit_worker(port: int) -> int:
    """The pid of the gunicorn worker serving `submit` on `port` (the master's child)."""
    rows = subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True)
    table = [line.split(None, 2) for line in rows.stdout.splitlines()[1:]]
    masters = {
        pid
        for pid, _, args in table
        if "functions_framework" in args and "--target submit" in args and f"--port {port}" in args
    }
    workers = [pid for pid, parent, _ in table if parent in masters]
    if not (workers or masters):
        raise SystemExit(f"no submit function on port {port}: start the stack (devstack up)")
    return int((workers or sorted(masters))[0])


def status_mib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    raise KeyError(field)


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ["DEVSTACK_SUBMIT_PORT"])
    total = (int(sys.argv[2]) if len(sys.argv) > 2 else 300) * MiB
    pid = submit_worker(port)
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # reset the high-water mark
    before = status_mib(pid, "VmRSS")
    head = (
        "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "X-Imagegen-Caller: body-cap\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * MiB
    sent, started = 0, time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=600) as sock:
        sock.sendall(head.encode())
        try:
            while sent < total:
                sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    time.sleep(1)
    status_line = answer.split(b"\r\n")[0].decode("latin-1") or "(no answer)"
    print(
        f"submit worker {pid}: RSS before {before} MiB, peak {status_mib(pid, 'VmHWM')} MiB; "
        f"sent {sent // MiB} of {total // MiB} MiB in {time.monotonic() - started:.1f} s; "
        f"{status_line}"
    )


if __name__ == "__main__":
    main()
