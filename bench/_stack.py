"""The benchmarks' own local stack: emulators and the Vertex stand-in on ports around 28600
and a private state dir, so it never meets another stack on this machine. No functions and
no relay: each benchmark serves or calls what it measures itself.

Every port can be moved with an environment variable (`BENCH_PUBSUB_PORT`,
`BENCH_FIRESTORE_PORT`, `BENCH_STORAGE_PORT`, `BENCH_VERTEX_PORT`, `BENCH_TASKS_PORT`, and
the servers the benchmarks start themselves: `BENCH_SUBMIT_PORT`, `BENCH_BASELINE_PORT`,
`BENCH_NOISY_PORT`, `BENCH_GENERATE_PORT`),
so benchmarks run beside other stacks. `BENCH_STACK=running` uses the stack the environment
already points at (the emulators and stand-in of `make up` or of the test session, by the
same `DEVSTACK_*` variables) instead of starting one: the small run in `make test` shares
the session's stack.

Jobs go to a paused Cloud Tasks queue of the stand-in (`bench-sink`), so nothing runs them
behind the benchmark's back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench._common import ROOT


def _port(name: str, default: int) -> int:
    """A benchmark port: `BENCH_<name>_PORT` from the environment, else the default."""
    return int(os.environ.get(f"BENCH_{name}_PORT") or default)


# the bench stack's components (devstack reads its ports from these DEVSTACK_* names); the
# function ports are never bound (no functions run here) but are kept off the defaults of
# `make up` all the same
PORT_ENV = {
    "DEVSTACK_PUBSUB_PORT": str(_port("PUBSUB", 28685)),
    "DEVSTACK_FIRESTORE_PORT": str(_port("FIRESTORE", 28686)),
    "DEVSTACK_STORAGE_PORT": str(_port("STORAGE", 29023)),
    "DEVSTACK_VERTEX_PORT": str(_port("VERTEX", 28690)),
    "DEVSTACK_TASKS_PORT": str(_port("TASKS", 28694)),
    "DEVSTACK_SUBMIT_PORT": "28681",
    "DEVSTACK_GENERATE_PORT": "28682",
    "DEVSTACK_ON_UPLOAD_PORT": "28683",
    "DEVSTACK_DEAD_LETTER_PORT": "28684",
}
# ports of the servers benchmarks start themselves: submit's functions-framework servers and
# the memory benchmark's incompressible stand-in
SUBMIT_PORT = _port("SUBMIT", 28691)
BASELINE_PORT = _port("BASELINE", 28692)
NOISY_PORT = _port("NOISY", 28693)
GENERATE_PORT = _port("GENERATE", 28695)  # the quota bench's generate, fed by Cloud Tasks
SINK_QUEUE = "bench-sink"
COMPONENTS = "pubsub,firestore,storage,vertex,tasks"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class BenchStack:
    env: dict[str, str]  # what a function process needs (emulator hosts, buckets, topic)
    state_dir: Path
    pgids: dict[str, int] = field(default_factory=dict)  # component -> process group

    def apply(self) -> None:
        """Point this process's clients at the stack (in-process benchmarks)."""
        os.environ.update(self.env)


def _create_topic(host: str, project: str, topic: str) -> None:
    req = urllib.request.Request(
        f"http://{host}/v1/projects/{project}/topics/{topic}",
        method="PUT",
        data=b"{}",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10):  # noqa: S310
            pass
    except urllib.error.HTTPError as err:
        if err.code != 409:
            raise


def _sink(env: dict[str, str]) -> None:
    """Send the jobs to the paused `bench-sink` queue of the tasks stand-in."""
    from devstack import emulators

    emulators.setup_tasks(
        endpoint=env["IMAGEGEN_TASKS_ENDPOINT"],
        project=env["GOOGLE_CLOUD_PROJECT"],
        location=env["IMAGEGEN_TASKS_LOCATION"],
        queues={SINK_QUEUE: 1.0},
        target=env["IMAGEGEN_TASKS_TARGET_URL"],
        concurrency=1,
        min_backoff=1.0,
        max_backoff=10.0,
        paused=True,
    )
    env["IMAGEGEN_TASKS_QUEUE"] = SINK_QUEUE


@contextlib.contextmanager
def local_stack() -> Iterator[BenchStack]:
    """Start the stack, yield its environment, always stop it (also on error/SIGTERM).
    With `BENCH_STACK=running`, the stack the environment points at (never stopped here)."""
    from devstack.stack import Stack, StackConfig

    if os.environ.get("BENCH_STACK") == "running":
        yield _running_stack()
        return

    state_dir = Path(tempfile.mkdtemp(prefix="imagegen-bench-"))
    environ = dict(os.environ)
    environ.update(PORT_ENV)
    environ["DEVSTACK_STATE_DIR"] = str(state_dir)
    environ["DEVSTACK_COMPONENTS"] = COMPONENTS
    stack = Stack(StackConfig.from_env(root=ROOT, environ=environ))

    def on_term(signum, frame):  # make `finally` run on SIGTERM too
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        stack.up()
        env = stack.env()
        env["LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "INFO")
        _sink(env)
        print(f"[bench] stack up in {time.monotonic() - started:.1f} s ({state_dir})", flush=True)
        components = stack.load_state().get("components", {})
        pgids = {name: int(c.get("pgid") or c["pid"]) for name, c in components.items()}
        yield BenchStack(env, state_dir, pgids)
    finally:
        try:
            stack.down(force=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
            if not os.environ.get("BENCH_KEEP_STATE"):
                shutil.rmtree(state_dir, ignore_errors=True)


def _running_stack() -> BenchStack:
    """The stack `DEVSTACK_*` in the environment describes, already up (not started or
    stopped here); its emulators' process groups from its state file, for CPU accounting."""
    from devstack.stack import Stack, StackConfig

    stack = Stack(StackConfig.from_env(root=ROOT))
    env = stack.env()
    env["LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "WARNING")
    _sink(env)
    components = stack.load_state().get("components", {})
    pgids = {name: int(c.get("pgid") or c["pid"]) for name, c in components.items()}
    state_dir = Path(tempfile.mkdtemp(prefix="imagegen-bench-"))
    print(f"[bench] using the running stack ({stack.state_dir}); logs in {state_dir}", flush=True)
    return BenchStack(env, state_dir, pgids)


def start_function(
    source: Path,
    target: str,
    port: int,
    env: dict[str, str],
    log: Path,
    signature: str = "http",
) -> subprocess.Popen:
    """`python -m functions_framework` (gunicorn, as deployed) in its own process group."""
    import sys

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "functions_framework",
                "--source",
                str(source),
                "--target",
                target,
                "--signature-type",
                signature,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=source.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc


def stop_function(proc: subprocess.Popen) -> None:
    """Stop a server this module started (its own process group, by pid)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def group_cpu_seconds(pgid: int) -> float:
    """user+system CPU of every live process in a process group (from /proc)."""
    from devstack.stack import proc_stats

    total = sum(int(rest[11]) + int(rest[12]) for _, rest in proc_stats() if int(rest[2]) == pgid)
    return total / TICKS


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback)
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
