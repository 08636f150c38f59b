"""The shared Vertex limiter on the Firestore emulator: slots are never over-granted across
workers, a job whose turn is later goes back unclaimed, a paced dead letter is left queued,
and a 429 cuts the rate once per burst."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from imagegen.adapters.limiter_firestore import FirestoreLimiter
from imagegen.domain.limiter import Aimd, QuotaTable, allowance
from imagegen.services import submission, upkeep
from imagegen.services.worker import PacedLater, generate


def _limiter(services, rpm: float, collection: str, clock=time.time) -> FirestoreLimiter:
    from google.cloud import firestore

    s = services.settings
    client = firestore.Client(project=s.project, database=s.firestore_database)
    return FirestoreLimiter(client, collection, QuotaTable(rpm, (), 1.0), clock=clock)


def test_slots_are_never_over_granted_across_workers(make_services, unique):
    services = make_services()
    workers = [_limiter(services, 120, f"slots-{unique}") for _ in range(4)]  # 2 a second
    granted: list[tuple[float, float]] = []
    lock = threading.Lock()

    def one(limiter: FirestoreLimiter) -> None:
        for _ in range(5):
            wait = limiter.acquire("m", "global", 1, 3.0)
            if wait is not None:
                with lock:
                    granted.append((time.time() + wait,))

    threads = [threading.Thread(target=one, args=(w,)) for w in workers]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from google.cloud import firestore

    docs = firestore.Client(project=services.settings.project).collection(f"slots-{unique}")
    per_window = collections.Counter(
        snap.to_dict()["window"] for snap in docs.stream() if "window" in (snap.to_dict() or {})
    )
    assert sum(per_window.values()) == len(granted) > 0
    for window, count in per_window.items():
        assert count <= allowance(window, 2.0), (window, count)
    assert min(per_window) >= int(started)
    # 20 asks, 4 windows of 2 within the horizon of the first asks: some were refused
    assert len(granted) < 20


def test_paced_job_goes_back_unclaimed_with_retry_after_and_its_dead_letter_waits(
    make_services, idle_queue, unique
):
    services = make_services(
        tasks_queue=idle_queue, vertex_requests_per_minute=60, limiter_max_wait_seconds=0
    )
    now = [1_800_000_000.5]  # a clock the test moves: one slot a window
    services.limiter = _limiter(services, 60, f"pace-{unique}", clock=lambda: now[0])
    first = submission.submit(services, {"prompt": f"{unique} one"}).job.id
    second = submission.submit(services, {"prompt": f"{unique} two"}).job.id
    assert generate(services, first) == "succeeded"
    with pytest.raises(PacedLater) as paced:
        generate(services, second)  # the window's one slot is gone; no wait allowed
    assert paced.value.retry_after is not None and paced.value.retry_after >= 1  # Retry-After
    job = services.jobs.get(second)
    assert job.state == "queued" and job.attempts == 0 and job.paced_at
    # a dead letter of the Pub/Sub path (before issue 27) of a paced job fails nothing: the
    # job stays queued for its task (or the sweeper)
    assert upkeep.dead_letter(services, second, 5) is False
    assert services.jobs.get(second).state == "queued"
    now[0] += 1.0  # the next window has a slot again
    assert generate(services, second) == "succeeded"


def test_a_429_cuts_the_rate_once_per_burst(make_services, unique):
    services = make_services()
    limiter = _limiter(services, 600, f"aimd-{unique}")
    limiter.aimd = Aimd(decrease=0.5, cooldown=30.0)
    assert limiter.throttled("m", "global") is True
    assert limiter.throttled("m", "global") is False  # same burst
    state = limiter._state_ref("m", "global").get().to_dict()
    assert state["factor"] == pytest.approx(0.5)
