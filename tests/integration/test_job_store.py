"""The job store against the Firestore emulator: transactions, leases, fences."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from imagegen.domain.job import Job
from imagegen.domain.jobs import ClaimOutcome, State, new_job_id, utcnow
from imagegen.errors import Conflict, NotFound


@pytest.fixture
def store(make_services):
    return make_services().jobs


def _job(**extra) -> Job:
    now = utcnow()
    return Job(
        id=new_job_id(),
        state="queued",
        attempts=0,
        created_at=now,
        updated_at=now,
        fingerprint="f",
        **extra,
    )


def test_create_is_idempotent(store):
    job = _job()
    assert store.create(job)[0] is True
    created, existing = store.create(job.model_copy(update={"fingerprint": "other"}))
    assert created is False and existing.fingerprint == "f"


def test_claim_leases_and_redelivery_is_ignored(store):
    job = _job()
    store.create(job)
    first = store.claim(job.id, lease_seconds=60)
    assert first.outcome is ClaimOutcome.CLAIMED and first.attempt == 1
    assert store.claim(job.id, 60).outcome is ClaimOutcome.LEASED
    assert store.get(job.id).state == "running"


def test_expired_lease_is_reclaimed_and_the_stale_worker_is_fenced(store):
    job = _job()
    store.create(job)
    old = store.claim(job.id, lease_seconds=0.2)
    time.sleep(0.3)
    new = store.claim(job.id, lease_seconds=60)
    assert new.outcome is ClaimOutcome.CLAIMED and new.attempt == 2
    assert store.finish(job.id, old.attempt, State.SUCCEEDED, {"outputs": []}) is False
    output = {"uri": "gs://b/jobs/x/0.png", "mime_type": "image/png", "index": 0}
    assert store.finish(job.id, new.attempt, State.SUCCEEDED, {"outputs": [output]}) is True
    stored = store.get(job.id)
    assert stored.state == "succeeded" and stored.outputs == [output]
    assert store.claim(job.id, 60).outcome is ClaimOutcome.TERMINAL


def test_concurrent_claims_have_one_winner(store):
    job = _job()
    store.create(job)
    outcomes, contended = [], []

    def claim():
        try:
            outcomes.append(store.claim(job.id, 60).outcome)
        except ValueError as exc:  # "Failed to commit transaction": the delivery is retried
            contended.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(ClaimOutcome.CLAIMED) == 1
    assert set(outcomes) <= {ClaimOutcome.CLAIMED, ClaimOutcome.LEASED}
    assert len(outcomes) + len(contended) == 4
    assert store.get(job.id).attempts == 1


def test_requeue_then_fail_keeps_the_last_error(store):
    job = _job()
    store.create(job)
    claim = store.claim(job.id, 60)
    assert store.requeue(job.id, claim.attempt, {"code": "upstream_retryable", "message": "429"})
    assert store.get(job.id).state == "queued"
    assert store.fail(job.id, {"code": "delivery_exhausted", "message": "gave up"})
    stored = store.get(job.id)
    assert stored.state == "failed"
    assert stored.error["last_error"]["message"] == "429"
    assert store.fail(job.id, {"code": "x", "message": "again"}) is False


def test_cancel_only_from_queued(store):
    job = _job()
    store.create(job)
    assert store.cancel(job.id).state == "cancelled"
    with pytest.raises(Conflict):
        store.cancel(job.id)
    with pytest.raises(NotFound):
        store.cancel("no-such-job")
    assert store.claim(job.id, 60).outcome is ClaimOutcome.TERMINAL


def test_stale_query_finds_old_queued_jobs(store):
    old = _job()
    store.create(old)
    later = utcnow() + dt.timedelta(seconds=1)
    ids = {j.id for j in store.stale(State.QUEUED, later)}
    assert old.id in ids
