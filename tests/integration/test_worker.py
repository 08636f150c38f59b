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
    return submission.submit(services, {"prompt": f"{unique} a red fox", **body}).job.id


def _requests_for(vertex_url, unique):
    got = requests.get(f"{vertex_url}/_standin/requests", timeout=5).json()
    return [r for r in got if unique in str(r["body"])]


def _image(services, uri) -> Image.Image:
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    data = services.storage._client.bucket(bucket).blob(name).download_as_bytes()
    return Image.open(io.BytesIO(data))


def test_gemini_job_succeeds_with_outputs_and_metadata(
    make_services, idle_queue, unique, vertex_url
):
    services = make_services(tasks_queue=idle_queue)
    job_id = _submit(services, unique, aspect_ratio="16:9", labels={"team": "art"})
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    assert job.state == "succeeded" and job.attempts == 1
    assert job.served_by.to_json() == {"model": "gemini-3.1-flash-image", "location": "global"}
    [output] = job.outputs
    assert output.uri == f"gs://{services.settings.outputs_bucket}/jobs/{job_id}/0.png"
    image = _image(services, output.uri)
    assert image.size == (1376, 768)
    assert (output.width, output.height) == (1376, 768) and output.bytes > 0
    assert "imagegen-job-id" not in image.info  # the file is as Vertex sent it (issue 25)
    assert output.synthid is True
    assert job.cost_usd == pytest.approx(0.0672)
    assert job.partial_outputs is None
    [sent] = _requests_for(vertex_url, unique)
    assert sent["location"] == "global" and sent["method"] == "generateContent"
    assert sent["body"]["labels"] == {"team": "art", "imagegen-job": job_id}


