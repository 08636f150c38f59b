"""Pure rules: job transitions, claims, backoff, event parsing."""

import base64
import datetime as dt
import json
import random

import pytest

from imagegen.domain.job import (
    ClaimOutcome,
    Job,
    State,
    TransitionError,
    check_transition,
    decide_claim,
)
from imagegen.domain.job_view import JobView
from imagegen.domain.retry import Backoff, fits
from imagegen.events import PUBSUB_EVENT, BadEvent, job_message

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("terminal", ["succeeded", "blocked", "failed", "cancelled"])
def test_terminal_states_never_change(terminal):
    for target in State:
        with pytest.raises(TransitionError):
            check_transition(terminal, target)


def test_only_queued_jobs_cancel():
    check_transition("queued", State.CANCELLED)
    with pytest.raises(TransitionError):
        check_transition("running", State.CANCELLED)


def test_claim_decisions():
    def job(state: str, **more) -> Job:
        return Job(id="j", state=state, **more)

    assert decide_claim(None, NOW) is ClaimOutcome.MISSING
    assert decide_claim(job("succeeded"), NOW) is ClaimOutcome.TERMINAL
    assert decide_claim(job("queued"), NOW) is ClaimOutcome.CLAIMED
    fresh = job("running", lease_expires_at=NOW + dt.timedelta(seconds=5))
    assert decide_claim(fresh, NOW) is ClaimOutcome.LEASED
    expired = job("running", lease_expires_at=NOW - dt.timedelta(seconds=5))
    assert decide_claim(expired, NOW) is ClaimOutcome.CLAIMED


def test_job_view_hides_internals():
    job = Job.from_document(
        {
            "id": "j",
            "state": "queued",
            "fingerprint": "f",
            "caller": "c",
            "lease_expires_at": NOW,
            "created_at": NOW,
        }
    )
    view = JobView.of(job).to_json()
    assert view == {
        "id": "j",
        "state": "queued",
        "status": "queued",
        "created_at": "2026-11-25T12:00:00Z",
    }


def test_backoff_grows_with_jitter_and_honours_retry_after():
    rng = random.Random(1)
    backoff = Backoff(initial=1, maximum=8)
    delays = [backoff.delay(n, rng=rng) for n in range(1, 7)]
    assert all(0.5 <= delays[0] <= 1 for _ in [0])
    assert all(d <= 8 for d in delays) and delays[4] >= 4
    assert backoff.delay(1, retry_after=30, rng=rng) == 30
    assert fits(1, now=10, deadline=12) and not fits(3, now=10, deadline=12)


def _event(data=None, attributes=None):
    return {
        "message": {
            "data": base64.b64encode(json.dumps(data or {}).encode()).decode(),
            "attributes": attributes or {},
            "messageId": "m1",
        }
    }


def test_job_message_from_attributes_or_data():
    assert job_message(PUBSUB_EVENT, _event(attributes={"job_id": "a"})).job_id == "a"
    assert job_message(PUBSUB_EVENT, _event({"job_id": "b"})).job_id == "b"
    dead = _event({"job_id": "c"}, {"CloudPubSubDeadLetterSourceDeliveryCount": "5"})
    assert job_message(PUBSUB_EVENT, dead).delivery_attempt == 5


@pytest.mark.parametrize("data", [None, {}, {"message": {"data": "!!"}}, _event({"x": 1})])
def test_bad_events_are_refused(data):
    with pytest.raises(BadEvent):
        job_message(PUBSUB_EVENT, data)


def test_wrong_event_type_is_refused():
    with pytest.raises(BadEvent):
        job_message("google.cloud.storage.object.v1.finalized", _event({"job_id": "x"}))
