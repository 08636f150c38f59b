"""Jobs from uploads: files dropped in the uploads bucket of the local stack become jobs
(through the local stand-in of the Eventarc storage trigger), and every upload gets an
answer object under results/ in the outputs bucket."""

from __future__ import annotations

import io
import json
import time

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from PIL import Image

from imagegen.bootstrap import Services
from imagegen.config import load_settings
from imagegen.events import STORAGE_FINALIZED
from imagegen.services.uploads import answer_name, handle_upload


@pytest.fixture(scope="module")
def gcs(stack_env):
    return storage.Client(
        project=stack_env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )


def _answer(gcs, stack_env, name: str, timeout: float = 30) -> dict:
    blob = gcs.bucket(stack_env["IMAGEGEN_OUTPUTS_BUCKET"]).blob(answer_name(name))
    end = time.monotonic() + timeout
    while not blob.exists():
        if time.monotonic() > end:
            raise AssertionError(f"no answer for {name} after {timeout}s")
        time.sleep(0.2)
    return json.loads(blob.download_as_bytes())


def _wait_job(http, api_url: str, job_id: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while True:
        job = http.get(f"{api_url}/v1/jobs/{job_id}", timeout=5).json()
        if job["state"] in {"succeeded", "blocked", "failed", "cancelled"}:
            return job
        assert time.monotonic() < end, job
        time.sleep(0.2)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(buf, "PNG")
    return buf.getvalue()


def test_json_request_upload_becomes_a_job(gcs, stack_env, http, api_url, unique):
    name = f"requests/{unique}.json"
    body = {
        "prompt": f"{unique} a kite",
        "model": "gemini-3.1-flash-lite-image",
        "aspect_ratio": "4:3",
    }
    gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name).upload_from_string(
        json.dumps(body), content_type="application/json"
    )
    answer = _answer(gcs, stack_env, name)
    # queued at submit, rewritten when the job ends (issue 16)
    assert answer["status"] in {"queued", "succeeded"} and answer["upload"].endswith(name)
    job = _wait_job(http, api_url, answer["job_id"])
    assert job["state"] == "succeeded" and job["source"] == "upload"


def test_image_with_prompt_metadata_is_an_edit(gcs, stack_env, http, api_url, vertex_url, unique):
    name = f"edits/{unique}.png"
    blob = gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name)
    blob.metadata = {"prompt": f"{unique} make it night", "aspect_ratio": "16:9"}
    blob.upload_from_string(_png(), content_type="image/png")
    answer = _answer(gcs, stack_env, name)
    job = _wait_job(http, api_url, answer["job_id"])
    assert job["state"] == "succeeded", job
    uri = f"gs://{stack_env['IMAGEGEN_UPLOADS_BUCKET']}/{name}"
    [sent] = [
        r
        for r in http.get(f"{vertex_url}/_standin/requests", timeout=5).json()
        if unique in str(r["body"])
    ]
    parts = sent["body"]["contents"][0]["parts"]
    assert parts[0] == {"fileData": {"fileUri": uri, "mimeType": "image/png"}}
    assert parts[-1] == {"text": f"{unique} make it night"}


def test_image_with_sidecar_is_an_edit(gcs, stack_env, http, api_url, unique):
    bucket = gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"])
    name = f"edits/{unique}.png"
    bucket.blob(name).upload_from_string(_png(), content_type="image/png")
    bucket.blob(f"{name}.json").upload_from_string(
        json.dumps({"prompt": f"{unique} add snow"}), content_type="application/json"
    )
    answer = _answer(gcs, stack_env, f"{name}.json")
    assert _wait_job(http, api_url, answer["job_id"])["state"] == "succeeded"


def test_malformed_upload_gets_an_error_answer_and_no_job(gcs, stack_env, unique):
    name = f"requests/{unique}.json"
    gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name).upload_from_string(
        '{"prompt": "x", "number_of_images": "many"', content_type="application/json"
    )
    answer = _answer(gcs, stack_env, name)
    assert answer["error"]["code"] == "invalid_request" and "job_id" not in answer


def test_invalid_request_upload_lists_the_fields(gcs, stack_env, unique):
    name = f"requests/{unique}.json"
    gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name).upload_from_string(
        json.dumps({"prompt": "x", "model": "gemini-3.1-flash-lite-image", "image_size": "4K"}),
        content_type="application/json",
    )
    answer = _answer(gcs, stack_env, name)
    assert [d["field"] for d in answer["error"]["details"]] == ["image_size"]


def test_duplicate_event_makes_one_job(gcs, stack_env, unique):
    """The same finalized event delivered twice (as Eventarc may) meets the same job."""
    name = f"requests/{unique}.json"
    blob = gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name)
    blob.upload_from_string(
        json.dumps({"prompt": f"{unique} twice"}), content_type="application/json"
    )
    blob.reload()
    event = {
        "bucket": blob.bucket.name,
        "name": name,
        "generation": str(blob.generation),
        "size": str(blob.size),
        "metadata": {},
    }
    services = Services(load_settings())
    first = handle_upload(services, STORAGE_FINALIZED, event)
    second = handle_upload(services, STORAGE_FINALIZED, event)
    # the watcher may have delivered it already: either way, one job and a duplicate
    assert {first, second} <= {"queued", "duplicate"} and second == "duplicate"


def test_other_objects_are_ignored(stack_env):
    services = Services(load_settings())
    event = {
        "bucket": stack_env["IMAGEGEN_UPLOADS_BUCKET"],
        "name": "notes/readme.txt",
        "generation": "1",
        "size": "10",
    }
    assert handle_upload(services, STORAGE_FINALIZED, event) == "ignored"
    assert handle_upload(services, "google.cloud.storage.object.v1.deleted", event) == "ignored"


def test_a_request_file_nested_thousands_deep_is_refused_not_retried(gcs, stack_env, unique):
    """A 100,000-deep array (200 KB, under the 1 MiB cap) once raised RecursionError in
    on_upload, which Eventarc would retry for a day; it gets the HTTP API's 400 instead."""
    name = f"requests/{unique}.json"
    gcs.bucket(stack_env["IMAGEGEN_UPLOADS_BUCKET"]).blob(name).upload_from_string(
        "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    services = Services(load_settings())
    event = {
        "bucket": stack_env["IMAGEGEN_UPLOADS_BUCKET"],
        "name": name,
        "generation": "1",
        "size": "200000",
        "metadata": {},
    }
    assert handle_upload(services, STORAGE_FINALIZED, event) == "refused"
    answer = _answer(gcs, stack_env, name)
    assert answer["error"]["code"] == "invalid_request" and "job_id" not in answer
    assert "nested deeper than" in answer["error"]["details"][0]["message"]
