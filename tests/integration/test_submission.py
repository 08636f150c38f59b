"""Submit, cancel and sweep against the real emulators, through the real HTTP handler (the
submit function's Flask app, in-process) with a topic nobody consumes, so jobs stay queued
long enough to act on them."""

from __future__ import annotations

import datetime as dt

import flask
import pytest
from google.cloud import pubsub_v1

from imagegen.http_api import Api
from imagegen.services import submission, upkeep


@pytest.fixture
def idle_services(make_services, idle_queue):
    return make_services(tasks_queue=idle_queue)


@pytest.fixture
def client(idle_services):
    api = Api(idle_services, trust_caller_header=True)
    app = flask.Flask(__name__)
    app.add_url_rule(
        "/", "api", lambda: api.handle(flask.request), methods=["GET", "POST", "DELETE", "PUT"]
    )
    app.add_url_rule(
        "/<path:path>",
        "api_path",
        lambda path: api.handle(flask.request),
        methods=["GET", "POST", "DELETE", "PUT"],
    )
    return app.test_client()


def _pull(stack_env, topic: str) -> list[str]:
    subscriber = pubsub_v1.SubscriberClient()
    project = stack_env["GOOGLE_CLOUD_PROJECT"]
    sub = subscriber.subscription_path(project, f"{topic}-probe")
    try:
        subscriber.create_subscription(name=sub, topic=f"projects/{project}/topics/{topic}")
    except Exception as exc:
        if "AlreadyExists" not in type(exc).__name__:
            raise
    got = subscriber.pull(subscription=sub, max_messages=100, timeout=5)
    if got.received_messages:
        subscriber.acknowledge(subscription=sub, ack_ids=[m.ack_id for m in got.received_messages])
    return [m.message.attributes["job_id"] for m in got.received_messages]


def test_submit_records_and_publishes(client, idle_services, stack_env, unique):
    _pull(stack_env, "idle-jobs")  # drain
    response = client.post("/v1/jobs", json={"prompt": f"{unique} a boat"})
    assert response.status_code == 202
    job = response.get_json()
    assert job["state"] == "queued" and job["status_url"].endswith(f"/v1/jobs/{job['id']}")
    assert response.headers["Location"] == job["status_url"]
    stored = idle_services.jobs.get(job["id"])
    assert stored.request["model"] == "gemini-3.1-flash-image"
    assert job["id"] in _pull(stack_env, "idle-jobs")


def test_cancel_a_queued_job(client, unique):
    job = client.post("/v1/jobs", json={"prompt": f"{unique} cancel me"}).get_json()
    response = client.delete(f"/v1/jobs/{job['id']}")
    assert response.status_code == 200 and response.get_json()["state"] == "cancelled"
    again = client.delete(f"/v1/jobs/{job['id']}")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    assert client.get(f"/v1/jobs/{job['id']}").get_json()["state"] == "cancelled"


def test_cancelled_job_is_not_run(client, idle_services, unique):
    from imagegen.services.worker import generate

    job = client.post("/v1/jobs", json={"prompt": f"{unique} never"}).get_json()
    client.delete(f"/v1/jobs/{job['id']}")
    assert generate(idle_services, job["id"]) == "terminal"


def test_idempotency_key(client, unique):
    body = {"prompt": f"{unique} once"}
    headers = {"Idempotency-Key": unique, "X-Imagegen-Caller": "alice"}
    first = client.post("/v1/jobs", json=body, headers=headers)
    again = client.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    other = client.post("/v1/jobs", json={"prompt": "different"}, headers=headers)
    assert other.status_code == 409
    # the key is per caller: bob's request with the same key is his own job
    bob = client.post("/v1/jobs", json=body, headers={**headers, "X-Imagegen-Caller": "bob"})
    assert bob.status_code == 202 and bob.get_json()["id"] != first.get_json()["id"]


def test_invalid_request_writes_nothing(client, idle_services, stack_env, unique):
    _pull(stack_env, "idle-jobs")
    response = client.post(
        "/v1/jobs",
        json={
            "prompt": unique,
            "model": "gemini-3-pro-image",
            "aspect_ratio": "2:1",
            "number_of_images": 9,
        },
    )
    assert response.status_code == 400
    fields = {d["field"] for d in response.get_json()["error"]["details"]}
    assert fields == {"number_of_images", "aspect_ratio"}
    assert _pull(stack_env, "idle-jobs") == []


def test_publish_failure_is_503_and_leaves_no_job(make_services, idle_queue, unique):
    services = make_services(jobs_topic="no-such-topic")
    with pytest.raises(Exception) as info:
        submission.submit(services, {"prompt": unique}, idempotency_key=unique)
    assert getattr(info.value, "http_status", None) == 503
    # nothing was kept: the same key on a working queue makes a new job, not a replay
    working = make_services(tasks_queue=idle_queue)
    again = submission.submit(working, {"prompt": unique}, idempotency_key=unique)
    assert again.created


def test_sweep_republishes_idle_jobs_and_expires_overdue_ones(idle_services, stack_env, unique):
    _pull(stack_env, "idle-jobs")
    idle = submission.submit(idle_services, {"prompt": f"{unique} idle"}).job
    overdue = submission.submit(idle_services, {"prompt": f"{unique} overdue"}).job
    idle_services.jobs._ref(overdue.id).update(
        {"deadline_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}
    )
    _pull(stack_env, "idle-jobs")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(
        seconds=idle_services.settings.requeue_after_seconds + 5
    )
    counts = upkeep.sweep(idle_services, now=later)
    assert counts["expired"] >= 1 and counts["republished"] >= 1
    assert idle.id in _pull(stack_env, "idle-jobs")
    assert idle_services.jobs.get(overdue.id).error.code == "deadline_exceeded"
    assert idle_services.jobs.get(idle.id).state == "queued"


def test_body_over_the_limit_is_413(make_services, idle_queue):
    api = Api(make_services(tasks_queue=idle_queue, max_body_bytes=1000))
    app = flask.Flask(__name__)
    app.add_url_rule("/v1/jobs", "jobs", lambda: api.handle(flask.request), methods=["POST"])
    response = app.test_client().post("/v1/jobs", json={"prompt": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
