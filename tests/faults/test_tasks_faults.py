"""Fault scenarios of the Cloud Tasks path (issue 27), against the whole local stack: a Vertex
429/503 storm, Cloud Tasks down at submit, a dispatch after the job's deadline, a parked job
delivered when its time comes, a message the Pub/Sub path still held when the deployment
moved, and the queue's own correctness at its rate: no loss, no double call, at most its
concurrency in flight, one dispatch a job.

Figures go into the fault suite's table (tests/faults/conftest.py) and docs/reliability.md.
Timings decide nothing: waits are bounded, and what is asserted is what happened."""

from __future__ import annotations

import datetime as dt
import time

import requests

from devstack import emulators
from tests.faults.test_faults import GEMINI, body, calls_per_job, tag


def _services(**overrides):
    """Services in this process, wired to the session stack (its environment), with any
    setting overridden."""
    from imagegen.bootstrap import Services
    from imagegen.config import load_settings

    return Services(load_settings().model_copy(update=overrides))


def _queue(faults, name: str, rate: float, concurrency: int, paused: bool = False) -> str:
    """A queue of the stand-in routed to the session's generate."""
    env = faults.env
    emulators.setup_tasks(
        endpoint=env["IMAGEGEN_TASKS_ENDPOINT"],
        project=env["GOOGLE_CLOUD_PROJECT"],
        location=env["IMAGEGEN_TASKS_LOCATION"],
        queues={name: rate},
        target=env["IMAGEGEN_TASKS_TARGET_URL"],
        concurrency=concurrency,
        min_backoff=1.0,
        max_backoff=10.0,
        paused=paused,
    )
    return name


def _sent(faults, unique: str, count: int) -> list[int]:
    """Images Vertex sent back per job (what would be billed)."""
    records = faults.calls(unique)
    return [
        sum(len(r.get("sent") or []) for r in records if tag(unique, i) in str(r["body"]))
        for i in range(count)
    ]


# -- 12. a Vertex 429/503 storm ----------------------------------------------------------------


def test_a_vertex_429_and_503_storm_loses_nothing_and_bills_each_image_once(
    faults, unique, expected_pngs
):
    """Every call of these jobs meets 429s or 503s first, more than one invocation can retry:
    the attempts go back to the queue (503 + Retry-After), come back with backoff, and each
    job ends with its one image, sent by Vertex once."""
    started = time.monotonic()
    n = 10
    storms = ["[[fail:429x7]]", "[[fail:503x5]]"]
    bodies = [body(unique, i, f"a lighthouse {storms[i % 2]}") for i in range(n)]
    ids = faults.submit_batch(bodies)
    outcome = faults.wait_all(ids, timeout=150)
    expected = {job_id: expected_pngs(job_id, 1) for job_id in ids}
    calls = calls_per_job(faults, unique, n)
    sent = _sent(faults, unique, n)
    dispatches = faults.dispatches(set(ids))
    faults.record(
        "12. Vertex 429/503 storm",
        n,
        "429x7 or 503x5 per job",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    assert len(dispatches) > n, "no attempt went back to the queue"
    for i, job_id in enumerate(ids):
        job = outcome.jobs[job_id]
        assert job["state"] == "succeeded", job
        assert sent[i] == 1, f"job {i}: Vertex sent {sent[i]} images (billed), expected 1"
        assert calls[i] == (8 if i % 2 == 0 else 6), f"job {i}: {calls[i]} calls"


# -- 13. Cloud Tasks down at submit ------------------------------------------------------------


def test_cloud_tasks_down_at_submit_is_503_and_keeps_nothing(faults, unique, expected_pngs):
    """CreateTask fails: submit answers 503 with Retry-After and withdraws the job (a job is
    queued or was never accepted); the client's retry with the same key is then accepted."""
    started = time.monotonic()
    key = f"{unique}-down"
    faults.tasks_faults(unavailable=1000)
    try:
        response = faults.http.post(
            f"{faults.api_url}/v1/jobs",
            json=body(unique, 0, "a harbour"),
            headers={"Idempotency-Key": key},
            timeout=30,
        )
    finally:
        faults.tasks_faults(unavailable=0)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) > 0
    status, payload = faults.submit(body(unique, 0, "a harbour"), key=key)
    assert status == 202, payload  # a new job: nothing of the refused one was kept
    outcome = faults.wait_all([payload["id"]], timeout=30)
    expected = {payload["id"]: expected_pngs(payload["id"], 1)}
    faults.record(
        "13. Cloud Tasks down at submit",
        1,
        "CreateTask 503 until the retry",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls_per_job(faults, unique, 1)),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    assert outcome.jobs[payload["id"]]["state"] == "succeeded"


# -- 14. a dispatch after the job's deadline ---------------------------------------------------


def test_a_dispatch_after_the_deadline_fails_the_job_without_a_call(faults, unique):
    """A task that comes after the job's deadline (a backlog, a long park) ends the job
    `deadline_exceeded` at its claim; Vertex is not called."""
    started = time.monotonic()
    idle = _queue(faults, "held-jobs", 1.0, 1, paused=True)
    services = _services(tasks_queue=idle, job_deadline_seconds=1)
    from imagegen.services import submission

    job = submission.submit(services, body(unique, 0, "a late ferry")).job
    time.sleep(1.5)  # past its deadline, its task still held
    live = _services()
    live.queue.enqueue(live.queue.task_name(job.id, job.model, fresh=True), job.id)
    outcome = faults.wait_all([job.id], timeout=30)
    faults.record(
        "14. dispatch after the deadline",
        1,
        "task delivered 0.5 s past the deadline",
        outcome,
        0,
        sum(calls_per_job(faults, unique, 1)),
        time.monotonic() - started,
    )
    faults.check(outcome, {job.id: set()})
    stored = outcome.jobs[job.id]
    assert stored["state"] == "failed" and stored["error"]["code"] == "deadline_exceeded"
    assert calls_per_job(faults, unique, 1) == [0]


