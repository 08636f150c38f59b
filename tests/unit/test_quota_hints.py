"""Vertex's quota hints (issue 27): what a 429's `google.rpc.Status` says (domain/quota_hints.py),
read by the adapter from the stand-in's answers over a real socket, and the policy a job
follows (`decide`)."""

from __future__ import annotations

import datetime as dt

import pytest

from devstack.vertex_standin import serve
from imagegen.domain.limiter import block, blocked_until, plan
from imagegen.domain.quota_hints import (
    Action,
    QuotaHint,
    QuotaLimit,
    QuotaScope,
    day_reset,
    decide,
    exhausted_error,
    hint,
    scope_of,
)

NOW = dt.datetime(2026, 12, 6, 15, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("message", "limits", "scope"),
    [
        ("Resource exhausted, please try again later.", [], QuotaScope.SHARED),
        (
            "Too many requests. Exceeded the Provisioned Throughput.",
            [],
            QuotaScope.PROVISIONED_THROUGHPUT,
        ),
        ("x", [QuotaLimit("GenerateRequestsPerMinutePerProjectPerModel")], QuotaScope.MINUTE),
        ("x", [QuotaLimit("GenerateRequestsPerDayPerProjectPerModel-FreeTier")], QuotaScope.DAY),
        (
            "x",
            [QuotaLimit("", "a/b", None, "Daily Limit for read operations exceeded")],
            QuotaScope.DAY,
        ),
        ("x", [QuotaLimit("SomethingPerProject")], QuotaScope.UNKNOWN),
        (
            "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute"
            "_per_project_per_base_model with base model: gemini-pro.",
            [],
            QuotaScope.MINUTE,
        ),
    ],
)
def test_the_scope_comes_from_the_quota_named_or_the_frameworks_message(message, limits, scope):
    assert scope_of(message, limits)[0] is scope


def test_a_day_outranks_a_minute_when_both_are_named():
    limits = [QuotaLimit("RequestsPerMinutePerProject"), QuotaLimit("RequestsPerDayPerProject")]
    scope, limit = scope_of("x", limits)
    assert scope is QuotaScope.DAY and limit.quota_id == "RequestsPerDayPerProject"


def test_a_day_resets_at_midnight_utc_minus_8_never_before():
    assert day_reset(NOW) == dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
    early = dt.datetime(2026, 12, 6, 7, 59, tzinfo=dt.UTC)
    assert day_reset(early) == dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    on_it = dt.datetime(2026, 12, 6, 8, 0, tzinfo=dt.UTC)
    assert day_reset(on_it) == dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)


def test_a_short_retry_delay_is_not_a_days_reset_but_a_longer_one_wins():
    day = [QuotaLimit("GenerateRequestsPerDayPerProjectPerModel")]
    short = hint("x", 34.0, day, NOW)
    assert short.scope is QuotaScope.DAY and short.resets_at == day_reset(NOW)
    longer = hint("x", 30 * 3600.0, day, NOW)
    assert longer.resets_at == NOW + dt.timedelta(hours=30)
    minute = hint("x", 53.0, [QuotaLimit("RequestsPerMinute")], NOW)
    assert minute.resets_at == NOW + dt.timedelta(seconds=53)
    assert hint("Resource exhausted", None, [], NOW).resets_at is None


def test_a_spent_day_fails_fast_after_the_deadline_and_parks_before_it():
    spent = hint("x", None, [QuotaLimit("RequestsPerDayPerProject")], NOW)
    soon = NOW + dt.timedelta(hours=1)
    failed = decide(spent, NOW, backoff=1.0, time_left=400.0, deadline_at=soon)
    assert failed.action is Action.FAIL and failed.until == day_reset(NOW)
    error = exhausted_error(failed, spent)
    assert error["code"] == "quota_exhausted" and error["resets_at"] == "2026-12-07T08:00:00Z"
    assert "per-day" in error["message"] and error["scope"] == "day"
    later = NOW + dt.timedelta(days=2)
    parked = decide(spent, NOW, backoff=1.0, time_left=400.0, deadline_at=later)
    assert parked.action is Action.PARK and parked.until == day_reset(NOW)


def test_other_429s_wait_the_longer_of_vertex_and_backoff_here_or_hand_back():
    found = QuotaHint(QuotaScope.MINUTE, retry_delay=20.0)
    here = decide(found, NOW, backoff=2.0, time_left=100.0, deadline_at=None)
    assert here.action is Action.RETRY and here.delay == 20.0
    shared = decide(QuotaHint(), NOW, backoff=3.0, time_left=100.0, deadline_at=None)
    assert shared.action is Action.RETRY and shared.delay == 3.0
    later = decide(found, NOW, backoff=2.0, time_left=10.0, deadline_at=None)
    assert later.action is Action.HAND_BACK
    assert later.until == NOW + dt.timedelta(seconds=20)


def test_the_limiter_takes_no_slot_before_a_reset_it_was_told():
    assert blocked_until(None) == 0.0
    state = block(None, 105.5)
    assert blocked_until(state) == 105.5 and state["factor"] == 1.0
    assert block(state, 101.0) is None  # already blocked longer
    slots = plan(100.2, 2, 1.0, 10, set(), not_before=blocked_until(state))
    assert [s.window for s in slots] == [106, 107]
    assert plan(100.2, 1, 1.0, 3, set(), not_before=105.5) == []


# -- the adapter, against the stand-in over a socket ---------------------------------------


@pytest.fixture(scope="module")
def standin():
    server, thread = serve(0)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _call(standin: str, prompt: str):
    from imagegen.adapters.vertex import VertexClient
    from imagegen.domain.catalog import load_catalog
    from imagegen.domain.request import JobRequest
    from imagegen.errors import RetryableUpstream

    spec = load_catalog("", "")["gemini-3.1-flash-image"]
    req = JobRequest.model_validate({"prompt": prompt, "region": "global"})
    with pytest.raises(RetryableUpstream) as info:
        VertexClient("proj", endpoint_override=standin).generate(spec, req, "global")
    return info.value


def test_a_per_day_429_names_its_quota_and_reset(standin):
    error = _call(standin, "hints [[quota:day]] [[retry_delay:34]]")
    assert error.status == 429 and error.quota and error.quota_scope == "day"
    assert error.resets_at == day_reset(dt.datetime.now(dt.UTC))
    assert error.retry_after == 34.0
    assert "per-day Vertex AI quota is exhausted" in error.message
    assert "GenerateContentRequestsPerDayPerProjectPerBaseModel" in error.message


def test_a_per_minute_429s_retry_info_is_the_wait(standin):
    error = _call(standin, "hints [[quota:minute]] [[retry_delay:7.5]]")
    assert error.quota_scope == "minute" and error.retry_after == 7.5
    assert error.resets_at is not None


def test_provisioned_throughput_and_the_shared_pool_are_told_apart(standin):
    pt = _call(standin, "hints [[quota:pt]]")
    assert pt.quota_scope == "provisioned_throughput" and pt.retry_after is None
    assert "Provisioned Throughput is exceeded" in pt.message
    shared = _call(standin, "hints [[quota:shared]]")
    assert shared.quota_scope == "shared" and shared.resets_at is None
    assert "shared capacity" in shared.message
