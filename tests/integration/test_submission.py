"""Submit, cancel and sweep against the real emulators, through the real HTTP handler (the
submit function's Flask app, in-process) with a paused Cloud Tasks queue of the stand-in,
so jobs stay queued long enough to act on them."""

from __future__ import annotations

import datetime as dt

import flask
import pytest

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


def _job_ids(tasks, queue: str) -> list[str]:
    """The jobs whose tasks wait in `queue` (a task is named by its job id, or the job id and
    a suffix when the job was queued again)."""
    return [name.rpartition("/tasks/")[2].split("-")[0] for name in tasks.names(queue)]


def test_submit_records_and_enqueues(client, idle_services, tasks, unique):
    response = client.post("/v1/jobs", json={"prompt": f"{unique} a boat"})
    assert response.status_code == 202
    job = response.get_json()
    assert job["state"] == "queued" and job["status_url"].endswith(f"/v1/jobs/{job['id']}")
    assert response.headers["Location"] == job["status_url"]
    stored = idle_services.jobs.get(job["id"])
    assert stored.request["model"] == "gemini-3.1-flash-image"
    # its task is named by the job id (a retried create meets it instead of making another)
    assert job["id"] in _job_ids(tasks, "idle-jobs")


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


def test_invalid_request_writes_nothing(client, idle_services, tasks, unique):
    before = tasks.names("idle-jobs")
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
    assert tasks.names("idle-jobs") == before


def test_queue_failure_is_503_and_leaves_no_job(make_services, idle_queue, unique):
    services = make_services(tasks_queue="no-such-queue")
    with pytest.raises(Exception) as info:
        submission.submit(services, {"prompt": unique}, idempotency_key=unique)
    assert getattr(info.value, "http_status", None) == 503
    # nothing was kept: the same key on a working queue makes a new job, not a replay
    working = make_services(tasks_queue=idle_queue)
    again = submission.submit(working, {"prompt": unique}, idempotency_key=unique)
    assert again.created


def test_sweep_requeues_jobs_whose_task_is_gone_and_expires_overdue_ones(
    idle_services, tasks, unique
):
    """A job waiting its turn (its task still in the queue) is not queued again, however long
    it waits; one whose task is gone gets a fresh one (recorded on the job); an overdue one
    fails."""
    waiting = submission.submit(idle_services, {"prompt": f"{unique} waiting"}).job
    lost = submission.submit(idle_services, {"prompt": f"{unique} lost"}).job
    overdue = submission.submit(idle_services, {"prompt": f"{unique} overdue"}).job
    idle_services.jobs._ref(overdue.id).update(
        {"deadline_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)}
    )
    tasks.delete(idle_services.queue.task_name(lost.id, lost.model))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(
        seconds=idle_services.settings.requeue_after_seconds + 5
    )
    counts = upkeep.sweep(idle_services, now=later)
    assert counts["expired"] >= 1 and counts["republished"] >= 1 and counts["waiting"] >= 1
    names = tasks.names("idle-jobs")
    assert [t for t in names if f"/tasks/{waiting.id}" in t] == [
        idle_services.queue.task_name(waiting.id, waiting.model)
    ], "a job whose task still waits is not queued again"
    fresh = [t for t in names if f"/tasks/{lost.id}-" in t]
    assert len(fresh) == 1 and idle_services.jobs.get(lost.id).task == fresh[0]
    assert idle_services.jobs.get(overdue.id).error.code == "deadline_exceeded"
    assert idle_services.jobs.get(lost.id).state == "queued"


def test_body_over_the_limit_is_413(make_services, idle_queue):
    api = Api(make_services(tasks_queue=idle_queue, max_body_bytes=1000))
    app = flask.Flask(__name__)
    app.add_url_rule("/v1/jobs", "jobs", lambda: api.handle(flask.request), methods=["POST"])
    response = app.test_client().post("/v1/jobs", json={"prompt": "x" * 2000})
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
