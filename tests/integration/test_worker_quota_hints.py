"""Vertex's quota hints in the worker and the limiter (issue 27), against the emulators and
the Vertex stand-in over real sockets: a per-day 429 is not retried within the invocation
and the job's error says which quota and when it resets; a 429's RetryInfo is waited; the
shared limiter takes no slot before a reset it was told."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from imagegen.adapters.limiter_firestore import FirestoreLimiter
from imagegen.domain.limiter import QuotaTable
from imagegen.domain.quota_hints import day_reset
from imagegen.services import submission
from imagegen.services.worker import RetryLater, generate


def _submit(services, prompt: str) -> str:
    return submission.submit(services, {"prompt": prompt}).job.id


def _calls(vertex_url: str, unique: str) -> int:
    got = requests.get(f"{vertex_url}/_standin/requests", timeout=5).json()
    return sum(1 for r in got if unique in str(r["body"]))


def test_a_spent_day_is_not_retried_in_the_invocation(
    make_services, idle_queue, unique, vertex_url
):
    """Main read no details: the per-day 429 looked like a minute's and was retried with a
    1-32 s backoff for the whole call budget, every retry a call into a spent quota."""
    services = make_services(tasks_queue=idle_queue, call_budget_seconds=8)
    job_id = _submit(services, f"{unique} [[quota:day]] [[retry_delay:34]]")
    with pytest.raises(RetryLater):
        generate(services, job_id)
    assert _calls(vertex_url, unique) == 1  # one route (global), no retry before the reset
    job = services.jobs.get(job_id)
    assert job.state == "queued" and job.attempts == 1
    message = job.error.message
    assert "per-day Vertex AI quota is exhausted" in message
    reset = day_reset(dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    assert reset.replace("+00:00", "Z") in message


def test_a_minutes_retry_info_is_waited_before_the_next_call(
    make_services, idle_queue, unique, vertex_url
):
    services = make_services(tasks_queue=idle_queue, call_budget_seconds=8)
    job_id = _submit(services, f"{unique} [[quota:minutex1]] [[retry_delay:3]]")
    started = time.monotonic()
    assert generate(services, job_id) == "succeeded"
    assert time.monotonic() - started >= 3.0  # not the 0.5-1 s first backoff
    assert _calls(vertex_url, unique) == 2


def test_the_limiter_takes_no_slot_before_a_reset_it_was_told(make_services, unique):
    from google.cloud import firestore

    services = make_services()
    s = services.settings
    client = firestore.Client(project=s.project, database=s.firestore_database)
    limiter = FirestoreLimiter(client, f"hints-{unique}", QuotaTable(600, (), 1.0))
    other = FirestoreLimiter(client, f"hints-{unique}", QuotaTable(600, (), 1.0))
    assert limiter.acquire("m", "global", 1, 0.0) == 0.0
    resets = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    assert limiter.throttled("m", "global", resets_at=resets)
    assert other.acquire("m", "global", 1, 2.0) is None  # shared: every worker learns it
    wait = other.acquire("m", "global", 1, 6.0)
    assert wait is not None and wait >= 3.0
    assert other.acquire("m", "us-east1", 1, 0.0) == 0.0  # another route is not blocked
