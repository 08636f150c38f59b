"""The worker in-process against the real emulators and the Vertex stand-in: the production
client objects, pointed at local endpoints. Faults come from directives in the prompt, so
each test's faults are its own."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image

from imagegen.services import submission, upkeep
from imagegen.services.worker import RetryLater, generate


def _submit(services, unique, **body):
    return submission.submit(services, {"prompt": f"{unique} a red fox", **body}).job["id"]


def _requests_for(vertex_url, unique):
    got = requests.get(f"{vertex_url}/_standin/requests", timeout=5).json()
    return [r for r in got if unique in str(r["body"])]


def _image(services, uri) -> Image.Image:
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    data = services.storage._client.bucket(bucket).blob(name).download_as_bytes()
    return Image.open(io.BytesIO(data))


def test_gemini_job_succeeds_with_outputs_and_metadata(
    make_services, idle_topic, unique, vertex_url
):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(services, unique, aspect_ratio="16:9", labels={"team": "art"})
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    assert job["state"] == "succeeded" and job["attempts"] == 1
    assert job["served_by"] == {"model": "gemini-2.5-flash-image", "location": "global"}
    [output] = job["outputs"]
    assert output["uri"] == f"gs://{services.settings.outputs_bucket}/jobs/{job_id}/0.png"
    image = _image(services, output["uri"])
    assert image.size == (1344, 768)
    assert image.text["imagegen-job-id"] == job_id
    assert job["cost_usd"] == pytest.approx(0.039)
    [sent] = _requests_for(vertex_url, unique)
    assert sent["location"] == "global" and sent["method"] == "generateContent"
    assert sent["body"]["labels"] == {"team": "art", "imagegen-job": job_id}


def test_imagen_job_sends_watermark_and_stores_every_sample(
    make_services, idle_topic, unique, vertex_url
):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(
        services,
        unique,
        model="imagen-4.0-fast-generate-001",
        number_of_images=3,
        aspect_ratio="9:16",
        person_generation="dont_allow",
    )
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    assert [o["index"] for o in job["outputs"]] == [0, 1, 2]
    assert _image(services, job["outputs"][2]["uri"]).size == (768, 1408)
    [sent] = _requests_for(vertex_url, unique)
    assert sent["location"] == "us-central1" and sent["method"] == "predict"
    params = sent["body"]["parameters"]
    assert params["addWatermark"] is True and params["personGeneration"] == "dont_allow"
    assert params["sampleCount"] == 3


def test_redelivery_of_a_finished_job_does_nothing(make_services, idle_topic, unique, vertex_url):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(services, unique)
    generate(services, job_id)
    assert generate(services, job_id) == "terminal"
    assert len(_requests_for(vertex_url, unique)) == 1


def test_gemini_safety_block_ends_blocked(make_services, idle_topic, unique):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(services, f"[[block:IMAGE_SAFETY]] {unique}")
    assert generate(services, job_id) == "blocked"
    job = services.jobs.get(job_id)
    assert job["outputs"] == [] and "IMAGE_SAFETY" in job["error"]["message"]


def test_imagen_partial_block_keeps_the_rest(make_services, idle_topic, unique):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(
        services, f"[[partial:1]] {unique}", model="imagen-4.0-generate-001", number_of_images=3
    )
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    assert len(job["outputs"]) == 2 and len(job["blocked_images"]) == 1


def test_quota_errors_are_retried_within_the_call(make_services, idle_topic, unique, vertex_url):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(services, f"[[fail:429x2]] {unique}")
    assert generate(services, job_id) == "succeeded"
    assert len(_requests_for(vertex_url, unique)) == 3


def test_quota_fails_over_to_the_next_location(make_services, idle_topic, unique, vertex_url):
    services = make_services(
        jobs_topic=idle_topic, fallback_locations=["europe-west4", "asia-northeast1"]
    )
    job_id = _submit(
        services, f"[[notserved:us-central1]] {unique}", model="imagen-4.0-generate-001"
    )
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    assert job["served_by"] == {"model": "imagen-4.0-generate-001", "location": "europe-west4"}
    assert [r["location"] for r in _requests_for(vertex_url, unique)] == [
        "us-central1",
        "europe-west4",
    ]


def test_out_of_time_hands_the_job_back_for_redelivery(make_services, idle_topic, unique):
    services = make_services(jobs_topic=idle_topic, call_budget_seconds=0.5)
    job_id = _submit(services, f"[[fail:503x50]] {unique}")
    with pytest.raises(RetryLater):
        generate(services, job_id)
    job = services.jobs.get(job_id)
    assert job["state"] == "queued" and job["attempts"] == 1
    assert job["error"]["code"] == "upstream_retryable" and job["error"]["attempt"] == 1
    # the dead-letter handler ends it with that error when deliveries run out
    assert upkeep.dead_letter(services, job_id, delivery_attempts=5)
    job = services.jobs.get(job_id)
    assert job["state"] == "failed" and "after 5 delivery attempts" in job["error"]["message"]


def test_final_upstream_error_fails_at_once(make_services, idle_topic, unique):
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(services, f"[[fail:400x1]] {unique}")
    assert generate(services, job_id) == "failed"
    assert services.jobs.get(job_id)["error"]["code"] == "upstream_final"


def test_attempts_beyond_the_limit_fail_the_job(make_services, idle_topic, unique):
    services = make_services(jobs_topic=idle_topic, max_attempts=1, call_budget_seconds=0.2)
    job_id = _submit(services, f"[[fail:500x9]] {unique}")
    with pytest.raises(RetryLater):
        generate(services, job_id)
    assert generate(services, job_id) == "failed"
    assert services.jobs.get(job_id)["error"]["code"] == "attempts_exhausted"


def test_a_slow_call_is_cut_at_the_time_left(make_services, idle_topic, unique):
    import time

    services = make_services(jobs_topic=idle_topic, call_budget_seconds=2)
    job_id = _submit(services, f"[[latency:6000]] {unique}")
    started = time.monotonic()
    with pytest.raises(RetryLater):
        generate(services, job_id)
    assert time.monotonic() - started < 5  # the budget, not the upstream's latency
    job = services.jobs.get(job_id)
    assert job["state"] == "queued" and "Timeout" in job["error"]["message"]


def _sent(vertex_url, unique):
    [record] = _requests_for(vertex_url, unique)
    return record["body"]


def test_imagen_wire_carries_every_option(make_services, idle_topic, unique, vertex_url):
    """What the real REST client puts on the wire for Imagen (parameters travel as a
    protobuf Struct, so numbers arrive as doubles)."""
    services = make_services(jobs_topic=idle_topic)
    job_id = _submit(
        services,
        unique,
        model="imagen-3.0-generate-001",
        number_of_images=2,
        aspect_ratio="4:3",
        add_watermark=False,
        seed=1234,
        negative_prompt="fog",
        person_generation="allow_all",
        safety_filter_level="block_few",
        language="en",
        output={"mime_type": "image/jpeg", "compression_quality": 70},
    )
    assert generate(services, job_id) == "succeeded"
    body = _sent(vertex_url, unique)
    assert body["instances"] == [{"prompt": f"{unique} a red fox"}]
    assert body["parameters"] == {
        "sampleCount": 2.0,
        "aspectRatio": "4:3",
        "addWatermark": False,
        "includeRaiReason": True,
        "seed": 1234.0,
        "negativePrompt": "fog",
        "personGeneration": "allow_all",
        "safetySetting": "block_only_high",
        "language": "en",
        "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 70.0},
    }
    job = services.jobs.get(job_id)
    assert job["outputs"][0]["uri"].endswith("/0.jpg")
    assert _image(services, job["outputs"][1]["uri"]).size == (1280, 896)


def test_gemini_wire_with_references_sizes_and_mapping(
    make_services, idle_topic, unique, vertex_url, stack_env
):
    """gemini-3-pro-image-preview at 2K with a gs:// and an inline reference; enums arrive
    as integers (the client sends `$alt=json;enum-encoding=int`)."""
    import base64

    services = make_services(jobs_topic=idle_topic)
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(png, "PNG")
    inline = base64.b64encode(png.getvalue()).decode()
    ref = f"gs://{stack_env['IMAGEGEN_UPLOADS_BUCKET']}/refs/{unique}.png"
    services.storage.write(
        stack_env["IMAGEGEN_UPLOADS_BUCKET"], f"refs/{unique}.png", png.getvalue(), "image/png"
    )
    job_id = _submit(
        services,
        unique,
        model="gemini-3-pro-image-preview",
        image_size="2K",
        aspect_ratio="3:2",
        person_generation="allow_adult",
        safety_filter_level="block_low_and_above",
        seed=7,
        reference_images=[{"gcs_uri": ref}, {"data": inline}],
    )
    assert generate(services, job_id) == "succeeded"
    stored_inline = f"gs://{stack_env['IMAGEGEN_OUTPUTS_BUCKET']}/jobs/{job_id}/inputs/1.png"
    assert services.storage.read(stored_inline, 10_000) == png.getvalue()
    body = _sent(vertex_url, unique)
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"fileData": {"fileUri": ref, "mimeType": "image/png"}},
                # inline references are stored at submit and sent by reference
                {"fileData": {"fileUri": stored_inline, "mimeType": "image/png"}},
                {"text": f"{unique} a red fox"},
            ],
        }
    ]
    config = body["generationConfig"]
    assert config["responseModalities"] == [1, 2]  # TEXT, IMAGE
    assert config["seed"] == 7 and config["candidateCount"] == 1
    assert config["imageConfig"] == {
        "aspectRatio": "3:2",
        "imageSize": "2K",
        "personGeneration": 2,  # ALLOW_ADULT
        "imageOutputOptions": {"mimeType": "image/png"},
    }
    assert {(s["category"], s["threshold"]) for s in body["safetySettings"]} == {
        (category, 1) for category in (1, 2, 3, 4)
    }  # BLOCK_LOW_AND_ABOVE
    job = services.jobs.get(job_id)
    assert _image(services, job["outputs"][0]["uri"]).size == (2528, 1696)
