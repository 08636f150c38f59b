"""The job store against the Firestore emulator: transactions, leases, fences."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from imagegen.domain.job import ClaimOutcome, Job, Outcome, State, new_job_id, utcnow
from imagegen.domain.job_values import JobError, Output
from imagegen.errors import Conflict
from imagegen.ports import Claim


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


def _claim(store, job_id: str, lease_seconds: float) -> Claim:
    return Claim.of(store.transact(job_id, lambda job: job.claim(utcnow(), lease_seconds)))


def _finish(store, job_id: str, attempt: int, outputs: list[Output]) -> bool:
    outcome = Outcome(state=State.SUCCEEDED, outputs=outputs)
    return store.transact(job_id, lambda job: job.finish(attempt, outcome, utcnow())).changed


def _fail(store, job_id: str, code: str, message: str) -> bool:
    error = JobError(code=code, message=message)
    return store.transact(job_id, lambda job: job.fail(error, utcnow())).changed


def _cancel(store, job_id: str) -> Job | None:
    return store.transact(job_id, lambda job: job.cancel(utcnow())).after


def test_create_is_idempotent(store):
    job = _job()
    assert store.create(job)[0] is True
    created, existing = store.create(job.model_copy(update={"fingerprint": "other"}))
    assert created is False and existing.fingerprint == "f"


def test_claim_leases_and_redelivery_is_ignored(store):
    job = _job()
    store.create(job)
    first = _claim(store, job.id, lease_seconds=60)
    assert first.outcome is ClaimOutcome.CLAIMED and first.attempt == 1
    assert _claim(store, job.id, 60).outcome is ClaimOutcome.LEASED
    assert store.get(job.id).state == "running"


def test_expired_lease_is_reclaimed_and_the_stale_worker_is_fenced(store):
    job = _job()
    store.create(job)
    old = _claim(store, job.id, lease_seconds=0.2)
    time.sleep(0.3)
    new = _claim(store, job.id, lease_seconds=60)
    assert new.outcome is ClaimOutcome.CLAIMED and new.attempt == 2
    assert _finish(store, job.id, old.attempt, []) is False
    output = Output(uri="gs://b/jobs/x/0.png", mime_type="image/png", index=0)
    assert _finish(store, job.id, new.attempt, [output]) is True
    stored = store.get(job.id)
    assert stored.state == "succeeded" and stored.outputs == [output]
    assert _claim(store, job.id, 60).outcome is ClaimOutcome.TERMINAL


def test_concurrent_claims_have_one_winner(store):
    job = _job()
    store.create(job)
    outcomes, contended = [], []

    def claim():
        try:
            outcomes.append(_claim(store, job.id, 60).outcome)
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
    claim = _claim(store, job.id, 60)
    error = JobError(code="upstream_retryable", message="429")
    assert store.transact(job.id, lambda j: j.requeue(claim.attempt, error, utcnow())).changed
    assert store.get(job.id).state == "queued"
    assert _fail(store, job.id, "delivery_exhausted", "gave up")
    stored = store.get(job.id)
    assert stored.state == "failed"
    assert stored.error.last_error.message == "429"
    assert _fail(store, job.id, "x", "again") is False


def test_cancel_only_from_queued(store):
    job = _job()
    store.create(job)
    assert _cancel(store, job.id).state == "cancelled"
    with pytest.raises(Conflict):
        _cancel(store, job.id)
    assert _cancel(store, "no-such-job") is None  # nothing to change (the API answers 404)
    assert _claim(store, job.id, 60).outcome is ClaimOutcome.TERMINAL


def test_stale_query_finds_old_queued_jobs(store):
    old = _job()
    store.create(old)
    later = utcnow() + dt.timedelta(seconds=1)
    ids = {j.id for j in store.stale(State.QUEUED, later)}
    assert old.id in ids


def test_a_document_of_main_lives_on_and_keeps_fields_of_another_version(store, make_services):
    """A queued job as main wrote it (tests/fixtures/job_documents_*.json), with a field
    this version does not know: claimed and finished through the Job's transitions, it
    keeps every field it had (the store writes only what a change changed) and each
    transition numbers its event after main's."""
    from tests.unit.test_main_documents import CAPTURED, _decode

    document = _decode(CAPTURED["fc6dc9c/queued"]["document"])
    job_id = new_job_id()
    document.update(id=job_id, written_by_a_newer_version={"x": 1})
    document.pop("charged")  # its counters are not this test's
    ref = make_services().firestore.collection("jobs").document(job_id)
    ref.set(document)
    claim = _claim(store, job_id, 60)
    assert claim.outcome is ClaimOutcome.CLAIMED and claim.attempt == 1
    output = Output(uri=f"gs://b/jobs/{job_id}/0.png", mime_type="image/png", index=0)
    assert _finish(store, job_id, 1, [output]) is True
    stored = ref.get().to_dict()
    assert stored["written_by_a_newer_version"] == {"x": 1}
    assert set(document) <= set(stored)
    assert stored["state"] == "succeeded" and stored["outputs"] == [output.to_json()]
    assert stored["event_sequence"] == 3  # queued (main's), running, succeeded
    assert {e["id"] for e in stored["pending_events"]} <= {f"{job_id}-{n}" for n in (1, 2, 3)}
    assert stored["request"] == document["request"]
