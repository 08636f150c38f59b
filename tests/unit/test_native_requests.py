"""The front doors' pure parts (issue 28): a native request's job body and field names, its
stored form and what the worker sends back out, the streamed answers, the reply shapes."""

from __future__ import annotations

import base64
import json

import pytest

from imagegen.domain.job import Job
from imagegen.errors import InvalidRequest
from imagegen.native import imagen_request, openai_api, vertex_reply, vertex_request
from imagegen.native.streaming import CHUNK_BYTES, Images


def parse(body: dict, model: str = "gemini-3.1-flash-image") -> vertex_request.NativeRequest:
    return vertex_request.parse(body, model=model, location="global", version="v1beta1")


def test_the_job_body_takes_what_the_catalog_checks_in_either_spelling():
    native = parse(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "first"}]},
                {"role": "model", "parts": [{"text": "ok"}]},
                {
                    "role": "user",
                    "parts": [{"fileData": {"file_uri": "gs://b/a.png"}}, {"text": "x"}],
                },
            ],
            "generation_config": {
                "image_config": {"image_size": "2K", "aspect_ratio": "16:9"},
                "thinkingConfig": {"thinkingLevel": 4, "includeThoughts": True},
                "responseModalities": ["IMAGE"],
            },
            "tools": [{"googleSearch": {}}],
            "labels": {"team": "art"},
        }
    )
    job = native.job_body()
    assert job["prompt"] == "x" and job["region"] == "global"
    assert (job["image_size"], job["aspect_ratio"], job["thinking_level"]) == (
        "2K",
        "16:9",
        "minimal",
    )
    assert job["google_search"] and job["include_thoughts"] and not job["response_text"]
    assert job["reference_images"] == [{"gcs_uri": "gs://b/a.png"}]
    assert native.field("image_size") == "generation_config.image_config.imageSize"
    hooked = native.job_body(webhook="https://hooks.example/x")  # X-Imagegen-Webhook
    assert hooked["webhook"] == {"url": "https://hooks.example/x"}
    assert native.field("reference_images.0.gcs_uri") == "contents[2].parts[0].fileData.fileUri"


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("pad", [True, False])
def test_stored_inline_images_go_out_spelled_as_they_came(encode, pad):
    raw = bytes(range(256)) * 3 + b"\xff\xfe"
    data = encode(raw).decode()
    data = data if pad else data.rstrip("=")
    body = {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": data}}]}]}
    native = parse(body)
    stored = native.stored([{"gcs_uri": "gs://out/jobs/j/inputs/0.png"}])
    assert data not in stored  # the bytes live in storage, not in the job
    sent, version = vertex_request.restore(stored, {"gs://out/jobs/j/inputs/0.png": raw}.get)
    assert (sent, version) == (body, "v1beta1")


def test_images_outside_contents_are_refused_by_path():
    with pytest.raises(InvalidRequest) as err:
        parse(
            {
                "contents": [{"parts": [{"text": "x"}]}],
                "systemInstruction": {"parts": [{"fileData": {"fileUri": "gs://b/x"}}]},
            }
        )
    assert [d["field"] for d in err.value.details] == ["systemInstruction.parts[0].fileData"]


def test_images_stream_in_base64_pieces_that_join():
    raw = bytes(range(256)) * (CHUNK_BYTES // 128)
    images = Images()
    payload = {"a": [{"data": images.mark(lambda: raw)}, {"data": images.mark(lambda: b"xy")}]}
    text = b"".join(images.chunks(payload))
    got = json.loads(text)
    assert base64.b64decode(got["a"][0]["data"]) == raw
    assert base64.b64decode(got["a"][1]["data"]) == b"xy"


def _job(**fields) -> Job:
    return Job.model_validate({"id": "j1", "state": "blocked", "model": "m", **fields})


def test_blocks_read_as_vertex_writes_them():
    prompt = vertex_reply.response(
        _job(blocked_images=[{"reason": "prompt blocked: PROHIBITED_CONTENT no"}]), Images(), None
    )
    assert prompt["promptFeedback"] == {
        "blockReason": "PROHIBITED_CONTENT",
        "blockReasonMessage": "no",
    }
    image = vertex_reply.response(
        _job(blocked_images=[{"reason": "IMAGE_SAFETY unable to show"}]), Images(), None
    )
    assert image["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    text = vertex_reply.response(
        _job(text=["a poem"], blocked_images=[{"reason": "no image returned (STOP)"}]),
        Images(),
        None,
    )
    assert text["candidates"][0] == {
        "content": {"role": "model", "parts": [{"text": "a poem"}]},
        "index": 0,
        "finishReason": "STOP",
    }


def test_failures_keep_vertex_status():
    job = _job(state="failed", error={"code": "upstream_final", "message": "m", "status": 403})
    assert vertex_reply.failure(job)[0] == 403
    job = _job(
        state="failed",
        error={
            "code": "attempts_exhausted",
            "message": "m",
            # an error always has its code and message (JobError: required)
            "last_error": {"code": "upstream_retryable", "message": "m", "status": 429},
        },
    )
    assert vertex_reply.failure(job)[0] == 429
    assert vertex_reply.failure(_job(state="cancelled"))[0] == 499


def test_imagen_parameters_become_a_job_request():
    body, paths = imagen_request.job_body(
        {
            "instances": [{"prompt": "a watch"}],
            "parameters": {"sampleCount": 4.0, "safetySetting": "block_some"},
        },
        model="imagen-3.0-generate-001",
        location="us-central1",
    )
    assert body["number_of_images"] == 4 and isinstance(body["number_of_images"], int)
    assert paths["number_of_images"] == "parameters.sampleCount"


def test_openai_sizes_map_to_size_and_ratio():
    from imagegen.domain.catalog import load_catalog

    catalog = load_catalog()
    assert (
        openai_api.job_request({"prompt": "x", "size": "1536x1024"}, catalog, [])["aspect_ratio"]
        == "3:2"
    )
    exact = openai_api.job_request({"prompt": "x", "size": "2752x1536"}, catalog, [])
    assert (exact["image_size"], exact["aspect_ratio"]) == ("2K", "16:9")
    with pytest.raises(InvalidRequest) as err:
        openai_api.job_request({"prompt": "x", "size": "1x1"}, catalog, [])
    assert "1024x1536" in err.value.message
