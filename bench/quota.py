"""Quota: how jobs wait for their turn at Vertex AI (issue 18's shared limiter; issue 27's
choice of mechanism).

Two parts, both printed in one section:

1. The mechanisms at the issue's scale, in virtual time (bench/_pacing_model.py): 2,000
   one-image jobs at a 60/min quota on one location, arriving at 1x and 3x the quota's rate
   (Poisson), with Pub/Sub's real 10 s -> 600 s backoff, 5 deliveries before the dead
   letter, generate's 540 s timeout and a capacity of 40 concurrent requests; then the
   shared pool shrinking to 60 % for 15 minutes, and a per-day quota spent mid-run.
   Mechanisms: today's hand-back (the baseline), waiting in the invocation (up to 300 s),
   a Cloud Tasks queue at the limiter's rate between submit and generate, Pub/Sub ordering
   keys (at their most favourable); with and without reading Vertex's quota hints.

2. The code on the real stack, measured, both mechanisms in the same run, jobs arriving at
   1x and 3x the quota's rate: against the Vertex stand-in enforcing a Vertex-like quota
   (RPM accepted calls per model and location in a sliding window; beyond it 429
   RESOURCE_EXHAUSTED with no retry hint), the limiter's slots in the Firestore emulator.
   - the hand-back of before issue 27 (the baseline): `services.worker.generate` run by
     concurrent worker threads fed by Pub/Sub push modelled as a delay queue with the
     subscription's backoff scaled by the run's ideal time / the issue's (2,000 s), dead
     letters through `upkeep.dead_letter` (a paced job's is left queued), a paced
     delivery (429) handed back as Pub/Sub would;
   - Cloud Tasks (issue 27, as built): `generate` served by functions-framework (its
     threads the instances), its tasks dispatched by the Cloud Tasks stand-in from a queue
     at the limiter's rate and the workers' concurrency, with the queue's backoff scaled
     the same way; `submit`'s path creates the tasks.
   Next to them, the model of the baseline's run, so the model can be checked against it;
   and a per-day quota spent on the real stack, Cloud Tasks with the hints.
"""

from __future__ import annotations

import collections
import heapq
import json
import math
import os
import threading
import time
import urllib.request
import uuid

from bench._common import ROOT, emit, machine, percentile, table, verdict
from bench._pacing_model import Mechanism, Platform, run_model
from bench._stack import (
    GENERATE_PORT,
    SINK_QUEUE,
    BenchStack,
    local_stack,
    start_function,
    stop_function,
    wait_http,
)

