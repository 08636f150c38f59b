"""A virtual-time model of how jobs wait for their turn at Vertex AI (issue 27), to choose the
mechanism at the issue's scale (2,000 jobs at a 60/min quota, arrivals at 1x and 3x the
quota's rate, Pub/Sub's real 10 s -> 600 s backoff, a per-day quota spent mid-run), which a
wall-clock run on two shared cores cannot reach without scaling time down.

What is the project's own code: the limiter's slot allowance and AIMD (`domain.limiter`), the
worker's backoff (`domain.retry.Backoff`) and the quota policy (`domain.quota_hints.decide`).
What is modelled, from Google's documentation (sources in bench/quota.py and
docs/architecture.md): Pub/Sub push (a nack comes back after min(600, 10 x 2^(n-1)) s; the
dead letter after `max_deliveries`; a push the function has no room for is refused by
Cloud Run and counts as a delivery), the function's capacity (max instances x concurrency,
a request at most `timeout` s), Vertex (a sliding 60 s window of `rpm` accepted calls per
location, 429 beyond it; optionally a per-day quota), Cloud Tasks (a queue dispatching at
its rate, at most `capacity` at once, a failed task retried after its own backoff), and
Pub/Sub ordering keys (taken at their most favourable: one message of a key outstanding at
a time, which Google does not guarantee).

`bench/quota.py` runs today's hand-back on the real stack with the same knobs and prints both,
so the model's baseline can be checked against the measured one.
"""

from __future__ import annotations

import collections
import datetime as dt
import heapq
import itertools
import math
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass

from imagegen.domain.limiter import Aimd, allowance
from imagegen.domain.quota_hints import Action, QuotaHint, QuotaScope, decide
from imagegen.domain.retry import Backoff

EPOCH = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # the model's t = 0


@dataclass(frozen=True)
class Platform:
    """The deployment and the platform around it (defaults: Terraform's and Google's)."""

    rpm: float = 60.0  # Vertex's quota per location, calls a minute
    window: float = 60.0  # enforced as rpm x window / 60 calls in any sliding `window` s
    locations: int = 1
    headroom: float = 0.95  # the limiter aims this far under the quota
    call_seconds: tuple[float, float] = (8.0, 16.0)  # an accepted call, uniform
    refused_seconds: float = 0.3  # a 429
    # what an invocation costs before it knows whether it has a slot (the job's read, the
    # limiter's reads and write): a hand-back takes this long and is not free
    overhead_seconds: float = 0.1
    min_backoff: float = 10.0  # the push subscription's retry policy
    max_backoff: float = 600.0
    max_deliveries: int = 5  # dead letter after this many
    timeout: float = 540.0  # generate_timeout_seconds
    call_budget: float = 480.0
    capacity: int = 40  # concurrent requests generate takes (max instances x concurrency)
    # a push generate has no room for: refused by Cloud Run, a delivery spent (True), or
    # held by Pub/Sub until there is room (False: the most favourable reading of push's
    # "adjusts the rate of push requests", and what the real-stack bench's push model does)
    refuse_when_full: bool = True
    max_attempts: int = 5
    job_deadline: float = 3600.0
    day_quota: int | None = None  # calls per location before the per-day quota is spent
    day_reset: float | None = None  # when it resets (model seconds)
    # the shared pool shrinks for a while (dynamic shared quota): (from, to, share of rpm)
    dip: tuple[float, float, float] | None = None

    @property
    def per_second(self) -> float:
        """The limiter's target per location (quota x headroom)."""
        return self.rpm * self.headroom / 60.0

    @property
    def quota_per_second(self) -> float:
        return self.rpm * self.locations / 60.0


@dataclass(frozen=True)
class Mechanism:
    """How a job waits: `kind` handback (today: wait at most `wait` s in the invocation,
    else nack), tasks (a Cloud Tasks queue at the limiter's rate feeds the function), or
    keys (Pub/Sub ordering keys: at most `keys` jobs outstanding). `hints`: the worker reads
    Vertex's quota hints and applies `domain.quota_hints.decide` (a per-day 429 stops every
    call until the reset); without, a per-day 429 is retried like any other (main today)."""

    name: str
    kind: str = "handback"
    wait: float = 5.0
    keys: int = 0
    hints: bool = False
    order: str = "fifo"  # Cloud Tasks: "random" (Google promises no order) or "fifo"


