"""Contention retries of Firestore writes (adapters/firestore_retry.py, google.api_core.retry):
which errors are retried, and that the total time is bounded."""

from __future__ import annotations

import types

import pytest
from google.api_core import exceptions
from google.api_core.retry import retry_base, retry_unary

from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.errors import Unavailable


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """api_core's retry on a fake clock: sleeping moves it, nothing waits for real."""
    state = {"now": 1000.0, "slept": 0.0}

    def sleep(seconds: float) -> None:
        state["now"] += seconds
        state["slept"] += seconds

    fake = types.SimpleNamespace(monotonic=lambda: state["now"], sleep=sleep)
    monkeypatch.setattr(retry_unary, "time", fake)
    monkeypatch.setattr(retry_base, "time", fake)
    return state


def _failing(*errors: Exception):
    """A call raising `errors` one after the other, then answering "done"."""
    pending = list(errors)
    calls = []

    def call() -> str:
        calls.append(1)
        if pending:
            raise pending.pop(0)
        return "done"

    return call, calls


def test_lost_writes_are_retried_until_one_commits():
    call, calls = _failing(
        exceptions.Aborted("lock timeout"),
        ValueError("Failed to commit transaction in 3 attempts."),
        exceptions.Aborted("again"),
    )
    policy = contention(exceptions.Aborted, initial=0.001, maximum=0.01)
    assert or_busy(policy, call) == "done" and len(calls) == 4


@pytest.mark.parametrize(
    "error",
    [
        exceptions.InvalidArgument("too big"),  # not contention
        ValueError("bad value"),
        exceptions.ServiceUnavailable("not listed for this policy"),
    ],
)
def test_other_errors_are_not_retried(error):
    call, calls = _failing(error)
    with pytest.raises(type(error)):
        or_busy(contention(exceptions.Aborted, initial=0.001, maximum=0.01), call)
    assert len(calls) == 1


def test_a_batch_policy_does_not_retry_a_transaction_that_gave_up():
    call, calls = _failing(ValueError("Failed to commit transaction in 3 attempts."))
    policy = contention(
        exceptions.FailedPrecondition, initial=0.001, maximum=0.01, transactions=False
    )
    with pytest.raises(ValueError, match="transaction"):
        or_busy(policy, call)
    assert len(calls) == 1


def test_the_time_is_bounded_and_ends_unavailable_naming_the_last_error(clock):
    call, calls = _failing(*[exceptions.Aborted(f"lost {i}") for i in range(100_000)])
    policy = contention(exceptions.Aborted, initial=0.04, maximum=1.0)  # the job store's
    with pytest.raises(Unavailable, match="the job store is busy, try again: 409 lost"):
        or_busy(policy, call)
    assert 19.0 < clock["slept"] <= 20.0  # 20 s of pauses in all, never past them
    assert len(calls) > 20
