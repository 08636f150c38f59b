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
    ("body", "size", "location"),
    [
        (
            {"model": "gemini-3.1-flash-image", "image_size": "512", "aspect_ratio": "1:8"},
            (192, 1536),
            "global",
        ),
        ({"model": "gemini-3.1-flash-lite-image", "aspect_ratio": "1:1"}, (1024, 1024), "global"),
        (
            {"model": "gemini-3-pro-image", "image_size": "4K", "aspect_ratio": "16:9"},
            (5504, 3072),
            "global",
        ),
    ],
)
def test_job_end_to_end(http, api_url, vertex_url, stack_env, unique, body, size, location):
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
        ("generateContent", location, body["model"])
    ]
    assert sent[0]["body"]["contents"][-1]["parts"][-1] == {"text": prompt}
    assert (output["width"], output["height"]) == size and output["bytes"] > 0


def test_google_content_credentials_survive_to_the_signed_url(http, api_url, unique):
    """Issue 25's promise: a job on a model that carries Content Credentials (the stand-in
    signs as Vertex does) stores an image whose manifest still validates with c2pa-python —
    downloaded as a user does, through the job's signed URL — and the job says so."""
    import c2pa

    body = {"prompt": f"{unique} a heron", "model": "gemini-3-pro-image", "image_size": "2K"}
    response = http.post(f"{api_url}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    job = wait(http, response.json()["status_url"])
    assert job["state"] == "succeeded", job
    [output] = job["outputs"]
    assert output["content_credentials"]["valid"] is True, output
    assert output["content_credentials"]["digital_source_type"] == "trainedAlgorithmicMedia"
    assert output["synthid"] is True
    downloaded = http.get(output["url"], timeout=30)
    assert downloaded.status_code == 200 and len(downloaded.content) == output["bytes"]
    with c2pa.Reader("image/png", io.BytesIO(downloaded.content)) as reader:
        results = reader.get_validation_results() or {}
        failures = [f["code"] for f in results["activeManifest"].get("failure") or []]
        assert reader.get_validation_state() == "Valid", failures
    assert "assertion.dataHash.mismatch" not in failures


# The guide's two Vertex AI examples (../shared/guide/), sent as imagegen requests with the
# model names the guide teaches; both models are shut down, so their replacements serve them.
GUIDE_IMAGEN_3 = {
    "prompt": "A professional product photograph of a luxury watch on a marble surface, "
    "studio lighting, 8K quality",
    "model": "imagen-3.0-generate-001",
    "number_of_images": 4,
    "aspect_ratio": "1:1",
    "safety_filter_level": "block_some",
    "person_generation": "allow_adult",
    "add_watermark": True,
}
GUIDE_PRO_4K = {
    "prompt": "Ultra-detailed macro photograph of a butterfly wing, showing individual scales, "
    "iridescent colors, 4K resolution",
    "model": "gemini-3-pro-image-preview",
    "response_modalities": ["IMAGE"],
    "image_resolution": "4096",
}


@pytest.mark.parametrize(
    ("guide", "served", "count", "size"),
    [
        (GUIDE_IMAGEN_3, "gemini-3.1-flash-image", 4, (1024, 1024)),
        (GUIDE_PRO_4K, "gemini-3-pro-image", 1, (4096, 4096)),
    ],
    ids=["imagen-3-vertex-example", "pro-4k-example"],
)
def test_the_guides_vertex_examples_succeed(
    http, api_url, vertex_url, stack_env, unique, guide, served, count, size
):
    body = {**guide, "prompt": f"{unique} {guide['prompt']}"}
    response = http.post(f"{api_url}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    assert any(guide["model"] in w and served in w for w in response.json()["warnings"])
    job = wait(http, response.json()["status_url"], timeout=120)
    assert job["state"] == "succeeded", job
    assert job["request"]["model_requested"] == guide["model"]
    assert job["served_by"]["model"] == served
    assert len(job["outputs"]) == count
    for output in job["outputs"]:
        assert read_image(stack_env, output["uri"]).size == size
    sent = [
        r
        for r in http.get(f"{vertex_url}/_standin/requests", timeout=5).json()
        if unique in str(r["body"])
    ]
    assert len(sent) == count and {r["model"] for r in sent} == {served}


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


def test_models_lists_the_lineup_and_the_retired_names(http, api_url):
    body = http.get(f"{api_url}/v1/models", timeout=5).json()
    assert body["default"] == "gemini-3.1-flash-image"
    current = {m["id"]: m for m in body["models"] if not m["retired"]}
    assert set(current) == {
        "gemini-3.1-flash-image",
        "gemini-nano-banana-2.1",
        "gemini-3.1-flash-lite-image",
        "gemini-3-pro-image",
        "gemini-2.5-flash-image",
    }
    for model in current.values():
        assert model["sources"] and all(s["url"] and s["read"] for s in model["sources"])
        assert model["release_date"] and model["image_sizes"]
    assert list(current["gemini-nano-banana-2.1"]["image_sizes"]) == ["1K", "2K", "4K"]
    old = current["gemini-2.5-flash-image"]
    assert old["deprecation"]["retirement_date"] == "2027-03-15"
    assert old["deprecation"]["replacement"] == "gemini-3.1-flash-lite-image"
    assert current["gemini-3.1-flash-image"]["deprecation"] is None
    assert current["gemini-3.1-flash-image"]["other_platforms"][0]["platform"] == "gemini_api"
    retired = {m["id"]: m for m in body["models"] if m["retired"]}
    assert current["gemini-3-pro-image"]["c2pa_content_credentials"] is True
    assert current["gemini-3.1-flash-image"]["c2pa_content_credentials"] is False
    assert retired["imagen-4.0-ultra-generate-001"]["replacement"] == "gemini-3-pro-image"
    assert retired["imagegeneration@006"]["replacement"] == "gemini-3.1-flash-image"
    assert retired["imagetext@001"]["replacement"] is None
    assert retired["imagen-4.0-fast-generate-001"]["thinking_level"] == "minimal"
    assert all(m["routing"] == "route" and m["shutdown_date"] for m in retired.values())


def test_gemini_2_5_flash_image_is_served_as_asked_with_a_warning(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": unique, "model": "gemini-2.5-flash-image"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job = wait(http, response.json()["status_url"])
    assert job["state"] == "succeeded", job
    assert job["served_by"]["model"] == "gemini-2.5-flash-image"
    assert "model_requested" not in job["request"]
    assert any("2027-03-15" in w and "deprecated" in w for w in job["warnings"]), job


def test_the_captioning_model_is_a_400_that_says_what_it_was(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs", json={"prompt": unique, "model": "imagetext@001"}, timeout=10
    )
    assert response.status_code == 400
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "model" and "captioning" in detail["message"], detail


def test_openapi_covers_every_route_and_field(http, api_url):
    """The document lists every route the API answers, with the same methods (read from
    the API's own werkzeug routing table), and every field of the request and of the job."""
    import re
    import types

    from imagegen.domain.job_view import JobView
    from imagegen.domain.request import JobRequest
    from imagegen.http_api import Api

    doc = http.get(f"{api_url}/v1/openapi.json", timeout=5).json()
    assert doc["openapi"].startswith("3.1")
    routes: dict[str, set[str]] = {}
    for rule in Api.rules(types.SimpleNamespace(services=None)):
        path = re.sub(r"<(?:[^:<>]+:)?(\w+)>", r"{\1}", rule.rule)
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods or ())
    assert {path: set(ops) for path, ops in doc["paths"].items()} == routes
    assert set(doc["webhooks"]) == {"jobEvent", "batchCompleted"}
    schemas = doc["components"]["schemas"]
    assert set(schemas["JobRequest"]["properties"]) == set(JobRequest.model_fields)
    job = schemas["Job"]["properties"]
    assert set(job) == set(JobView.model_fields) | {"status"}
    assert {"thoughts", "parent_job_id", "enhanced_prompt", "images_produced"} <= set(job)
    assert job["status"]["deprecated"] is True  # `state` is the one word; `status` its alias
    assert "/v1/usage" in doc["paths"]


def test_a_retired_model_warns_that_its_replacement_serves_it(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": unique, "model": "imagen-3.0-generate-002"},
        timeout=10,
    )
    assert any("shut down" in w for w in response.json()["warnings"])


def test_watermark_off_cannot_be_translated(http, api_url, unique):
    response = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": unique, "model": "imagen-4.0-generate-001", "add_watermark": False},
        timeout=10,
    )
    assert response.status_code == 400
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "add_watermark" and "SynthID" in detail["message"]


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


def test_an_edit_with_no_ratio_keeps_its_inputs_shape(http, api_url, stack_env, unique):
    """An inline reference is stored in Cloud Storage at submit and sent as fileData; with
    no aspect_ratio asked none is sent, and the output keeps the 16:9 input's shape (the
    stand-in, like Vertex, reads the stored input itself)."""
    import base64

    photo = io.BytesIO()
    Image.new("RGB", (1600, 900), (40, 90, 160)).save(photo, "PNG")
    body = {
        "prompt": f"{unique} make it night",
        "model": "gemini-3.1-flash-image",
        "reference_images": [{"data": base64.b64encode(photo.getvalue()).decode()}],
    }
    response = http.post(f"{api_url}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    job = wait(http, response.json()["status_url"])
    assert job["state"] == "succeeded", job
    [output] = job["outputs"]
    assert (output["width"], output["height"]) == (1376, 768)
    assert read_image(stack_env, output["uri"]).size == (1376, 768)
    assert "aspect_ratio" not in job["request"]