@dataclass
class Job:
    id: int
    submitted: float
    deadline: float
    state: str = "queued"
    attempts: int = 0
    started: float | None = None  # the accepted call's start
    finished: float | None = None
    reason: str = ""
    told_reset: float | None = None  # a quota_exhausted / park told the job this reset
    called_before_reset: bool = False
    nacks: int = 0  # failed deliveries of its current message (ordering keys, Cloud Tasks)


@dataclass
class Stats:
    calls: int = 0
    refused: int = 0
    deliveries: int = 0  # every push or dispatch, including those Cloud Run refused
    invocations: int = 0  # the ones that ran the function
    rejected: int = 0  # pushes refused for want of capacity
    dead_letters: int = 0
    paced_dead_letters: int = 0
    busy_seconds: float = 0.0  # sum of invocation durations (instance time at concurrency 1)
    peak_concurrency: int = 0
    calls_while_exhausted: int = 0  # calls into a spent per-day quota (each a 429)


class Sim:
    """Events in virtual time; processes are generators yielding the seconds they sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (max(when, self.now), next(self._seq), action))

    def spawn(self, process: Generator[float, None, None], done: Callable[[], None]) -> None:
        def step() -> None:
            try:
                delay = next(process)
            except StopIteration:
                done()
                return
            self.at(self.now + delay, step)

        self.at(self.now, step)

    def run(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            self.now, _, action = heapq.heappop(self._queue)
            action()


class Vertex:
    """Per location: at most `rpm` accepted calls in any 60 s; a per-day quota on top."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.accepted = [collections.deque() for _ in range(platform.locations)]
        self.today = [0] * platform.locations

    def day_spent(self, location: int, now: float) -> bool:
        p = self.p
        if p.day_quota is None or (p.day_reset is not None and now >= p.day_reset):
            return False
        return self.today[location] >= p.day_quota

    def call(self, location: int, now: float) -> QuotaHint | None:
        """None when accepted; the 429's hint when refused."""
        if self.day_spent(location, now):
            reset = EPOCH + dt.timedelta(seconds=self.p.day_reset or 86400.0)
            return QuotaHint(QuotaScope.DAY, 30.0, None, reset)
        seen = self.accepted[location]
        while seen and seen[0] <= now - self.p.window:
            seen.popleft()
        limit = self.p.rpm * self.p.window / 60.0
        if self.p.dip and self.p.dip[0] <= now < self.p.dip[1]:
            limit *= self.p.dip[2]
        if len(seen) >= limit:
            return QuotaHint(QuotaScope.SHARED)
        seen.append(now)
        self.today[location] += 1
        return None


