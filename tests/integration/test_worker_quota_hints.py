"""Vertex's quota hints in the worker and the limiter (issue 27), against the emulators, the
Vertex stand-in and the Cloud Tasks stand-in over real sockets: a per-day 429 is not called
again before its reset — the job parks until then (a task scheduled at the reset) or, when
the reset is after its deadline, fails `quota_exhausted` with `resets_at`; once the limiter
has learnt it, the next job of the model parks or fails without a call; a 429's RetryInfo
is waited; the shared limiter takes no slot before a reset it was told."""

from __future__ import annotations

import datetime as dt
import time

import requests

from imagegen.adapters.limiter_firestore import FirestoreLimiter
from imagegen.domain.limiter import QuotaTable
from imagegen.domain.quota_hints import day_reset
from imagegen.services import submission
from imagegen.services.worker import generate


def _submit(services, prompt: str) -> str:
    return submission.submit(services, {"prompt": prompt}).job.id


def _calls(vertex_url: str, unique: str) -> int:
    got = requests.get(f"{vertex_url}/_standin/requests", timeout=5).json()
    return sum(1 for r in got if unique in str(r["body"]))


def _reset() -> dt.datetime:
    return day_reset(dt.datetime.now(dt.UTC))


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def test_a_spent_day_parks_the_job_until_its_reset(
    make_services, idle_queue, tasks, unique, vertex_url
):
    """Main read no details: the per-day 429 looked like a minute's and was retried with a
    1-32 s backoff for the whole call budget, every retry a call into a spent quota. Now one
    call, and the job waits for the reset queued, with a task scheduled then."""
    services = make_services(tasks_queue=idle_queue, call_budget_seconds=8)
    job_id = _submit(services, f"{unique} [[quota:day]] [[retry_delay:34]]")
    assert generate(services, job_id) == "parked"
    # one call on each of the job's routes (global, then the us-central1 fallback)
    assert _calls(vertex_url, unique) == len(services.settings.fallback_locations) + 1
    job = services.jobs.get(job_id)
    reset = _reset()
    assert job.state == "queued" and job.attempts == 1 and job.parked_until == reset
    assert "per-day Vertex AI quota is exhausted" in job.error.message
    assert _iso(reset) in job.error.message
    assert job.task in tasks.names(idle_queue)
    task = tasks.get(job.task)
    assert task["scheduleTime"].startswith(reset.strftime("%Y-%m-%dT%H:%M:%S"))


def test_a_spent_day_that_resets_after_the_deadline_fails_now(
    make_services, idle_queue, unique, vertex_url
):
    services = make_services(tasks_queue=idle_queue, job_deadline_seconds=60)
    job_id = _submit(services, f"{unique} [[quota:day]]")
    assert generate(services, job_id) == "failed"
    job = services.jobs.get(job_id)
    assert job.state == "failed" and job.error.code == "quota_exhausted"
    assert job.error.scope == "day" and job.error.resets_at == _reset()
    assert _iso(_reset()) in job.error.message and "deadline" in job.error.message


def test_once_learnt_a_spent_day_costs_the_next_jobs_no_call(
    make_services, idle_queue, unique, vertex_url
):
    """The limiter blocks every route that met the spent day until the reset, for every
    instance: the model's next job parks (or fails past its deadline) before its claim."""
    services = make_services(tasks_queue=idle_queue, vertex_requests_per_minute=600)
    services.limiter = FirestoreLimiter(
        services.firestore, f"day-{unique}", QuotaTable(600, (), 0.95)
    )
    first = _submit(services, f"{unique} first [[quota:day]]")
    assert generate(services, first) == "parked"
    calls = _calls(vertex_url, unique)
    second = _submit(services, f"{unique} second")  # this prompt would succeed
    assert generate(services, second) == "parked"
    job = services.jobs.get(second)
    assert job.attempts == 0 and job.parked_until == _reset() and job.task
    short = make_services(tasks_queue=idle_queue, job_deadline_seconds=60)
    short.limiter = services.limiter
    third = _submit(short, f"{unique} third")
    assert generate(short, third) == "failed"
    error = short.jobs.get(third).error
    assert error.code == "quota_exhausted" and error.resets_at == _reset()
    assert _calls(vertex_url, unique) == calls, "no call into a spent quota"


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
