"""The whole product on the local stack, as a client sees it: HTTP in, Pub/Sub relay,
generate, Vertex stand-in, Cloud Storage emulator, job out."""

from __future__ import annotations

import io
import time

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from PIL import Image

TERMINAL = {"succeeded", "blocked", "failed", "cancelled"}


def wait(http, url: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while True:
        job = http.get(url, timeout=10).json()
        if job["state"] in TERMINAL:
            return job
        if time.monotonic() > end:
            raise AssertionError(f"job not terminal after {timeout}s: {job}")
        time.sleep(0.2)


def read_image(stack_env, uri: str) -> Image.Image:
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    client = storage.Client(
        project=stack_env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials()
    )
    blob = client.bucket(bucket).get_blob(name)
    image = Image.open(io.BytesIO(blob.download_as_bytes()))
    image.metadata_from_gcs = blob.metadata or {}
    return image


@pytest.mark.parametrize(
    ("body", "size", "method", "location"),
    [
        (
            {"model": "imagen-4.0-generate-001", "aspect_ratio": "16:9"},
            (1408, 768),
            "predict",
            "us-central1",
        ),
        (
            {"model": "gemini-2.5-flash-image", "aspect_ratio": "1:1"},
            (1024, 1024),
            "generateContent",
            "global",
        ),
        (
            {"model": "gemini-3-pro-image-preview", "image_size": "4K", "aspect_ratio": "16:9"},
            (5504, 3072),
            "generateContent",
            "global",
        ),
    ],
)
def test_job_end_to_end(http, api_url, vertex_url, stack_env, unique, body, size, method, location):
    prompt = f"{unique} a lighthouse at dusk"
    response = http.post(f"{api_url}/v1/jobs", json={"prompt": prompt, **body}, timeout=10)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    job = wait(http, accepted["status_url"])
    assert job["state"] == "succeeded", job
    [output] = job["outputs"]
    assert output["uri"].endswith(f"/jobs/{job['id']}/0.png")
    image = read_image(stack_env, output["uri"])
    assert image.size == size
    assert image.metadata_from_gcs["imagegen-job-id"] == job["id"]
    assert image.metadata_from_gcs["imagegen-watermark"] == "synthid"
    assert job["served_by"] == {"model": body["model"], "location": location}
    assert job["started_at"] <= job["finished_at"]
    sent = [
        r
        for r in http.get(f"{vertex_url}/_standin/requests", timeout=5).json()
        if unique in str(r["body"])
    ]
    assert [(r["method"], r["location"], r["model"]) for r in sent] == [
        (method, location, body["model"])
    ]
    if method == "predict":
        assert sent[0]["body"]["parameters"]["addWatermark"] is True
        assert sent[0]["body"]["instances"] == [{"prompt": prompt}]
    else:
        assert sent[0]["body"]["contents"][-1]["parts"][-1] == {"text": prompt}


def test_unknown_job_is_404(http, api_url):
    response = http.get(f"{api_url}/v1/jobs/nope", timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_malformed_body_is_400_json(http, api_url):
    response = http.post(
        f"{api_url}/v1/jobs",
        data="{not json",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "body"


def test_non_json_is_415(http, api_url):
    response = http.post(
        f"{api_url}/v1/jobs",
        data="prompt=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 415 and response.json()["error"]["code"]


def test_wrong_method_is_405(http, api_url):
    response = http.put(f"{api_url}/v1/jobs", json={}, timeout=5)
    assert response.status_code == 405 and response.headers["Allow"] == "POST"


def test_unknown_route_is_404(http, api_url):
    assert http.get(f"{api_url}/v2/things", timeout=5).status_code == 404


def test_models_lists_the_catalog(http, api_url):
    body = http.get(f"{api_url}/v1/models", timeout=5).json()
    ids = {m["id"] for m in body["models"]}
    assert body["default"] == "gemini-2.5-flash-image"
    assert {"imagen-4.0-generate-001", "gemini-3-pro-image-preview"} <= ids


def test_openapi_covers_every_route_and_field(http, api_url):
    doc = http.get(f"{api_url}/v1/openapi.json", timeout=5).json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/outputs/{n}",
        "/v1/models",
        "/v1/openapi.json",
    }
    assert set(doc["webhooks"]) == {"jobEvent"}
    assert set(doc["paths"]["/v1/jobs/{job_id}"]) == {"get", "delete"}
    from imagegen.domain.request import JobRequest

    properties = doc["components"]["schemas"]["JobRequest"]["properties"]
    assert set(properties) == set(JobRequest.model_fields)


def test_deprecated_model_warns(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": unique, "model": "imagen-3.0-generate-002"},
        timeout=10,
    )
    assert any("deprecated" in w for w in response.json()["warnings"])


def test_blocked_prompt_ends_blocked(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs", json={"prompt": f"[[block:prompt]] {unique}"}, timeout=10
    )
    job = wait(http, response.json()["status_url"])
    assert job["state"] == "blocked" and job["error"]["code"] == "blocked"


def test_transient_faults_still_succeed(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs", json={"prompt": f"[[fail:500x1]] [[fail:429x1]] {unique}"}, timeout=10
    )
    job = wait(http, response.json()["status_url"])
    assert job["state"] == "succeeded"