JOBS = int(os.environ.get("BENCH_QUOTA_JOBS", "600"))
RPM = int(os.environ.get("BENCH_QUOTA_RPM", "120"))
WORKERS = int(os.environ.get("BENCH_QUOTA_WORKERS", "12"))
# the stand-in's sliding window: RPM/60 x WINDOW calls per WINDOW s (the same rate as RPM a
# minute, with a burst allowance of one short window instead of a whole minute's quota)
WINDOW = float(os.environ.get("BENCH_QUOTA_WINDOW", "30"))
MODEL = "gemini-3-pro-image"
LOCATIONS = ["global", "us-central1", "us-east1"]
MAX_DELIVERIES = 5  # terraform max_delivery_attempts default
ISSUE_IDEAL_S = 2000 / (60 / 60)  # 2,000 jobs at 60/min on one location
BODY = {"prompt": "a lighthouse at dusk, flat illustration", "model": MODEL, "image_size": "1K"}
# the model at the issue's scale
MODEL_JOBS, SMALL_MODEL_JOBS = 2000, 120
SMALL_JOBS = 9  # `--small`: the real-stack run, a few jobs
DAY_JOBS, DAY_LIMIT = 60, 10  # the real-stack per-day run: 10 calls a route, then spent
SMALL_DAY_JOBS, SMALL_DAY_LIMIT = 6, 1
ISSUE = Platform()  # 60/min, one location, Terraform's and Pub/Sub's defaults
HELD = Platform(refuse_when_full=False)  # the same, if Pub/Sub held pushes until there is room
DIP = Platform(dip=(600.0, 1500.0, 0.6))  # the shared pool at 60 % for 15 minutes
DAY_AFTER_DEADLINE = Platform(day_quota=1200, day_reset=6 * 3600.0)
DAY_BEFORE_DEADLINE = Platform(day_quota=1200, day_reset=1500.0)
MECHANISMS = [
    Mechanism("hand-back (today)"),
    Mechanism("wait in the invocation, <= 300 s", wait=300.0),
    Mechanism("Cloud Tasks queue at the limiter's rate", kind="tasks"),
    Mechanism("Cloud Tasks, tasks in random order", kind="tasks", order="random"),
    Mechanism("Pub/Sub ordering keys (30), at best", kind="keys", keys=30, wait=300.0),
]
QUOTA_POLICIES = [
    Mechanism("hand-back (today: a day's 429 is retried)"),
    Mechanism("hand-back + quota hints", hints=True),
    Mechanism("Cloud Tasks + quota hints", kind="tasks", hints=True),
]
TARGETS = {
    "efficiency": (lambda r: r["efficiency"] >= 0.9, "efficiency ≥ 0.9"),
    "share_429": (lambda r: r["share_429"] <= 0.02, "429s ≤ 2 %"),
    "deliveries": (lambda r: r["deliveries_per_job"] <= 1.2, "deliveries/job ≤ 1.2"),
    "paced": (lambda r: r["paced_dead_letters"] == 0, "paced dead letters 0"),
}


