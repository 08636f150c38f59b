"""Submit: latency and throughput of `POST /v1/jobs` served as production serves it
(functions-framework -> gunicorn, 1 worker, THREADS = the Cloud Run concurrency), against
the same HTTP stack doing only validation (bench/_validate_only.py), in the same run.

Clients are a thread pool of `requests.Session`s on loopback. Each level sends a bounded
number of requests (BENCH_SUBMIT_REQUESTS, default 400) with a time cap. Server CPU per
request is read from /proc for the server's process group, so the load generator's own CPU
use on this small machine is visible separately.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._common import BENCH_DIR, FUNCTIONS_DIR, emit, machine, ms, percentile, table, verdict
from bench._stack import (
    BASELINE_PORT,
    SUBMIT_PORT,
    BenchStack,
    group_cpu_seconds,
    local_stack,
    start_function,
    stop_function,
    wait_http,
)

LEVELS = [int(x) for x in os.environ.get("BENCH_SUBMIT_LEVELS", "1,8,32").split(",")]
REQUESTS = int(os.environ.get("BENCH_SUBMIT_REQUESTS", "400"))
LEVEL_CAP_S = float(os.environ.get("BENCH_SUBMIT_LEVEL_SECONDS", "30"))
# terraform/variables.tf: concurrency.submit defaults to 80 (max_instance_request_concurrency)
THREADS = int(os.environ.get("BENCH_SUBMIT_THREADS", "80"))
WARMUP = 30
# `--small`: a few requests at two levels, to prove the benchmark still runs
SMALL_LEVELS = [1, 4]
SMALL_REQUESTS = 8
SMALL_CAP_S = 10.0
TARGET_P50_S = 0.015
TARGET_RPS = 200.0

BODY = {
    "prompt": "a lighthouse on a cliff at dusk, watercolour",
    "model": "gemini-3.1-flash-image",
    "aspect_ratio": "16:9",
    "labels": {"team": "bench"},
}


class Load:
    """A pool of keep-alive sessions, one per client thread."""

    def __init__(self, url: str, clients: int) -> None:
        import requests

        self.url = url
        self._local = threading.local()
        self._sessions: list = []
        self._lock = threading.Lock()
        self._requests = requests
        self.pool = ThreadPoolExecutor(max_workers=clients)

    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def one(self, deadline: float) -> tuple[float, int] | None:
        if time.monotonic() > deadline:
            return None
        start = time.perf_counter()
        resp = self._session().post(self.url, json=BODY, timeout=30)
        elapsed = time.perf_counter() - start
        return elapsed, resp.status_code

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for session in self._sessions:
            session.close()


def run_level(
    url: str,
    clients: int,
    server_pgid: int,
    stack_pgids: list[int] | None = None,
    requests_n: int = REQUESTS,
    cap_s: float = LEVEL_CAP_S,
) -> dict[str, float]:
    load = Load(url, clients)
    try:
        # open every client's connection first, so the level measures steady state
        list(load.pool.map(lambda _: load.one(time.monotonic() + 60), range(clients * 2)))
        stack_pgids = stack_pgids or []
        stack0 = sum(group_cpu_seconds(p) for p in stack_pgids)
        cpu0, proc0 = group_cpu_seconds(server_pgid), time.process_time()
        start = time.perf_counter()
        deadline = time.monotonic() + cap_s
        results = [r for r in load.pool.map(lambda _: load.one(deadline), range(requests_n)) if r]
        wall = time.perf_counter() - start
        cpu1, proc1 = group_cpu_seconds(server_pgid), time.process_time()
        stack1 = sum(group_cpu_seconds(p) for p in stack_pgids)
    finally:
        load.close()
    lat = [r[0] for r in results]
    errors = sum(1 for r in results if r[1] not in (200, 202))
    return {
        "clients": clients,
        "n": len(results),
        "errors": errors,
        "p50": percentile(lat, 50),
        "p90": percentile(lat, 90),
        "p99": percentile(lat, 99),
        "rps": len(results) / wall if wall else 0.0,
        "server_cpu_ms": (cpu1 - cpu0) / max(1, len(results)) * 1000,
        "client_cpu_ms": (proc1 - proc0) / max(1, len(results)) * 1000,
        "stack_cpu_ms": (stack1 - stack0) / max(1, len(results)) * 1000,
    }


def measure_server(
    name: str,
    source: Path,
    target: str,
    port: int,
    env: dict[str, str],
    log: Path,
    stack_pgids: list[int],
    small: bool = False,
) -> tuple[list[dict[str, float]], float]:
    proc = start_function(source, target, port, env, log)
    try:
        url = f"http://127.0.0.1:{port}/v1/jobs"
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
        import requests

        start = time.perf_counter()
        first = requests.post(url, json=BODY, timeout=60)
        first_s = time.perf_counter() - start
        if first.status_code not in (200, 202):
            raise RuntimeError(f"{name}: first POST answered {first.status_code}: {first.text}")
        with ThreadPoolExecutor(4) as pool:
            warmup = SMALL_REQUESTS if small else WARMUP
            list(pool.map(lambda _: requests.post(url, json=BODY, timeout=60), range(warmup)))
        levels = [
            run_level(url, clients, proc.pid, stack_pgids, SMALL_REQUESTS, SMALL_CAP_S)
            if small
            else run_level(url, clients, proc.pid, stack_pgids)
            for clients in (SMALL_LEVELS if small else LEVELS)
        ]
        for level in levels:
            print(
                f"[bench] submit {name}: {level['clients']:>3} clients "
                f"p50 {ms(level['p50'])} ms p99 {ms(level['p99'])} ms "
                f"{level['rps']:.0f} req/s",
                flush=True,
            )
        return levels, first_s
    finally:
        stop_function(proc)


def _ratio(a: float, b: float, digits: int) -> str:
    """`a / b` as "1.5x"; a dash when the baseline measured nothing (a tiny run's CPU can
    stay under one clock tick)."""
    return f"{a / b:.{digits}f}x" if b else "—"


def server_env(stack: BenchStack) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(stack.env)
    env.update({"WORKERS": "1", "THREADS": str(THREADS), "PYTHONUNBUFFERED": "1"})
    return env


def run(stack: BenchStack | None = None, small: bool = False) -> dict[str, object]:
    if stack is None:
        with local_stack() as own:
            return run(own, small)
    env = server_env(stack)
    logs = stack.state_dir / "logs"
    # the Cloud Tasks stand-in takes each job's task since issue 27: its CPU is the emulators'
    emulators = [stack.pgids[n] for n in ("pubsub", "firestore", "tasks") if n in stack.pgids]
    submit, submit_first = measure_server(
        "submit",
        FUNCTIONS_DIR / "main.py",
        "submit",
        SUBMIT_PORT,
        env,
        logs / "bench-submit.log",
        emulators,
        small,
    )
    base, base_first = measure_server(
        "validate-only",
        BENCH_DIR / "_validate_only.py",
        "validate",
        BASELINE_PORT,
        env,
        logs / "bench-validate.log",
        emulators,
        small,
    )
    rows = []
    for s, b in zip(submit, base, strict=True):
        for name, r in (("submit", s), ("baseline: validate only", b)):
            rows.append(
                [
                    name,
                    r["clients"],
                    r["n"],
                    r["errors"],
                    ms(r["p50"]),
                    ms(r["p90"]),
                    ms(r["p99"]),
                    f"{r['rps']:.0f}",
                    f"{r['server_cpu_ms']:.2f}",
                    f"{r['client_cpu_ms']:.2f}",
                    f"{r['stack_cpu_ms']:.2f}",
                ]
            )
        rows.append(
            [
                "ratio submit / baseline",
                s["clients"],
                "",
                "",
                _ratio(s["p50"], b["p50"], 1),
                "",
                _ratio(s["p99"], b["p99"], 1),
                _ratio(s["rps"], b["rps"], 2),
                _ratio(s["server_cpu_ms"], b["server_cpu_ms"], 1),
                "",
                "",
            ]
        )
    best_rps = max(r["rps"] for r in submit)
    single = submit[0]
    checks = [
        [
            "p50 at 1 client ≤ 15 ms",
            f"{ms(single['p50'])} ms",
            verdict(single["p50"] <= TARGET_P50_S),
        ],
        ["≥ 200 requests/s (best level)", f"{best_rps:.0f} req/s", verdict(best_rps >= TARGET_RPS)],
    ]
    body = [
        "## Submit (`POST /v1/jobs`)",
        "",
        f"Machine: {machine()}.",
        f"Served by `python -m functions_framework` (gunicorn gthread), WORKERS=1,"
        f" THREADS={THREADS} (terraform concurrency.submit); local emulators; each job a task in"
        f" a paused queue of the Cloud Tasks stand-in (a Python server: in the cloud a network"
        f" call). {REQUESTS} requests per level (cap {LEVEL_CAP_S:.0f} s),"
        " after each client opened its connection. Server CPU = CPU of the gunicorn process"
        " group per request; client CPU = the load generator's; emulators CPU = the Pub/Sub and"
        " Firestore emulators' and the Cloud Tasks stand-in's (all on the same machine).",
        "",
        table(
            [
                "server",
                "clients",
                "requests",
                "errors",
                "p50 ms",
                "p90 ms",
                "p99 ms",
                "req/s",
                "server CPU ms/req",
                "client CPU ms/req",
                "emulators CPU ms/req",
            ],
            rows,
        ),
        "",
        f"First request after start (builds the Firestore and Pub/Sub clients): submit"
        f" {ms(submit_first)} ms, baseline {ms(base_first)} ms.",
        "",
        table(["target", "measured", "verdict"], checks),
    ]
    emit("submit", "\n".join(body), small)
    return {"submit": submit, "baseline": base, "first_s": submit_first}


if __name__ == "__main__":
    run()