# -- 15. a parked job is delivered when its time comes -----------------------------------------


def test_a_parked_job_is_delivered_at_its_time_and_not_before(faults, unique, expected_pngs):
    """Parking (a spent quota, services/parking.py) schedules the job's next task at the
    reset: nothing is delivered in between, then the job runs once."""
    from imagegen.services import parking, submission

    started = time.monotonic()
    idle = _queue(faults, "held-jobs", 1.0, 1, paused=True)
    held = _services(tasks_queue=idle)
    job = submission.submit(held, body(unique, 0, "a moonrise")).job
    live = _services()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)
    assert parking.park(live, job, until, reason="test: a quota that resets soon") == "parked"
    parked = faults.job(job.id)
    assert parked["state"] == "queued" and faults.dispatches({job.id}) == []
    outcome = faults.wait_all([job.id], timeout=40)
    expected = {job.id: expected_pngs(job.id, 1)}
    dispatched = faults.dispatches({job.id})
    faults.record(
        "15. parked until a reset",
        1,
        "parked 4 s",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls_per_job(faults, unique, 1)),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    assert outcome.jobs[job.id]["state"] == "succeeded"
    assert len(dispatched) == 1 and dispatched[0]["ts"] >= until.timestamp()
    assert calls_per_job(faults, unique, 1) == [1]


# -- 16. a message the Pub/Sub path still held -------------------------------------------------


def test_a_job_message_of_the_pubsub_path_is_forwarded_and_run_once(faults, unique, expected_pngs):
    """A deployment that moves to Cloud Tasks finishes what its jobs topic held: generate
    hands the message's job to its queue (its first task, named by its id) and acknowledges
    it; a redelivered copy makes no second task."""
    from google.cloud import pubsub_v1

    from imagegen.services import submission

    started = time.monotonic()
    idle = _queue(faults, "held-jobs", 1.0, 1, paused=True)
    # a job queued elsewhere whose message is on the jobs topic, as the old submit made it
    job = submission.submit(_services(tasks_queue=idle), body(unique, 0, "a tugboat")).job
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(faults.env["GOOGLE_CLOUD_PROJECT"], "jobs")
    for _ in range(2):  # delivered twice
        publisher.publish(topic, b'{"job_id": "%s"}' % job.id.encode(), job_id=job.id).result()
    outcome = faults.wait_all([job.id], timeout=40)
    expected = {job.id: expected_pngs(job.id, 1)}
    time.sleep(1.0)
    faults.record(
        "16. a Pub/Sub message of before",
        1,
        "the message published twice",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls_per_job(faults, unique, 1)),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    assert outcome.jobs[job.id]["state"] == "succeeded"
    assert calls_per_job(faults, unique, 1) == [1]
    assert len(faults.dispatches({job.id})) == 1


# -- 17. the queue at its rate: no loss, no double call, bounded concurrency -------------------


def test_a_backlog_waits_in_the_queue_and_each_job_is_dispatched_once(
    faults, unique, expected_pngs
):
    """20 jobs at once into a queue of 4 dispatches a second and 2 at a time: the backlog
    waits in the queue (the sweeper, asked meanwhile, queues none of them again: their tasks
    still wait), every job runs once, one call each, dispatched in the order they came (the
    stand-in's order; Cloud Tasks promises none, and the worker needs none)."""
    from imagegen.services import submission

    started = time.monotonic()
    name = _queue(faults, f"rate-{unique[:20]}", 4.0, 2)
    services = _services(tasks_queue=name)
    n = 20
    ids = [
        submission.submit(services, body(unique, i, "a lamp [[latency:400]]", GEMINI)).job.id
        for i in range(n)
    ]
    # the sweeper runs all along: jobs waiting longer than IMAGEGEN_REQUEUE_AFTER (5 s) in
    # the backlog still have their task, so it queues none of them again
    faults.sweep_until_terminal(ids, timeout=90, every=1.0)
    outcome = faults.wait_all(ids, timeout=10)
    expected = {job_id: expected_pngs(job_id, 1) for job_id in ids}
    calls = calls_per_job(faults, unique, n)
    dispatches = faults.dispatches(set(ids))
    stats = requests.get(
        f"{faults.env['IMAGEGEN_TASKS_ENDPOINT']}/_standin/stats", timeout=10
    ).json()["queues"][faults.queue_path(name)]
    faults.record(
        "17. backlog at 4/s, 2 at once",
        n,
        "20 jobs at once",
        outcome,
        faults.duplicates(outcome, expected),
        sum(calls),
        time.monotonic() - started,
    )
    faults.check(outcome, expected)
    assert calls == [1] * n, calls
    # one dispatch a job, of its first task (none was queued again), in the order they came
    assert [d["task"] for d in sorted(dispatches, key=lambda d: d["started"])] == ids
    assert stats["max_in_flight"] <= 2
    for job_id in ids:
        assert outcome.jobs[job_id]["state"] == "succeeded"
        assert outcome.jobs[job_id]["attempts"] == 1