def _standin(stack: BenchStack, payload: dict | None = None) -> dict:
    base = stack.env["IMAGEGEN_VERTEX_ENDPOINT"].rstrip("/")
    if not base.startswith("http"):
        base = "http://" + base
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(  # noqa: S310 (http://127.0.0.1 only)
        f"{base}/_standin/quota",
        data=data,
        method="POST" if data else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (the stand-in)
        return json.loads(resp.read())


class PushModel:
    """Pub/Sub push as the worker sees it: a message is delivered to a free instance when
    due; a failed delivery comes back after min(max, min * 2**(n-1)) s; after MAX_DELIVERIES
    it is dead-lettered."""

    def __init__(self, min_backoff: float, max_backoff: float) -> None:
        self.heap: list[tuple[float, int, str, int]] = []
        self.lock = threading.Condition()
        self.seq = 0
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.deliveries = 0

    def put(self, job_id: str, nacks: int = 0) -> None:
        delay = 0.0
        if nacks:
            delay = min(self.max_backoff, self.min_backoff * 2 ** (nacks - 1))
        with self.lock:
            self.seq += 1
            heapq.heappush(self.heap, (time.monotonic() + delay, self.seq, job_id, nacks))
            self.lock.notify()

    def take(self, stop: threading.Event) -> tuple[str, int] | None:
        with self.lock:
            while not stop.is_set():
                if self.heap and self.heap[0][0] <= time.monotonic():
                    _, _, job_id, nacks = heapq.heappop(self.heap)
                    self.deliveries += 1
                    return job_id, nacks
                wait = self.heap[0][0] - time.monotonic() if self.heap else 0.2
                self.lock.wait(max(0.005, min(wait, 0.2)))
        return None


class PushQueue:
    """The `JobQueue` port as the Pub/Sub path of before issue 27 behaved: a job queued is a
    message of the push model (a task name is just the job id; nothing is ever waiting
    for the sweeper's question)."""

    def __init__(self, push: PushModel) -> None:
        self.push = push

    def task_name(self, job_id: str, model: str, *, fresh: bool = False) -> str:
        return job_id

    def enqueue(self, task: str, job_id: str, *, not_before=None, timeout=None) -> str:
        self.push.put(job_id)
        return task

    def waiting(self, task: str) -> bool:
        return False


def _settings(limiter_on: bool, scale: float, **more):
    """The run's settings: Terraform's timings, the quota's locations, the limiter."""
    from imagegen.config import load_settings

    return load_settings().model_copy(
        update=dict(
            {"tasks_queue": SINK_QUEUE},
            default_location="global",
            fallback_locations=LOCATIONS[1:],
            vertex_requests_per_minute=RPM if limiter_on else 0,
            limiter_collection=f"bench-slots-{uuid.uuid4().hex[:8]}",
            limiter_max_wait_seconds=5.0 * scale,
            max_attempts=MAX_DELIVERIES,
            lease_seconds=600.0,  # Terraform's (a test session's stack sets seconds)
            call_budget_seconds=480.0,
        )
        | more
    )


def _submit_all(services, jobs: int, arrival: float, body: dict | None = None) -> list[str]:
    """`jobs` submitted in this thread, `arrival` x the quota's rate apart (inf: at once)."""
    from imagegen.services import submission

    gap = 0.0 if math.isinf(arrival) else 1.0 / (arrival * len(LOCATIONS) * RPM / 60)
    start, ids = time.monotonic(), []
    for n in range(jobs):
        pause = start + n * gap - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        ids.append(submission.submit(services, dict(body or BODY)).job.id)
    return ids


def simulate(
    stack: BenchStack, limiter_on: bool, jobs: int, arrival: float = math.inf
) -> dict[str, float]:
    """The hand-back of before issue 27 on the real stack: `jobs` submitted at `arrival` x
    the quota's rate, run by WORKERS threads fed by the Pub/Sub push model."""
    from imagegen.bootstrap import Services
    from imagegen.services import upkeep
    from imagegen.services.worker import RetryLater, generate

    ideal = jobs / (len(LOCATIONS) * RPM / 60)
    scale = ideal / ISSUE_IDEAL_S
    push = PushModel(10 * scale, 600 * scale)
    settings = _settings(limiter_on, scale)
    services = Services(settings)
    # submit's message and a paced one handed back are each one message (issue 18's run
    # also queued every job a second time, so its deliveries counted one duplicate a job)
    services.queue = PushQueue(push)
    _standin(stack, {"limit": round(RPM * WINDOW / 60), "window": WINDOW})
    ids: list[str] = []
    submitter = threading.Thread(
        target=lambda: ids.extend(_submit_all(services, jobs, arrival)), daemon=True
    )
    done: dict[str, str] = {}
    dead_letters, paced = [0], [0]
    stop = threading.Event()
    lock = threading.Lock()

    def instance() -> None:
        while not stop.is_set():
            got = push.take(stop)
            if got is None:
                return
            job_id, nacks = got
            try:
                outcome = generate(services, job_id)
            except RetryLater:
                if nacks + 1 >= MAX_DELIVERIES:
                    republished = upkeep.dead_letter(services, job_id, nacks + 1) is False
                    with lock:
                        dead_letters[0] += 1
                        paced[0] += republished
                    if republished:  # before issue 27, dead_letter re-published it
                        push.put(job_id)
                else:
                    push.put(job_id, nacks + 1)
                continue
            except Exception as exc:  # a fault: Pub/Sub would redeliver
                print(f"[quota] {job_id}: {type(exc).__name__}: {exc}", flush=True)
                push.put(job_id, nacks + 1)
                continue
            with lock:
                done[job_id] = outcome
                if len(done) == jobs:
                    stop.set()

    started = time.monotonic()
    submitter.start()
    threads = [threading.Thread(target=instance, daemon=True) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    try:
        stop.wait(timeout=max(240.0, ideal * 3 + (0 if math.isinf(arrival) else ideal / arrival)))
        submitter.join(timeout=60)
        actual = time.monotonic() - started
        stop.set()
        for t in threads:
            t.join(timeout=60)
        counts = _standin(stack)["counts"]
    finally:
        _standin(stack, {"limit": 0, "window": 60})
    finished = [services.jobs.get(j) for j in ids]
    stats = {"dispatched": push.deliveries, "exhausted": paced[0]}
    result = _measured(jobs, ideal, actual, counts, finished, stats, scale)
    result.update(
        dead_letters=dead_letters[0],
        min_backoff=push.min_backoff,
        max_wait=settings.limiter_max_wait_seconds,
        peak_concurrency="—",
    )
    return result


def simulate_tasks(stack: BenchStack, jobs: int, arrival: float) -> dict[str, float]:
    """Cloud Tasks as built (issue 27) on the real stack: `generate` under
    functions-framework with WORKERS threads, fed by a queue of the tasks stand-in at the
    limiter's rate (the quota's, x 0.95) and WORKERS at once; `jobs` submitted at
    `arrival` x the quota's rate."""
    from imagegen.bootstrap import Services

    ideal = jobs / (len(LOCATIONS) * RPM / 60)
    scale = ideal / ISSUE_IDEAL_S
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings = _settings(True, scale, tasks_queue=queue)
    proc, url = _generate(stack, settings)
    try:
        _queue(stack, queue, len(LOCATIONS) * RPM / 60 * 0.95, url, scale)
        _standin(stack, {"limit": round(RPM * WINDOW / 60), "window": WINDOW})
        services = Services(settings)
        started = time.monotonic()
        ids = _submit_all(services, jobs, arrival)
        finished = _wait_terminal(services, ids, max(240.0, ideal * 3))
        actual = time.monotonic() - started
        counts = _standin(stack)["counts"]
        stats = _tasks_stats(stack, queue)
    finally:
        stop_function(proc)
        _standin(stack, {"limit": 0, "window": 60})
    return _measured(jobs, ideal, actual, counts, finished, stats, scale)


def simulate_day(stack: BenchStack, jobs: int, day_limit: int) -> dict[str, object]:
    """A per-day quota spent on the real stack, Cloud Tasks with the hints: the stand-in
    accepts `day_limit` calls a route, then answers the per-day 429 (QuotaFailure,
    RetryInfo) until its day ends; Terraform's job deadline (1 h)."""
    from imagegen.bootstrap import Services

    queue = f"bench-day-{uuid.uuid4().hex[:8]}"
    settings = _settings(True, 1.0, tasks_queue=queue, job_deadline_seconds=3600.0)
    proc, url = _generate(stack, settings)
    try:
        _queue(stack, queue, len(LOCATIONS) * RPM / 60 * 0.95, url, 0.05)
        _standin(stack, {"limit": 0, "window": 60, "day_limit": day_limit, "day_seconds": 86400})
        services = Services(settings)
        ids = _submit_all(services, jobs, math.inf)
        done = _wait_settled(services, ids, 180.0)
        counts = _standin(stack)["counts"]
        stats = _tasks_stats(stack, queue)
    finally:
        stop_function(proc)
        _standin(stack, {"limit": 0, "window": 60, "day_limit": 0})
    outcomes = collections.Counter(
        "parked until the reset"
        if j.state == "queued" and j.parked_until
        else f"{j.state}" + (f" {j.error.code}" if j.error and j.state == "failed" else "")
        for j in done
    )
    resets = {j.error.resets_at for j in done if j.error and j.error.resets_at}
    resets |= {j.parked_until for j in done if j.parked_until}
    day_429 = sum(c.get("429_day", 0) for c in counts.values())
    return {
        "jobs": jobs,
        "day_limit": day_limit,
        "calls_ok": sum(c.get("ok", 0) for c in counts.values()),
        "calls_into_spent": day_429,
        "deliveries_per_job": stats.get("dispatched", 0) / jobs,
        "outcomes": dict(outcomes),
        "resets": sorted(r.isoformat(timespec="seconds") for r in resets),
    }


def _generate(stack: BenchStack, settings) -> tuple[object, str]:
    """generate under functions-framework, WORKERS threads, with the run's settings."""
    from imagegen.config import env_name

    env = {**os.environ, **stack.env, "WORKERS": "1", "THREADS": str(WORKERS)}
    for name in (
        "tasks_queue",
        "default_location",
        "vertex_requests_per_minute",
        "limiter_collection",
        "limiter_max_wait_seconds",
        "max_attempts",
        "lease_seconds",
        "call_budget_seconds",
        "job_deadline_seconds",
    ):
        env[env_name(name)] = str(getattr(settings, name))
    env["IMAGEGEN_FALLBACK_LOCATIONS"] = ",".join(settings.fallback_locations)
    env["IMAGEGEN_TRACE_EXPORTER"] = "none"
    env["PYTHONPATH"] = str(ROOT / "functions")
    log = stack.state_dir / "logs" / "quota-generate.log"
    proc = start_function(ROOT / "functions" / "main.py", "generate", GENERATE_PORT, env, log)
    url = f"http://127.0.0.1:{GENERATE_PORT}/"
    wait_http(url, timeout=60, proc=proc)
    return proc, url


def _queue(stack: BenchStack, name: str, rate: float, url: str, scale: float) -> None:
    from devstack import emulators

    env = stack.env
    emulators.setup_tasks(
        endpoint=env["IMAGEGEN_TASKS_ENDPOINT"],
        project=env["GOOGLE_CLOUD_PROJECT"],
        location=env["IMAGEGEN_TASKS_LOCATION"],
        queues={name: rate},
        target=url,
        concurrency=WORKERS,
        min_backoff=max(0.1, 10 * scale),  # terraform/tasks.tf's 10 s -> 600 s, scaled
        max_backoff=max(0.2, 600 * scale),
    )


def _tasks_stats(stack: BenchStack, queue: str) -> dict:
    env = stack.env
    with urllib.request.urlopen(  # noqa: S310 (the tasks stand-in, 127.0.0.1)
        f"{env['IMAGEGEN_TASKS_ENDPOINT']}/_standin/stats", timeout=10
    ) as resp:
        queues = json.loads(resp.read())["queues"]
    path = (
        f"projects/{env['GOOGLE_CLOUD_PROJECT']}/locations/{env['IMAGEGEN_TASKS_LOCATION']}"
        f"/queues/{queue}"
    )
    return queues.get(path, {})


def _wait_terminal(services, ids: list[str], timeout: float) -> list:
    end = time.monotonic() + timeout
    while True:
        jobs = [services.jobs.get(j) for j in ids]
        if all(j is not None and j.terminal for j in jobs) or time.monotonic() > end:
            return jobs
        time.sleep(0.5)


def _wait_settled(services, ids: list[str], timeout: float) -> list:
    """Until every job is terminal or parked (a spent day's jobs wait for the reset)."""
    end = time.monotonic() + timeout
    while True:
        jobs = [services.jobs.get(j) for j in ids]
        settled = [j is not None and (j.terminal or bool(j.parked_until)) for j in jobs]
        if all(settled) or time.monotonic() > end:
            return jobs
        time.sleep(0.5)


def _measured(jobs, ideal, actual, counts, finished, stats, scale) -> dict[str, float]:
    ok = sum(counts.get(f"{MODEL}|{loc}", {}).get("ok", 0) for loc in LOCATIONS)
    refused = sum(counts.get(f"{MODEL}|{loc}", {}).get("429", 0) for loc in LOCATIONS)
    states = [getattr(job, "state", None) for job in finished]
    waits = [
        (job.started_at - job.created_at).total_seconds()
        for job in finished
        if job is not None and job.state == "succeeded" and job.started_at and job.created_at
    ]
    dispatched = stats.get("dispatched", 0)
    queue = {k: v for k, v in stats.items() if k != "per_task"}
    print(f"[quota] states {collections.Counter(states)}; queue {queue}", flush=True)
    return {
        "jobs": jobs,
        "ideal_s": ideal,
        "actual_s": actual,
        "efficiency": ideal / actual,
        "calls": ok + refused,
        "calls_429": refused,
        "share_429": refused / max(1, ok + refused),
        "succeeded": states.count("succeeded"),
        "failed": sum(1 for s in states if s in ("failed", "blocked", "cancelled")),
        "lost": sum(1 for s in states if s not in ("succeeded", "failed", "blocked", "cancelled")),
        "deliveries_per_job": dispatched / jobs,
        "invocations_per_job": dispatched / jobs,
        # Cloud Tasks has no dead letters: the tasks it gave up (the push model: the paced
        # dead letters, which dead_letter re-published before issue 27)
        "dead_letters": stats.get("exhausted", 0),
        "paced_dead_letters": stats.get("exhausted", 0),
        "dispatches_429": stats.get("status_429", 0),
        "wait_p50_s": percentile(waits, 50),
        "wait_p99_s": percentile(waits, 99),
        "per_location": {loc: counts.get(f"{MODEL}|{loc}", {}) for loc in LOCATIONS},
        "peak_concurrency": stats.get("max_in_flight", 0),
        "scale": scale,
    }


def same_run_modelled(
    jobs: int, scale: float, limiter_on: bool, arrival: float = math.inf
) -> dict[str, float]:
    """The model of the real-stack run (its quota window, locations, workers, scaled backoff
    and wait; stand-in calls take ~0.1 s), to check the model's baseline against it."""
    platform = Platform(
        rpm=RPM,
        window=WINDOW,
        locations=len(LOCATIONS),
        call_seconds=(0.05, 0.15),
        refused_seconds=0.02,
        min_backoff=10 * scale,
        max_backoff=600 * scale,
        capacity=WORKERS,
        refuse_when_full=False,  # the run's push model waits for a free worker
        # the run made about 73 deliveries a second on 12 workers (~0.16 s each, calls
        # included): a hand-back costs about 0.12 s here
        overhead_seconds=0.12,
        headroom=0.95 if limiter_on else 1e6,  # off: slots never run out
    )
    mech = Mechanism("hand-back (today)", wait=5.0 * scale)
    return run_model(platform, mech, jobs, arrival)


def _fmt(value: float, digits: int = 2) -> str:
    return "—" if value != value else f"{value:.{digits}f}"  # nan: nothing measured


def _row(name: str, arrival: str, r: dict) -> list[object]:
    return [
        name,
        arrival,
        _fmt(r["efficiency"]),
        f"{r['calls_429']} ({r['share_429'] * 100:.1f} %)",
        _fmt(r["deliveries_per_job"]),
        _fmt(r["invocations_per_job"]),
        r["paced_dead_letters"],
        _fmt(r["wait_p50_s"], 0),
        _fmt(r["wait_p99_s"], 0),
        _fmt(r.get("instance_s_per_job", float("nan")), 1),
        r.get("peak_concurrency", "—"),
        _outcomes(r),
    ]


def _outcomes(r: dict) -> str:
    if "outcomes" in r:
        return ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
    return f"succeeded {r['succeeded']}, failed {r['failed']}, lost {r['lost']}"


HEADERS = [
    "mechanism",
    "arrivals",
    "efficiency",
    "429s",
    "deliveries/job",
    "invocations/job",
    "paced dead letters",
    "queue wait p50 s",
    "p99 s",
    "instance s/job",
    "peak requests",
    "jobs",
]


def run(stack: BenchStack | None = None, small: bool = False) -> dict[str, object]:
    if stack is None:
        with local_stack() as own:
            return run(own, small)
    stack.apply()
    n = SMALL_MODEL_JOBS if small else MODEL_JOBS
    modelled = {
        (m.name, arrival): run_model(ISSUE, m, n, arrival)
        for arrival in (1.0, 3.0)
        for m in MECHANISMS
    }
    held = {m.name: run_model(HELD, m, n, 3.0) for m in MECHANISMS if m.order == "fifo"}
    dip = {m.name: run_model(DIP, m, n, 3.0) for m in MECHANISMS if m.order == "fifo"}
    days = {
        (m.name, label): run_model(platform, m, n, 1.0)
        for label, platform in (
            ("resets after the jobs' deadline", DAY_AFTER_DEADLINE),
            ("resets within the jobs' deadline", DAY_BEFORE_DEADLINE),
        )
        for m in QUOTA_POLICIES
    }
    jobs = SMALL_JOBS if small else JOBS
    measured: dict[tuple[str, float], dict] = {}
    for arrival in (1.0, 3.0):
        measured[("hand-back (before issue 27)", arrival)] = simulate(stack, True, jobs, arrival)
        measured[("Cloud Tasks queue (as built)", arrival)] = simulate_tasks(stack, jobs, arrival)
    for key, result in measured.items():
        print(f"[quota] {key}: {result}", flush=True)
    on = measured[("hand-back (before issue 27)", 3.0)]
    off = simulate(stack, False, jobs, 3.0)
    print(f"[quota] limiter off: {off}", flush=True)
    on_model = same_run_modelled(jobs, on["scale"], True, 3.0)
    off_model = same_run_modelled(jobs, off["scale"], False, 3.0)
    day = simulate_day(
        stack, SMALL_DAY_JOBS if small else DAY_JOBS, SMALL_DAY_LIMIT if small else DAY_LIMIT
    )
    print(f"[quota] per-day quota: {day}", flush=True)

    choice = modelled[(MECHANISMS[2].name, 3.0)]
    checks = [[label, verdict(test(choice))] for test, label in TARGETS.values()]
    body = [
        "## Quota: pacing mechanisms (issue 27) and the shared Vertex limiter (issue 18)",
        "",
        f"Machine: {machine()}.",
        "",
        f"### The mechanisms at the issue's scale (model, virtual time, {n} jobs)",
        "",
        f"{n} one-image jobs, quota 60/min on one location (the limiter aims at 95 %),"
        " Poisson arrivals at 1x and 3x the quota's rate; an accepted call takes 8-16 s;"
        " Pub/Sub push with the subscription's 10 s → 600 s backoff and 5 deliveries before"
        " the dead letter (a paced dead letter is re-published, as `upkeep.dead_letter`"
        " does); generate takes 40 requests at once (max instances x concurrency), a push"
        " beyond that is refused by Cloud Run and counts as a delivery. Efficiency = the"
        " quota-bound time (jobs / quota rate) / the time to the last job's end. Queue wait"
        " = submit to the accepted call. Instance s/job = request time per job"
        " (what request-based billing charges at concurrency 1). Model:"
        " bench/_pacing_model.py (the limiter's slots and AIMD, the worker's backoff and"
        " the quota policy are the project's own code).",
        "",
        table(HEADERS, [_row(m, f"{a:.0f}x", r) for (m, a), r in modelled.items()]),
        "",
        "Targets (the chosen mechanism, Cloud Tasks, at 3x):",
        "",
        table(["target", "verdict"], checks),
        "",
        "### The same at 3x, if Pub/Sub held each push until generate had room (model)",
        "",
        'Pub/Sub documents only that push "dynamically adjusts the rate of push requests'
        ' based on the rate at which it receives success responses"; a push Cloud Run'
        " refuses (no instance free) is a failed delivery. Above, every push beyond the"
        " capacity is refused; here none is, the most favourable reading (and what the"
        " real-stack run below assumes). The truth lies between the two.",
        "",
        table(HEADERS, [_row(m, "3x", r) for m, r in held.items()]),
        "",
        "### The shared pool shrinks (model): 60 % of the quota from minute 10 to 25, 3x",
        "",
        table(HEADERS, [_row(m, "3x", r) for m, r in dip.items()]),
        "",
        "### A per-day quota spent mid-run (model): 1,200 calls, then 429s until the reset",
        "",
        "Today a per-day 429 is retried like any other (main reads no RetryInfo or"
        " QuotaFailure). With the hints (`domain.quota_hints`), the first per-day 429 blocks"
        " the limiter's route until the reset and `decide()` ends each job `quota_exhausted`"
        " with the reset time (reset after its deadline, 1 h) or parks it until the reset."
        " Calls into the spent quota = Vertex calls made while it was spent (each a 429);"
        " jobs called before the reset they were told must be 0.",
        "",
        table(
            [
                "policy",
                "per-day quota",
                "calls into the spent quota",
                "jobs called before their told reset",
                "deliveries/job",
                "paced dead letters",
                "jobs",
            ],
            [
                [
                    m,
                    label,
                    r["calls_while_exhausted"],
                    r["called_before_reset"],
                    _fmt(r["deliveries_per_job"]),
                    r["paced_dead_letters"],
                    _outcomes(r),
                ]
                for (m, label), r in days.items()
            ],
        ),
        "",
        "### On the real stack (measured): the hand-back of before and Cloud Tasks, same run",
        "",
        f"{jobs} one-image 1K jobs of {MODEL} arriving evenly at 1x and 3x the quota's rate;"
        f" the stand-in enforces {RPM} requests/min per model and location (as"
        f" {round(RPM * WINDOW / 60)} per sliding {WINDOW:.0f} s; 429 RESOURCE_EXHAUSTED"
        f" without a retry hint beyond it) on its {len(LOCATIONS)} catalog locations;"
        f" {WORKERS} instances. Hand-back: worker threads running the real"
        " `services.worker.generate` against the emulators, Pub/Sub push a delay queue"
        f" with the backoff scaled to {on['min_backoff']:.2f} s ->"
        f" {on['min_backoff'] * 60:.0f} s (10 s -> 600 s x ideal/{ISSUE_IDEAL_S:.0f} s) and"
        f" the limiter's wait to {on['max_wait']:.2f} s. Cloud Tasks: `generate` under"
        f" functions-framework ({WORKERS} threads), its tasks dispatched by the tasks"
        f" stand-in from a queue at the limiter's rate (x 0.95) and {WORKERS} at once, the"
        " queue's 10 s -> 600 s backoff scaled the same way; deliveries = dispatches (each"
        " an invocation); Cloud Tasks has no dead letters (the column counts tasks it gave"
        " up: none may be). Then the limiter off (3x), and the model of the hand-back's 3x"
        " run and of the limiter-off run, to check the model against the measurements.",
        "",
        table(
            HEADERS,
            [
                *[_row(f"{m}, measured", f"{a:.0f}x", r) for (m, a), r in measured.items()],
                _row("hand-back (before issue 27), modelled", "3x", on_model),
                _row("limiter off, measured", "3x", off),
                _row("limiter off, modelled", "3x", off_model),
            ],
        ),
        "",
        "Calls per location (hand-back, 3x, measured): "
        + ", ".join(f"{loc} {c}" for loc, c in on["per_location"].items()),
        "",
        "### A per-day quota spent on the real stack (measured), Cloud Tasks with the hints",
        "",
        f"{day['jobs']} jobs submitted at once; the stand-in accepts {day['day_limit']}"
        " calls per route and day, then answers the per-day 429 (QuotaFailure naming a"
        " per-day quota, RetryInfo) until the day ends; Terraform's 1 h job deadline. The"
        " first per-day 429 of a route blocks it in the limiter until the reset (the later"
        " of RetryInfo's delay and the day's end at 08:00 UTC, `quota_hints.hint`); a job"
        " with every route spent parks until then (a task scheduled at the reset) or, when"
        " the reset is after its deadline, ends `quota_exhausted` with `resets_at` at once;"
        " later jobs decide before their claim. Calls into the spent quota are those of"
        " jobs already in flight when it ran out, before the limiter knew; a job told the"
        " reset makes no call after.",
        "",
        table(
            ["accepted calls", "calls into the spent quota", "deliveries/job", "jobs", "reset"],
            [
                [
                    day["calls_ok"],
                    day["calls_into_spent"],
                    _fmt(day["deliveries_per_job"]),
                    ", ".join(f"{k} {v}" for k, v in sorted(day["outcomes"].items())),
                    ", ".join(day["resets"]) or "-",
                ]
            ],
        ),
    ]
    emit("quota", "\n".join(body), small)
    return {
        "modelled": modelled,
        "held": held,
        "dip": dip,
        "days": days,
        "measured": measured,
        "off": off,
        "day": day,
    }


if __name__ == "__main__":
    run()
