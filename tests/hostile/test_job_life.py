"""Every edge of a job's life is fenced: dead letters respect a live lease, malformed push
messages are acknowledged, a result too large to store fails the job once, a Pub/Sub
outage is a quick 503 with nothing kept, and any object name reaches the upload path."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import time

import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from imagegen.domain.document_size import (
    DOCUMENT_MARGIN_BYTES,
    MAX_DOCUMENT_BYTES,
    document_bytes,
)
from imagegen.domain.job import Outcome, utcnow
from imagegen.ports import Claim
from imagegen.services import submission, upkeep
from imagegen.services.uploads import answer_name
from imagegen.services.worker import generate
from tests.hostile.support import bearer, record


def _calls(vertex_url: str, tag: str) -> int:
    records = requests.get(f"{vertex_url}/_standin/requests", timeout=10).json()
    return sum(1 for r in records if tag in json.dumps(r["body"]))


def test_dead_letter_leaves_a_job_a_live_worker_holds(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)
    job = submission.submit(services, {"prompt": f"{unique} held"}).job
    claim = Claim.of(services.jobs.transact(job.id, lambda j: j.claim(utcnow(), 60)))
    assert claim.attempt == 1
    # the dead letter of an earlier delivery arrives while this worker holds a fresh lease
    assert upkeep.dead_letter(services, job.id, 5) is False
    assert services.jobs.get(job.id).state == "running"
    # so the worker's result is accepted
    outcome = Outcome(state=_succeeded(), outputs=[], cost_usd=0.0)
    assert services.jobs.transact(job.id, lambda j: j.finish(1, outcome, utcnow())).changed
    assert services.jobs.get(job.id).state == "succeeded"

    # a lapsed lease is no protection: the dead letter ends that job
    other = submission.submit(services, {"prompt": f"{unique} abandoned"}).job
    services.jobs.transact(other.id, lambda j: j.claim(utcnow(), 60))
    services.jobs._ref(other.id).update(
        {"lease_expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
    )
    assert upkeep.dead_letter(services, other.id, 5) is True
    ended = services.jobs.get(other.id)
    assert ended.state == "failed" and ended.error.code == "delivery_exhausted"
    record("dead letter vs a live lease", ["kept running", "failed after lapse"])


def _succeeded():
    from imagegen.domain.job import State

    return State.SUCCEEDED


def _push(job_id, *, attempt=None) -> dict:
    attributes = {"job_id": job_id}
    if attempt is not None:
        attributes["CloudPubSubDeadLetterSourceDeliveryCount"] = attempt
    return {
        "message": {
            "data": base64.b64encode(json.dumps({"job_id": job_id}).encode()).decode(),
            "attributes": attributes,
            "messageId": "1",
        },
        "subscription": "projects/p/subscriptions/hostile",
    }


def _raw(message: dict) -> dict:
    return {"message": {**message, "messageId": "9"}, "subscription": "projects/p/subscriptions/h"}


def test_malformed_push_messages_are_acknowledged(stack_env):
    """Sent to the running `generate` and `dead_letter` functions as raw push bodies.
    (A body whose `data` is not base64, or whose attributes are missing or not strings,
    is refused with a 400 by functions-framework itself before any code of ours runs; our
    publishes always carry string attributes and Pub/Sub always sends base64.)"""
    project = stack_env["GOOGLE_CLOUD_PROJECT"]
    topic = f"projects/{project}/topics/jobs"
    bodies = [
        _push("a/b"),
        _push("../../usage/x"),
        _push("x" * 2000),
        _push("ok-id", attempt="many"),
        _raw({"data": base64.b64encode(b"[1, 2]").decode(), "attributes": {"a": "b"}}),
        _raw({"data": base64.b64encode(b"{}").decode(), "attributes": {"job_id": ""}}),
    ]
    statuses = []
    for url in (stack_env["DEVSTACK_GENERATE_URL"], stack_env["DEVSTACK_DEAD_LETTER_URL"]):
        for body in bodies:
            response = requests.post(f"{url}/{topic}", json=body, timeout=30)
            statuses.append(response.status_code)
            assert response.status_code < 300, (url, body, response.status_code)
    record("malformed push messages (generate, dead_letter)", statuses)


def test_malformed_task_dispatches_are_acknowledged(stack_env):
    """Sent to the running `generate` as Cloud Tasks would: a body that names no job (not
    JSON, no id, an id that is a path) is answered 2xx and logged, since any other answer
    makes Cloud Tasks try the task again until the job's deadline; a probe that is not a
    POST is refused."""
    url = stack_env["DEVSTACK_GENERATE_URL"] + "/"
    headers = {"Content-Type": "application/json", "X-CloudTasks-TaskRetryCount": "x"}
    bodies = [b"not json", b"[1, 2]", b"{}", b'{"job_id": "a/b"}', b'{"job_id": 7}']
    bodies.append(json.dumps({"job_id": "x" * 2000}).encode())
    bodies.append(b"[" * 5000)  # deeper than any task body
    statuses = []
    for raw in bodies:
        response = requests.post(url, data=raw, headers=headers, timeout=30)
        statuses.append(response.status_code)
        assert response.status_code == 200, (raw[:40], response.status_code, response.text)
        assert response.json()["outcome"] == "ignored"
    missing = requests.post(url, json={"job_id": "no-such-job"}, headers=headers, timeout=30)
    assert missing.status_code == 200 and missing.json()["outcome"] == "missing"
    assert requests.get(url, timeout=30).status_code == 405
    record("malformed task dispatches (generate)", [*statuses, missing.status_code])


def test_a_result_too_large_to_store_fails_once_with_its_objects_removed(
    make_services, idle_queue, vertex_url, unique
):
    """A job whose document is already near Firestore's 1 MiB (as long refine chains made
    before the cap): its finished document cannot be stored. It must end `failed` with the
    reason after one Vertex call, not run again and again."""
    services = make_services(tasks_queue=idle_queue)
    job = submission.submit(services, {"prompt": f"{unique} big"}).job
    # fill the stored document to just under the worker's limit
    room = MAX_DOCUMENT_BYTES - DOCUMENT_MARGIN_BYTES - document_bytes(job) - 400
    services.jobs._ref(job.id).update({"warnings": ["w" * room]})
    assert generate(services, job.id) == "failed"
    ended = services.jobs.get(job.id)
    assert ended.state == "failed"
    assert ended.error.code == "result_too_large"
    assert ended.outputs == [] and ended.cost_usd > 0  # the spend is kept
    deleted = ended.error.deleted_outputs
    assert deleted and all(services.storage.generation(uri) is None for uri in deleted)
    # a redelivery finds it terminal: one billable call in all
    assert generate(services, job.id) == "terminal"
    calls = _calls(vertex_url, f"{unique} big")
    assert calls == 1
    record(
        "finished document over 1 MiB",
        [ended.state],
        extra_calls=calls - 1,
        stuck=0 if ended.state == "failed" else 1,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_submit_answers_quickly_with_503_while_cloud_tasks_is_down(
    make_services, idle_queue, deployed, issuer, unique
):
    from imagegen.http_api import Api
    from tests.hostile.support import flask_client

    settings = deployed[0].settings
    services = make_services(
        **{k: getattr(settings, k) for k in _AUTH_SETTINGS},
        tasks_endpoint=f"http://127.0.0.1:{_closed_port()}",  # nothing answers there
    )
    client = flask_client(Api(services))
    me = f"outage-{unique}@example.com"
    headers = {**bearer(issuer.token(me)), "Idempotency-Key": unique}
    statuses, slowest = [], 0.0
    for i in range(3):
        started = time.monotonic()
        response = client.post("/v1/jobs", json={"prompt": f"{unique} {i}"}, headers=headers)
        slowest = max(slowest, time.monotonic() - started)
        statuses.append(response.status_code)
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
    assert slowest < 10.0, slowest  # a bound, not a benchmark (22 s before)
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert services.jobs.between(start, start + dt.timedelta(days=1), me) == []
    # the same request once Cloud Tasks is back is a new job, not a replay of a withdrawn one
    _, working = deployed
    again = working.post("/v1/jobs", json={"prompt": f"{unique} 2"}, headers=headers)
    statuses.append(again.status_code)
    assert again.status_code == 202
    record(f"submit while Cloud Tasks is down (slowest {slowest:.1f} s)", statuses, lost=0)


_AUTH_SETTINGS = ("trust_caller_header", "auth_certs_url", "token_audiences", "admin_members")


def test_upload_names_outside_latin1_reach_the_upload_path(stack_env, http, api_url, unique):
    """The local watcher sent object names in HTTP headers, which are Latin-1: such
    uploads vanished without a job, an answer or a log line."""
    client = storage.Client(
        project=stack_env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    uploads = client.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"])
    outputs = client.bucket(stack_env["IMAGEGEN_OUTPUTS_BUCKET"])
    names = [f"requests/{unique}-zażółć-日本語-🖼.json", f"requests/{unique}-plain.json"]
    for name in names:
        uploads.blob(name).upload_from_string(
            json.dumps({"prompt": f"{unique} upload"}), content_type="application/json"
        )
    statuses = []
    for name in names:
        answer = outputs.blob(answer_name(name))
        end = time.monotonic() + 30
        while not answer.exists():
            assert time.monotonic() < end, f"no answer for {name}"
            time.sleep(0.2)
        body = json.loads(answer.download_as_bytes())
        assert body["upload"].endswith(name) and body["job_id"]
        job = http.get(f"{api_url}/v1/jobs/{body['job_id']}", timeout=5)
        statuses.append(job.status_code)
        assert job.status_code == 200
    record("uploads named outside Latin-1", statuses, lost=0)
