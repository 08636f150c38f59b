"""Issue 16 end to end on the local stack, with every Pub/Sub message delivered three times
by the relay: a job with a webhook to a local receiver gets each chosen event exactly once,
signed so that it verifies with the secret; `job-events` carries exactly one event per
transition; `outputs[0].url` downloads without credentials; an upload's answer is
rewritten with the outputs when the job ends."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
import requests

from devstack.emulators import pull_job_events
from devstack.webhook_receiver import Receiver
from imagegen.services.uploads import answer_name
from imagegen_client.client import Client, verify_webhook

pytestmark = pytest.mark.stack
TERMINAL = {"succeeded", "blocked", "failed", "cancelled"}


@pytest.fixture
def receiver():
    local = Receiver([204])
    yield local.url, local.requests
    local.close()


@pytest.fixture
def duplicating_relay(stack):
    """The relay delivering every message (jobs and job-events alike) three times at once."""
    stack.kill("relay")
    stack.start_component("relay", extra_env={"DEVSTACK_RELAY_DUPLICATES": "3"})
    try:
        yield
    finally:
        stack.kill("relay")
        stack.start_component("relay")


def _events_for(tap, job_id: str) -> list[dict]:
    return pull_job_events(*tap, job_id, quiet=3.0)


def test_webhook_events_once_signed_and_url_downloads(
    stack_env, api_url, receiver, duplicating_relay, event_tap, unique, openapi_schema
):
    url, got = receiver
    client = Client(api_url, caller=f"e2e-{unique}")
    wanted = ["queued", "running", "succeeded"]
    job = client.submit(
        {
            "prompt": f"{unique} a lighthouse",
            "model": "gemini-3-pro-image",
            "webhook": {"url": url, "events": wanted},
        }
    )
    job = client.wait(job["id"], timeout=90)
    assert job["state"] == "succeeded", job

    # outputs carry a signed URL that downloads with no credentials at all
    output = job["outputs"][0]
    assert output["url"].startswith(stack_env["STORAGE_EMULATOR_HOST"]) and output["url_expires_at"]
    response = requests.get(output["url"], timeout=10)
    assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"
    owner = {"X-Imagegen-Caller": f"e2e-{unique}"}
    redirect = requests.get(
        f"{api_url}/v1/jobs/{job['id']}/outputs/0",
        headers=owner,
        allow_redirects=False,
        timeout=10,
    )
    assert redirect.status_code == 302 and "X-Goog-Signature=" in redirect.headers["Location"]
    missing = requests.get(f"{api_url}/v1/jobs/{job['id']}/outputs/7", headers=owner, timeout=10)
    assert missing.status_code == 404
    # another caller gets the same 404 for an output that exists: no URL, no existence leak
    other = {"X-Imagegen-Caller": f"other-{unique}"}
    stranger = requests.get(
        f"{api_url}/v1/jobs/{job['id']}/outputs/0", headers=other, allow_redirects=False, timeout=10
    )
    assert stranger.status_code == 404

    # every transition once on job-events, despite three copies of every jobs message
    events = _events_for(event_tap, job["id"])
    states = [e["type"].rsplit(".", 1)[1] for e in events]
    assert sorted(states) == sorted(wanted), states
    assert len({e["id"] for e in events}) == len(events)

    # each chosen event reached the receiver once (three copies of each job-events message)
    deadline = time.monotonic() + 30
    while len(got) < len(wanted) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # room for a duplicate to show up, if there were one
    secret = stack_env["IMAGEGEN_WEBHOOK_SECRET"]
    delivered = [verify_webhook(body, headers, secret) for headers, body in got]
    assert sorted(e["type"].rsplit(".", 1)[1] for e in delivered) == sorted(wanted)
    assert {e["id"] for e in delivered} == {e["id"] for e in events}
    final = next(e for e in delivered if e["type"].endswith("succeeded"))
    assert requests.get(final["data"]["outputs"][0]["url"], timeout=10).status_code == 200

    # and every attempt is on the job (recorded right after the receiver's answer)
    deadline = time.monotonic() + 30
    seen = client.get(job["id"]).get("webhook_deliveries") or {}
    while any(d["status"] == "pending" for d in seen.values()) and time.monotonic() < deadline:
        time.sleep(0.3)
        seen = client.get(job["id"])["webhook_deliveries"]
    assert len(seen) == len(wanted)
    assert {d["status"] for d in seen.values()} == {"delivered"}
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status"] == 204 for d in seen.values())

    # the events (topic and webhook alike) and the job with its deliveries are what the
    # OpenAPI document says (JobEvent's data is the job view)
    for event in [*events, *delivered]:
        assert openapi_schema("JobEvent").is_valid(event), event
    assert openapi_schema("Job").is_valid(client.get(job["id"]))


def test_client_and_cli_download_through_signed_urls(api_url, tmp_path, unique, monkeypatch):
    # no storage emulator for the client: only the signed URL can work
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    client = Client(api_url, caller=f"e2e-{unique}")
    job = client.wait(client.submit({"prompt": f"{unique} a fox"})["id"], timeout=90)
    [path] = client.download(job, tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_upload_answer_is_rewritten_with_outputs(stack_env, unique):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gcs = storage.Client(
        project=stack_env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    name = f"requests/{unique}.json"
    gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name).upload_from_string(
        json.dumps({"prompt": f"{unique} a kite"}), content_type="application/json"
    )
    assert answer_name(name) == f"results/requests/{unique}.json"
    blob = gcs.bucket(stack_env["IMAGEGEN_OUTPUTS_BUCKET"]).blob(answer_name(name))
    deadline = time.monotonic() + 90
    answer: dict = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            answer = json.loads(blob.download_as_bytes())
        if answer.get("status") in TERMINAL:
            break
        time.sleep(0.3)
    assert answer.get("status") == "succeeded", answer
    assert answer["outputs"][0]["uri"].startswith("gs://")
    assert requests.get(answer["outputs"][0]["url"], timeout=10).status_code == 200