class Limiter:
    """domain.limiter's slots and AIMD, held in memory (Firestore's create-once slots are
    atomic, so one process holding them is the same rule). `blocked_until`: what a per-day
    429 teaches it (with hints on): no slot before the reset."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.taken: list[dict[int, int]] = [{} for _ in range(platform.locations)]
        self.state: list[dict | None] = [None] * platform.locations
        self.blocked_until = [0.0] * platform.locations
        self.aimd = Aimd()

    def acquire(self, location: int, now: float, horizon: float) -> float | None:
        """Seconds until the slot taken (0: now), or None when none opens within horizon."""
        start = max(now, self.blocked_until[location])
        if start - now > horizon:
            return None
        per_second = self.p.per_second * self.aimd.factor(self.state[location], now)
        taken = self.taken[location]
        for window in range(math.floor(start), math.floor(now + horizon) + 1):
            if taken.get(window, 0) < allowance(window, per_second):
                taken[window] = taken.get(window, 0) + 1
                return max(0.0, window - now)
        return None

    def throttled(self, location: int, now: float) -> None:
        new = self.aimd.cut(self.state[location], now)
        if new is not None:
            self.state[location] = new


class Model:
    def __init__(self, platform: Platform, mech: Mechanism, jobs: int, arrival: float, seed: int):
        self.p, self.m = platform, mech
        self.sim = Sim()
        self.vertex = Vertex(platform)
        self.limiter = Limiter(platform)
        self.stats = Stats()
        self.rng = random.Random(seed)
        self.backoff = Backoff()
        self.busy = 0
        rate = arrival * platform.quota_per_second
        t = 0.0
        self.jobs: list[Job] = []
        for n in range(jobs):  # Poisson arrivals; an infinite rate submits all at once
            t += self.rng.expovariate(rate) if math.isfinite(rate) else 0.0
            self.jobs.append(Job(n, t, t + platform.job_deadline))
        # Cloud Tasks: the queue and its token bucket; ordering keys: the keys' queues
        self.tasks: collections.deque[int] = collections.deque()
        self.held: collections.deque[tuple[Job, int]] = collections.deque()  # pushes waiting
        self.tasks_next = 0.0
        self.tasks_timer = False
        self.key_queues: list[collections.deque[int]] = [
            collections.deque() for _ in range(max(1, mech.keys))
        ]
        self.key_busy = [False] * max(1, mech.keys)

    # -- delivery paths -----------------------------------------------------------------
    def publish(self, job: Job, nacks: int = 0, delay: float = 0.0) -> None:
        """A Pub/Sub message (or a Cloud Task) for the job, due after `delay`."""
        kind = self.m.kind
        if kind == "tasks":
            self.sim.at(self.sim.now + delay, lambda: self._enqueue_task(job.id))
        elif kind == "keys":
            key = job.id % self.m.keys
            self.sim.at(self.sim.now + delay, lambda: self._key_put(key, job.id, nacks))
        else:
            self.sim.at(self.sim.now + delay, lambda: self._push(job, nacks))

    def _redeliver(self, job: Job, nacks: int) -> None:
        """A nack: Pub/Sub's exponential backoff, the dead letter after max_deliveries."""
        p = self.p
        if nacks >= p.max_deliveries:
            self.stats.dead_letters += 1
            if job.state == "queued" and job.attempts < p.max_attempts:
                self.stats.paced_dead_letters += 1  # today's dead_letter re-publishes it
                self.publish(job)
            else:
                self._end(job, "failed", "dead letter")
            return
        delay = min(p.max_backoff, p.min_backoff * 2 ** (nacks - 1))
        self.publish(job, nacks, delay)

    def _push(self, job: Job, nacks: int) -> None:
        if self.busy >= self.p.capacity and not self.p.refuse_when_full:
            self.held.append((job, nacks))  # Pub/Sub waits for room: no delivery yet
            return
        self.stats.deliveries += 1
        if self.busy >= self.p.capacity:  # Cloud Run has no instance for it: refused
            self.stats.rejected += 1
            self._redeliver(job, nacks + 1)
            return
        self._invoke(job, lambda ok: None if ok else self._redeliver(job, nacks + 1))

    def _enqueue_task(self, job_id: int) -> None:
        self.tasks.append(job_id)
        self._dispatch_tasks()

    def _dispatch_tasks(self) -> None:
        """The queue's rate limit (the limiter's total rate, burst 1) and max concurrent
        dispatches (the function's capacity: Cloud Run never refuses one)."""
        interval = 1.0 / (self.p.per_second * self.p.locations)
        while self.tasks and self.busy < self.p.capacity:
            if self.sim.now < self.tasks_next:
                if not self.tasks_timer:
                    self.tasks_timer = True
                    self.sim.at(self.tasks_next, self._tasks_tick)
                return
            pick = 0 if self.m.order == "fifo" else self.rng.randrange(len(self.tasks))
            self.tasks.rotate(-pick)
            job = self.jobs[self.tasks.popleft()]
            self.tasks.rotate(pick)
            self.tasks_next = max(self.tasks_next, self.sim.now) + interval
            self.stats.deliveries += 1
            self._invoke(job, lambda ok, job=job: self._task_done(job, ok))

    def _tasks_tick(self) -> None:
        self.tasks_timer = False
        self._dispatch_tasks()

    def _task_done(self, job: Job, ok: bool) -> None:
        if not ok:  # Cloud Tasks retries the task after its backoff (10 s doubling, <= 600 s)
            job.nacks += 1
            delay = min(self.p.max_backoff, self.p.min_backoff * 2 ** (job.nacks - 1))
            self.publish(job, delay=delay)

    def _key_put(self, key: int, job_id: int, nacks: int) -> None:
        self.jobs[job_id].nacks = nacks
        self.key_queues[key].append(job_id)
        self._key_next(key)

    def _key_next(self, key: int) -> None:
        """The key's first message, once nothing of the key is outstanding."""
        queue = self.key_queues[key]
        if self.key_busy[key] or not queue:
            return
        job = self.jobs[queue[0]]
        self.key_busy[key] = True
        self.stats.deliveries += 1
        self._invoke(job, lambda ok: self._key_done(key, job, ok))

    def _key_done(self, key: int, job: Job, ok: bool) -> None:
        queue = self.key_queues[key]
        if ok:
            queue.popleft()
            self.key_busy[key] = False
            self._key_next(key)
            return
        job.nacks += 1
        if job.nacks >= self.p.max_deliveries:  # dead-lettered: the key moves on
            queue.popleft()
            self.key_busy[key] = False
            self._redeliver(job, job.nacks)
            self._key_next(key)
            return
        # the head comes back after the backoff, and the key waits for it
        delay = min(self.p.max_backoff, self.p.min_backoff * 2 ** (job.nacks - 1))
        self.sim.at(self.sim.now + delay, lambda: self._key_release(key))

    def _key_release(self, key: int) -> None:
        self.key_busy[key] = False
        self._key_next(key)

    # -- one invocation of generate -----------------------------------------------------
    def _invoke(self, job: Job, acked: Callable[[bool], None]) -> None:
        self.stats.invocations += 1
        self.busy += 1
        self.stats.peak_concurrency = max(self.stats.peak_concurrency, self.busy)
        started = self.sim.now
        outcome = {"ok": True}

        def done() -> None:
            self.busy -= 1
            self.stats.busy_seconds += self.sim.now - started
            acked(outcome["ok"])
            if self.m.kind == "tasks":
                self._dispatch_tasks()
            elif self.held and self.busy < self.p.capacity:
                self._push(*self.held.popleft())

        self.sim.spawn(self._generate(job, outcome), done)

    def _generate(self, job: Job, outcome: dict) -> Generator[float, None, None]:
        """services.worker.generate: pace, claim, call with retries, finish."""
        p, m, now = self.p, self.m, lambda: self.sim.now
        yield p.overhead_seconds
        if job.state != "queued":
            return  # a duplicate: acknowledged, nothing done
        if now() >= job.deadline:
            self._end(job, "failed", "deadline")
            return
        if m.hints and job.told_reset is not None and now() < job.told_reset:
            job.called_before_reset = True  # it must not have been delivered before
        route, wait = None, None
        for horizon in dict.fromkeys([0.0, m.wait]):
            for location in range(p.locations):
                wait = self.limiter.acquire(location, now(), horizon)
                if wait is not None:
                    route = location
                    break
            if route is not None:
                break
        if route is None:  # PacedLater: back to the queue, no attempt spent
            if m.hints and all(b > now() for b in self.limiter.blocked_until):
                self._quota_spent(job, outcome)
                return
            outcome["ok"] = False
            return
        if wait:
            yield wait
        job.attempts += 1
        if job.attempts > p.max_attempts:
            self._end(job, "failed", "attempts exhausted")
            return
        budget_end = now() + p.call_budget
        retries = 0
        location = route
        while True:
            if self.vertex.day_spent(location, now()):
                self.stats.calls_while_exhausted += 1
            refused = self.vertex.call(location, now())
            self.stats.calls += 1
            if refused is None:
                job.started = now()
                yield self.rng.uniform(*p.call_seconds)
                self._end(job, "succeeded")
                return
            self.stats.refused += 1
            yield p.refused_seconds
            self.limiter.throttled(location, now())
            if m.hints and refused.scope is QuotaScope.DAY:
                self.limiter.blocked_until[location] = (refused.resets_at - EPOCH).total_seconds()
                if all(b > now() for b in self.limiter.blocked_until):
                    self._quota_spent(job, outcome, refused)
                    return
            retries += 1
            server_delay = refused.retry_delay if m.hints else None  # main reads no RetryInfo
            delay = self.backoff.delay(retries, server_delay, self.rng)
            if now() + delay >= budget_end:
                outcome["ok"] = False  # requeue: the attempt is spent, Pub/Sub redelivers
                return
            yield delay
            location = (location + 1) % p.locations
            wait = self.limiter.acquire(location, now(), m.wait)
            if wait is None:
                continue  # "no Vertex slot": a quota error of our own, backed off again
            if wait:
                yield wait

    def _quota_spent(self, job: Job, outcome: dict, found: QuotaHint | None = None) -> None:
        """Every route's per-day quota is spent (the limiter knows its reset): the policy."""
        reset_s = min(self.limiter.blocked_until)
        reset = EPOCH + dt.timedelta(seconds=reset_s)
        found = found or QuotaHint(QuotaScope.DAY, None, None, reset)
        now = EPOCH + dt.timedelta(seconds=self.sim.now)
        deadline = EPOCH + dt.timedelta(seconds=job.deadline)
        decision = decide(found, now, backoff=0.0, time_left=0.0, deadline_at=deadline)
        job.told_reset = reset_s
        if decision.action is Action.FAIL:
            self._end(job, "failed", "quota_exhausted")
        elif decision.action is Action.PARK:  # acked; the sweeper publishes it at the reset
            self.publish(job, delay=reset_s - self.sim.now)
        else:
            outcome["ok"] = False

    def _end(self, job: Job, state: str, reason: str = "") -> None:
        if job.state != "queued":
            return
        job.state, job.reason, job.finished = state, reason, self.sim.now

    # -- a run ----------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        for job in self.jobs:
            self.sim.at(job.submitted, lambda job=job: self.publish(job))
        horizon = self.jobs[-1].submitted + self.p.job_deadline + 2 * self.p.max_backoff
        if self.p.day_reset:
            horizon = max(horizon, self.p.day_reset + self.p.job_deadline)
        self.sim.run(horizon)
        return self.report()

    def report(self) -> dict[str, float]:
        s, jobs = self.stats, self.jobs
        n = len(jobs)
        ends = [j.finished for j in jobs if j.finished is not None]
        span = max(ends) - jobs[0].submitted if ends else float("nan")
        ideal = n / self.p.quota_per_second
        waits = sorted(j.started - j.submitted for j in jobs if j.started is not None)

        def pct(q: float) -> float:
            return waits[min(len(waits) - 1, int(q * len(waits)))] if waits else float("nan")

        outcomes = collections.Counter(
            j.state if j.state != "failed" else f"failed: {j.reason}" for j in jobs
        )
        return {
            "jobs": n,
            "ideal_s": ideal,
            "actual_s": span,
            "efficiency": ideal / span if span else float("nan"),
            "calls": s.calls,
            "calls_429": s.refused,
            "share_429": s.refused / max(1, s.calls),
            "deliveries_per_job": s.deliveries / n,
            "invocations_per_job": s.invocations / n,
            "rejected": s.rejected,
            "dead_letters": s.dead_letters,
            "paced_dead_letters": s.paced_dead_letters,
            "wait_p50_s": pct(0.50),
            "wait_p99_s": pct(0.99),
            "instance_s_per_job": s.busy_seconds / n,
            "peak_concurrency": s.peak_concurrency,
            "calls_while_exhausted": s.calls_while_exhausted,
            "called_before_reset": sum(1 for j in jobs if j.called_before_reset),
            "lost": sum(1 for j in jobs if j.state == "queued"),
            "outcomes": dict(outcomes),
        }


def run_model(
    platform: Platform, mech: Mechanism, jobs: int, arrival: float, seed: int = 27
) -> dict[str, float]:
    return Model(platform, mech, jobs, arrival, seed).run()