def test_a_routed_imagen_job_records_what_was_asked_and_what_served(
    make_services, idle_queue, unique, vertex_url
):
    services = make_services(tasks_queue=idle_queue)
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
    assert job.request["model_requested"] == "imagen-4.0-fast-generate-001"
    assert job.served_by.model == "gemini-3.1-flash-image"
    assert any("imagen-4.0-fast-generate-001" in w for w in job.warnings)
    assert [o.index for o in job.outputs] == [0, 1, 2]
    assert _image(services, job.outputs[2].uri).size == (768, 1376)
    sent = _requests_for(vertex_url, unique)
    assert len(sent) == 3 and {r["model"] for r in sent} == {"gemini-3.1-flash-image"}
    config = sent[0]["body"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingLevel": 4}  # MINIMAL
    assert config["imageConfig"]["personGeneration"] == 3  # ALLOW_NONE


def test_a_failed_call_keeps_the_other_images_and_asks_only_for_the_missing(
    make_services, idle_queue, unique, vertex_url
):
    """Three images, one call fails with 503 once: the two that came back are stored at
    once and the retry asks for one image, not three (none generated or billed twice)."""
    services = make_services(tasks_queue=idle_queue)
    rule = {"match": {"prompt_contains": unique}, "status": 503, "times": 1}
    requests.post(f"{vertex_url}/_standin/faults", json={"rules": [rule]}, timeout=5)
    try:
        job_id = _submit(services, unique, number_of_images=3)
        assert generate(services, job_id) == "succeeded"
    finally:
        requests.delete(f"{vertex_url}/_standin/faults", timeout=5)
    job = services.jobs.get(job_id)
    assert [o.index for o in job.outputs] == [0, 1, 2]
    assert job.images_produced == 3
    assert job.cost_usd == pytest.approx(3 * 0.0672)
    assert len(_requests_for(vertex_url, unique)) == 4  # 3 calls, then 1 for the missing


def test_a_redelivery_continues_from_the_images_stored(
    make_services, idle_queue, unique, vertex_url
):
    """The attempt runs out of time after two of three images: they are recorded on the job
    and the redelivered attempt asks Vertex for the third only."""
    services = make_services(tasks_queue=idle_queue, call_budget_seconds=1.5)
    rule = {"match": {"prompt_contains": unique}, "status": 503, "times": 1, "latency_ms": 1200}
    requests.post(f"{vertex_url}/_standin/faults", json={"rules": [rule]}, timeout=5)
    try:
        job_id = _submit(services, unique, number_of_images=3)
        with pytest.raises(RetryLater):
            generate(services, job_id)
        job = services.jobs.get(job_id)
        assert job.state == "queued" and len(job.partial_outputs) == 2
        first = len(_requests_for(vertex_url, unique))
        assert generate(services, job_id) == "succeeded"
    finally:
        requests.delete(f"{vertex_url}/_standin/faults", timeout=5)
    job = services.jobs.get(job_id)
    assert [o.index for o in job.outputs] == [0, 1, 2] and job.attempts == 2
    assert len(_requests_for(vertex_url, unique)) - first == 1
    assert job.cost_usd == pytest.approx(3 * 0.0672)


def test_a_delivered_size_that_differs_is_a_warning_and_priced_as_delivered(
    make_services, idle_queue, unique
):
    services = make_services(tasks_queue=idle_queue)
    job_id = _submit(services, f"[[size:1K]] {unique}", image_size="4K", aspect_ratio="1:1")
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    [output] = job.outputs
    assert (output.width, output.height, output.priced_size) == (1024, 1024, "1K")
    assert job.cost_usd == pytest.approx(0.0672)  # not the 4K price
    [warning] = [w for w in job.warnings if "delivered" in w]
    assert "1024x1024" in warning and "4096x4096" in warning


def test_redelivery_of_a_finished_job_does_nothing(make_services, idle_queue, unique, vertex_url):
    services = make_services(tasks_queue=idle_queue)
    job_id = _submit(services, unique)
    generate(services, job_id)
    assert generate(services, job_id) == "terminal"
    assert len(_requests_for(vertex_url, unique)) == 1


def test_gemini_safety_block_ends_blocked(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)
    job_id = _submit(services, f"[[block:IMAGE_SAFETY]] {unique}")
    assert generate(services, job_id) == "blocked"
    job = services.jobs.get(job_id)
    assert job.outputs == [] and "IMAGE_SAFETY" in job.error.message


def test_quota_errors_are_retried_within_the_call(make_services, idle_queue, unique, vertex_url):
    services = make_services(tasks_queue=idle_queue)
    job_id = _submit(services, f"[[fail:429x2]] {unique}")
    assert generate(services, job_id) == "succeeded"
    assert len(_requests_for(vertex_url, unique)) == 3


def test_not_served_fails_over_to_the_next_location(make_services, idle_queue, unique, vertex_url):
    services = make_services(tasks_queue=idle_queue, fallback_locations=["us-central1", "us-east1"])
    job_id = _submit(services, f"[[notserved:global]] {unique}", model="gemini-3-pro-image")
    assert generate(services, job_id) == "succeeded"
    job = services.jobs.get(job_id)
    assert job.served_by.to_json() == {"model": "gemini-3-pro-image", "location": "us-central1"}
    assert [r["location"] for r in _requests_for(vertex_url, unique)] == ["global", "us-central1"]


def test_out_of_time_hands_the_job_back_for_redelivery(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue, call_budget_seconds=0.5)
    job_id = _submit(services, f"[[fail:503x50]] {unique}")
    with pytest.raises(RetryLater):
        generate(services, job_id)
    job = services.jobs.get(job_id)
    assert job.state == "queued" and job.attempts == 1
    assert job.error.code == "upstream_retryable" and job.error.attempt == 1
    # the dead-letter handler ends it with that error when deliveries run out
    assert upkeep.dead_letter(services, job_id, delivery_attempts=5)
    job = services.jobs.get(job_id)
    assert job.state == "failed" and "after 5 delivery attempts" in job.error.message


def test_final_upstream_error_fails_at_once(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)
    job_id = _submit(services, f"[[fail:400x1]] {unique}")
    assert generate(services, job_id) == "failed"
    assert services.jobs.get(job_id).error.code == "upstream_final"


def test_attempts_beyond_the_limit_fail_the_job(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue, max_attempts=1, call_budget_seconds=0.2)
    job_id = _submit(services, f"[[fail:500x9]] {unique}")
    with pytest.raises(RetryLater):
        generate(services, job_id)
    assert generate(services, job_id) == "failed"
    assert services.jobs.get(job_id).error.code == "attempts_exhausted"


def test_a_slow_call_is_cut_at_the_time_left(make_services, idle_queue, unique):
    import time

    services = make_services(tasks_queue=idle_queue, call_budget_seconds=2)
    job_id = _submit(services, f"[[latency:6000]] {unique}")
    started = time.monotonic()
    with pytest.raises(RetryLater):
        generate(services, job_id)
    assert time.monotonic() - started < 5  # the budget, not the upstream's latency
    job = services.jobs.get(job_id)
    assert job.state == "queued" and "Timeout" in job.error.message


def _sent(vertex_url, unique):
    [record] = _requests_for(vertex_url, unique)
    return record["body"]


def test_gemini_wire_with_references_sizes_and_mapping(
    make_services, idle_queue, unique, vertex_url, stack_env
):
    """gemini-3-pro-image at 2K with a gs:// and an inline reference; enums arrive as
    integers (the client sends `$alt=json;enum-encoding=int`)."""
    import base64

    services = make_services(tasks_queue=idle_queue)
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
        model="gemini-3-pro-image",
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
    assert config["responseModalities"] == [2]  # IMAGE only: no text was asked for
    assert config["seed"] == 7 and "candidateCount" not in config
    assert config["imageConfig"] == {
        "aspectRatio": "3:2",
        "imageSize": "2K",
        "personGeneration": 2,  # ALLOW_ADULT
    }
    assert {(s["category"], s["threshold"]) for s in body["safetySettings"]} == {
        (category, 1) for category in (1, 2, 3, 4)
    }  # BLOCK_LOW_AND_ABOVE
    job = services.jobs.get(job_id)
    assert _image(services, job.outputs[0].uri).size == (2528, 1696)
