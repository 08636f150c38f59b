"""The local Vertex AI stand-in, driven through the real `PredictionServiceClient` (REST)
exactly as production drives Vertex AI, and through the project's Vertex adapter."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1.types import GenerateContentRequest, PredictRequest
from google.protobuf import json_format
from PIL import Image

from devstack import vertex_standin
from devstack.vertex_standin import create_app, render_image, serve

PROJECT = "proj"
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gcs():
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="outputs")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def standin(gcs):
    server, thread = serve(0, storage_endpoint=gcs)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def client(standin):
    return aiplatform_v1.PredictionServiceClient(
        transport="rest",
        client_options={"api_endpoint": standin},
        credentials=AnonymousCredentials(),
    )


def _http(method: str, url: str, body: dict | None = None) -> tuple[int, dict, dict]:
    resp = requests.request(method, url, json=body, timeout=10)
    return resp.status_code, resp.json(), dict(resp.headers)


def _path(location: str, model: str) -> str:
    return f"projects/{PROJECT}/locations/{location}/publishers/google/models/{model}"


def predict(client, model: str, prompt: str, location: str = "us-central1", **params) -> dict:
    params.setdefault("sampleCount", 1)
    params.setdefault("aspectRatio", "1:1")
    params.setdefault("addWatermark", True)
    params.setdefault("includeRaiReason", True)
    params.setdefault("outputOptions", {"mimeType": "image/png"})
    # PredictRequest(instances=[...]) raises TypeError (proto-plus #488); from_json works.
    request = PredictRequest.from_json(
        json.dumps(
            {
                "endpoint": _path(location, model),
                "instances": [{"prompt": prompt}],
                "parameters": params,
            }
        )
    )
    response = client.predict(request=request, retry=None, timeout=30)
    return json_format.MessageToDict(response._pb)


def generate(
    client, model: str, prompt: str, location: str = "global", parts=(), **image_config
) -> dict:
    image_config.setdefault("aspectRatio", "1:1")
    image_config.setdefault("imageOutputOptions", {"mimeType": "image/png"})
    body = {
        "model": _path(location, model),
        "contents": [{"role": "user", "parts": [*parts, {"text": prompt}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "candidateCount": 1,
            "imageConfig": image_config,
        },
    }
    request = GenerateContentRequest.from_json(json.dumps(body))
    response = client.generate_content(request=request, retry=None, timeout=30)
    return json_format.MessageToDict(response._pb)


def _image(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def _gemini_images(reply: dict) -> list[Image.Image]:
    return [
        _image(p["inlineData"]["data"])
        for c in reply.get("candidates", [])
        for p in c["content"].get("parts", [])
        if "inlineData" in p
    ]


def _last(standin: str, model: str) -> dict:
    status, records, _ = _http("GET", f"{standin}/_standin/requests?model={model}")
    assert status == 200 and records
    return records[-1]


# ----------------------------------------------------------------------------- basics


def test_health(standin):
    assert _http("GET", f"{standin}/_standin/health")[:2][1]["ok"] is True


@pytest.mark.parametrize(
    ("model", "ratio", "size", "mime", "expected"),
    [
        ("imagen-4.0-generate-001", "16:9", "2K", "image/png", (2816, 1536)),
        ("imagen-4.0-generate-001", "9:16", "1K", "image/jpeg", (768, 1408)),
        ("imagen-3.0-generate-002", "4:3", None, "image/webp", (1280, 896)),
    ],
)
def test_imagen_sizes_through_real_client(client, model, ratio, size, mime, expected):
    params = {"sampleCount": 2, "aspectRatio": ratio, "outputOptions": {"mimeType": mime}}
    if size:
        params["sampleImageSize"] = size
    reply = predict(client, model, f"a lighthouse {ratio}", **params)
    assert len(reply["predictions"]) == 2
    for prediction in reply["predictions"]:
        assert prediction["mimeType"] == mime
        img = _image(prediction["bytesBase64Encoded"])
        assert img.size == expected
        assert Image.MIME[img.format] == mime


@pytest.mark.parametrize(
    ("model", "location", "ratio", "size", "expected"),
    [
        ("gemini-3-pro-image-preview", "global", "16:9", "4K", (5504, 3072)),
        ("gemini-3-pro-image-preview", "global", "1:1", "2K", (2048, 2048)),
        ("gemini-2.5-flash-image", "global", "21:9", None, (1536, 672)),
        ("gemini-2.5-flash-image", "europe-west4", "3:4", None, (864, 1184)),
    ],
)
def test_gemini_sizes_through_real_client(client, model, location, ratio, size, expected):
    config = {"aspectRatio": ratio}
    if size:
        config["imageSize"] = size
    started = time.monotonic()
    reply = generate(client, model, f"a harbour at dusk {ratio}", location, **config)
    assert time.monotonic() - started < 2.0
    (img,) = _gemini_images(reply)
    assert img.size == expected and img.format == "PNG"
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"][0]["text"].startswith("(stand-in)")
    assert reply["usageMetadata"]["candidatesTokenCount"] == 1290
    assert reply["modelVersion"] == model


def test_render_is_fast_at_the_largest_sizes():
    for width, height in ((6336, 2688), (4096, 4096), (5504, 3072)):
        started = time.monotonic()
        data = render_image(f"speed {width}", width, height, "image/png", None, "caption")
        assert time.monotonic() - started < 0.8
        assert Image.open(io.BytesIO(data)).size == (width, height)


# ------------------------------------------------------------------- recorded wire format


def test_imagen_wire_format_as_recorded(client, standin):
    predict(
        client,
        "imagen-4.0-fast-generate-001",
        "wire imagen",
        sampleCount=3,
        addWatermark=False,
        seed=4294967295,
        negativePrompt="blur",
        personGeneration="allow_adult",
        safetySetting="block_medium_and_above",
        enhancePrompt=True,
        language="en",
        outputOptions={"mimeType": "image/jpeg", "compressionQuality": 80},
    )
    rec = _last(standin, "imagen-4.0-fast-generate-001")
    assert rec["method"] == "predict" and rec["project"] == PROJECT
    assert rec["location"] == "us-central1"
    # Struct numbers travel as JSON doubles: 3 -> 3.0, the seed too.
    assert rec["body"] == {
        "instances": [{"prompt": "wire imagen"}],
        "parameters": {
            "sampleCount": 3.0,
            "aspectRatio": "1:1",
            "addWatermark": False,
            "includeRaiReason": True,
            "seed": 4294967295.0,
            "negativePrompt": "blur",
            "personGeneration": "allow_adult",
            "safetySetting": "block_medium_and_above",
            "enhancePrompt": True,
            "language": "en",
            "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80.0},
        },
    }
    assert rec["query"] == {"$alt": "json;enum-encoding=int"}
    assert rec["headers"]["authorization"] is False
    assert rec["headers"]["content-type"] == "application/json"
    assert "gapic/" in rec["headers"]["x-goog-api-client"]
    assert (
        rec["headers"]["x-goog-request-params"]
        == f"endpoint={_path('us-central1', 'imagen-4.0-fast-generate-001')}"
    )


def test_gemini_wire_format_as_recorded(client, standin):
    inline = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    body = {
        "model": _path("global", "gemini-2.5-flash-image"),
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"fileData": {"fileUri": "gs://refs/a.png", "mimeType": "image/png"}},
                    {"inlineData": {"mimeType": "image/png", "data": inline}},
                    {"text": "wire gemini"},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "candidateCount": 1,
            "seed": 7,
            "imageConfig": {
                "aspectRatio": "4:3",
                "personGeneration": "ALLOW_ADULT",
                "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
            },
        },
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
        "labels": {"job": "abc"},
    }
    reply = json_format.MessageToDict(
        client.generate_content(request=GenerateContentRequest.from_json(json.dumps(body)))._pb
    )
    (img,) = _gemini_images(reply)
    assert img.size == (1184, 864) and img.format == "JPEG"
    assert reply["usageMetadata"]["promptTokenCount"] == 2 + 2 * 258
    rec = _last(standin, "gemini-2.5-flash-image")
    assert rec["method"] == "generateContent"
    # Enums travel as integers (the client asks `$alt=json;enum-encoding=int`); bytes
    # (inlineData.data) travel as the same base64 text; int32 seed as a JSON number.
    assert rec["body"] == {
        "contents": body["contents"],
        "generationConfig": {
            "responseModalities": [1, 2],
            "candidateCount": 1,
            "seed": 7,
            "imageConfig": {
                "aspectRatio": "4:3",
                "personGeneration": 2,
                "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
            },
        },
        "safetySettings": [{"category": 3, "threshold": 3}],
        "labels": {"job": "abc"},
    }
    assert (
        rec["headers"]["x-goog-request-params"]
        == f"model={_path('global', 'gemini-2.5-flash-image')}"
    )


def test_recording_is_bounded_and_clearable(monkeypatch):
    monkeypatch.setattr(vertex_standin, "MAX_RECORDS", 5)
    monkeypatch.setattr(vertex_standin, "MAX_RECORD_BYTES", 10**9)
    app = create_app()
    web = app.test_client()
    url = f"/v1/{_path('global', 'gemini-2.5-flash-image')}:generateContent"
    for i in range(8):
        body = {
            "contents": [{"role": "user", "parts": [{"text": f"n{i}"}]}],
            "generationConfig": {"imageConfig": {"aspectRatio": "1:1"}},
        }
        assert web.post(url, json=body).status_code == 200
    prompts = [
        r["body"]["contents"][0]["parts"][0]["text"]
        for r in web.get("/_standin/requests").get_json()
    ]
    assert prompts == ["n3", "n4", "n5", "n6", "n7"]
    assert web.get("/_standin/requests?model=other").get_json() == []
    monkeypatch.setattr(vertex_standin, "MAX_RECORD_BYTES", 1)  # keeps only the newest
    web.post(url, json={"contents": [{"role": "user", "parts": [{"text": "big"}]}]})
    assert len(web.get("/_standin/requests").get_json()) == 1
    assert web.delete("/_standin/requests").status_code == 200
    assert web.get("/_standin/requests").get_json() == []


# --------------------------------------------------------------------- errors and routing


def test_unknown_model_location_and_bad_arguments(client):
    with pytest.raises(gexc.NotFound, match="not found"):
        generate(client, "gemini-9-image", "x")
    with pytest.raises(gexc.NotFound, match="not served in us-central1"):
        generate(client, "gemini-3-pro-image-preview", "x", location="us-central1")
    with pytest.raises(gexc.NotFound, match="not served in global"):
        predict(client, "imagen-4.0-generate-001", "x", location="global")
    with pytest.raises(gexc.BadRequest, match="aspect ratio"):
        generate(client, "gemini-2.5-flash-image", "x", aspectRatio="7:5")
    with pytest.raises(gexc.BadRequest, match="image size"):
        generate(client, "gemini-2.5-flash-image", "x", imageSize="4K")
    with pytest.raises(gexc.BadRequest, match="sampleCount"):
        predict(client, "imagen-4.0-ultra-generate-001", "x", sampleCount=2)
    with pytest.raises(gexc.BadRequest, match="watermark"):
        predict(client, "imagen-4.0-generate-001", "x", seed=1)
    with pytest.raises(gexc.BadRequest, match="generateContent"):
        predict(client, "gemini-2.5-flash-image", "x", location="global")


def test_error_body_is_google_style(standin):
    url = f"{standin}/v1/{_path('global', 'nope')}:generateContent"
    status, body, _ = _http("POST", url, {"contents": []})
    assert status == 404
    assert body["error"]["code"] == 404 and body["error"]["status"] == "NOT_FOUND"
    assert "Publisher Model" in body["error"]["message"]


# ------------------------------------------------------------------ directives in prompts


def test_fail_directive_counts_per_prompt_and_sets_retry_after(client):
    prompt = "quota [[fail:429x2]] [[retry_after:1]] p1"
    for _ in range(2):
        with pytest.raises(gexc.TooManyRequests) as info:
            generate(client, "gemini-2.5-flash-image", prompt)
        assert info.value.response.headers["Retry-After"] == "1"
        assert "RESOURCE_EXHAUSTED" in str(info.value) or info.value.code == 429
    assert _gemini_images(generate(client, "gemini-2.5-flash-image", prompt))
    # another prompt with the same directive has its own count
    with pytest.raises(gexc.TooManyRequests):
        generate(client, "gemini-2.5-flash-image", "quota [[fail:429x2]] p2")


@pytest.mark.parametrize(
    ("directive", "exc", "times"),
    [
        ("[[fail:500x1]]", gexc.InternalServerError, 1),
        ("[[fail:503x3]]", gexc.ServiceUnavailable, 3),
    ],
)
def test_server_error_directives(client, directive, exc, times):
    prompt = f"flaky {directive}"
    for _ in range(times):
        with pytest.raises(exc):
            predict(client, "imagen-4.0-generate-001", prompt)
    assert predict(client, "imagen-4.0-generate-001", prompt)["predictions"]


def test_latency_directive(client):
    started = time.monotonic()
    generate(client, "gemini-2.5-flash-image", "slow [[latency:300]]")
    assert time.monotonic() - started >= 0.3


def test_notserved_directives(client):
    with pytest.raises(gexc.NotFound, match="not served in global"):
        generate(client, "gemini-2.5-flash-image", "[[notserved]] a")
    prompt = "[[notserved:us-central1]] b"
    with pytest.raises(gexc.NotFound, match="not served in us-central1"):
        generate(client, "gemini-2.5-flash-image", prompt, location="us-central1")
    assert _gemini_images(generate(client, "gemini-2.5-flash-image", prompt, "us-east4"))


def test_image_safety_finish_reason_is_dropped_by_the_rest_client(client, standin):
    """IMAGE_SAFETY is newer than the client's Candidate.FinishReason enum: the REST
    transport parses with ignore_unknown_fields=True, so the field silently disappears
    (finish_reason == FINISH_REASON_UNSPECIFIED); finishMessage survives. No exception."""
    prompt = "a cat [[block:IMAGE_SAFETY]]"
    reply = generate(client, "gemini-2.5-flash-image", prompt)
    (candidate,) = reply["candidates"]
    assert "finishReason" not in candidate
    assert "IMAGE_SAFETY" in candidate["finishMessage"]
    assert not _gemini_images(reply)
    # on the wire it was there
    raw = _http(
        "POST",
        f"{standin}/v1/{_path('global', 'gemini-2.5-flash-image')}:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": prompt}]}]},
    )[1]
    assert raw["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    # a reason the enum knows survives
    known = generate(client, "gemini-2.5-flash-image", "a cat [[block:SAFETY]]")
    assert known["candidates"][0]["finishReason"] == "SAFETY"


def test_prompt_block_directive(client):
    reply = generate(client, "gemini-2.5-flash-image", "bad [[block:prompt]]")
    assert reply["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in reply
    # Imagen refuses a blocked prompt with 400, as Vertex does
    with pytest.raises(gexc.BadRequest, match="prompt could not be submitted"):
        predict(client, "imagen-4.0-generate-001", "bad [[block:prompt]]")


def test_imagen_block_and_partial_directives(client):
    reply = predict(client, "imagen-4.0-generate-001", "x [[block:rai]]", sampleCount=2)
    assert [set(p) for p in reply["predictions"]] == [{"raiFilteredReason"}] * 2
    assert "(stand-in) blocked" in reply["predictions"][0]["raiFilteredReason"]
    reply = predict(client, "imagen-4.0-generate-001", "x [[partial:1]]", sampleCount=3)
    kinds = [next(iter(p.keys() - {"mimeType"})) for p in reply["predictions"]]
    assert kinds == ["bytesBase64Encoded", "bytesBase64Encoded", "raiFilteredReason"]
    # without includeRaiReason the filtered samples are simply missing
    reply = predict(
        client, "imagen-4.0-generate-001", "x [[partial:1]]", sampleCount=3, includeRaiReason=False
    )
    assert len(reply["predictions"]) == 2
    # Gemini ignores partial
    assert _gemini_images(generate(client, "gemini-2.5-flash-image", "y [[partial:1]]"))


# ------------------------------------------------------------------------- fault rules


def test_fault_rules(client, standin):
    rules = {
        "rules": [
            {"match": {"model": "imagen-4.0-fast-generate-001"}, "status": 503, "times": 1},
            {
                "match": {"prompt_contains": "rule-block"},
                "block": "PROHIBITED_CONTENT",
                "times": None,
            },
            {
                "match": {"location": "europe-west4", "model": "imagen-3.0-generate-002"},
                "status": 429,
                "times": 2,
                "retry_after": 3,
                "latency_ms": 50,
            },
            {"match": {"prompt_contains": "rule-partial"}, "partial": 2, "times": 1},
        ]
    }
    try:
        assert _http("POST", f"{standin}/_standin/faults", rules)[0] == 200
        with pytest.raises(gexc.ServiceUnavailable):
            predict(client, "imagen-4.0-fast-generate-001", "r1")
        assert predict(client, "imagen-4.0-fast-generate-001", "r1")["predictions"]

        reply = generate(client, "gemini-2.5-flash-image", "rule-block please")
        assert reply["candidates"][0]["finishReason"] == "PROHIBITED_CONTENT"

        for _ in range(2):
            with pytest.raises(gexc.TooManyRequests) as info:
                predict(client, "imagen-3.0-generate-002", "r3", location="europe-west4")
            assert info.value.response.headers["Retry-After"] == "3"
        predict(client, "imagen-3.0-generate-002", "r3", location="europe-west4")

        reply = predict(client, "imagen-4.0-generate-001", "rule-partial", sampleCount=3)
        assert sum("raiFilteredReason" in p for p in reply["predictions"]) == 2

        shown = _http("GET", f"{standin}/_standin/faults")[1]["rules"]
        assert [r["remaining"] for r in shown] == [0, None, 0, 0]
        assert shown[1]["hits"] == 1
    finally:
        assert _http("DELETE", f"{standin}/_standin/faults")[0] == 200
    assert _http("GET", f"{standin}/_standin/faults")[1] == {"rules": []}
    status, body, _ = _http(
        "POST", f"{standin}/_standin/faults", {"rules": [{"match": {"colour": "red"}}]}
    )
    assert status == 400 and "match" in body["error"]


# ------------------------------------------------------------- storageUri and enhance


def test_storage_uri_writes_to_the_storage_emulator(client, gcs):
    from google.cloud import storage

    reply = predict(
        client,
        "imagen-4.0-generate-001",
        "to storage",
        sampleCount=2,
        aspectRatio="16:9",
        storageUri="gs://outputs/jobs/j1/",
        outputOptions={"mimeType": "image/jpeg"},
    )
    uris = [p["gcsUri"] for p in reply["predictions"]]
    assert uris == ["gs://outputs/jobs/j1/0.jpg", "gs://outputs/jobs/j1/1.jpg"]
    assert all(
        p["mimeType"] == "image/jpeg" and "bytesBase64Encoded" not in p
        for p in reply["predictions"]
    )
    store = storage.Client(
        project="local", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs}
    )
    data = store.bucket("outputs").blob("jobs/j1/1.jpg").download_as_bytes()
    assert Image.open(io.BytesIO(data)).size == (1408, 768)
    with pytest.raises(gexc.BadRequest, match="storageUri"):
        predict(client, "imagen-4.0-generate-001", "x", storageUri="gs://no-such-bucket/p")


def test_enhance_prompt(client):
    reply = predict(client, "imagen-4.0-generate-001", "a fox", sampleCount=2, enhancePrompt=True)
    assert all(p["prompt"].startswith("a fox") for p in reply["predictions"])
    reply = predict(client, "imagen-4.0-generate-001", "a fox")
    assert "prompt" not in reply["predictions"][0]


# ----------------------------------------------------------------- the project's adapter


def _job(body: dict):
    from imagegen.domain.catalog import load_catalog
    from imagegen.domain.request import Policy, validate_request

    req = validate_request(body, load_catalog(), Policy(reference_buckets=("refs",))).request
    return load_catalog()[req.model], req


def test_adapter_gemini(standin):
    from imagegen.adapters.vertex import VertexClient

    vertex = VertexClient("proj", endpoint_override=standin)
    spec, req = _job(
        {
            "prompt": "adapter pro",
            "model": "gemini-3-pro-image-preview",
            "aspect_ratio": "16:9",
            "image_size": "4K",
            "number_of_images": 2,
            "reference_images": [{"gcs_uri": "gs://refs/ref.png"}],
        }
    )
    result = vertex.generate(spec, req, "global", labels={"job": "j"})
    assert len(result.images) == 2 and not result.blocked
    assert {Image.open(io.BytesIO(i.data)).size for i in result.images} == {(5504, 3072)}
    rec = _last(standin, "gemini-3-pro-image-preview")
    assert rec["body"]["labels"] == {"job": "j"}
    assert rec["body"]["contents"][0]["parts"][0] == {
        "fileData": {"fileUri": "gs://refs/ref.png", "mimeType": "image/png"}
    }


def test_adapter_gemini_blocks_and_errors(standin):
    from imagegen.adapters.vertex import VertexClient
    from imagegen.errors import FinalUpstream, RetryableUpstream

    vertex = VertexClient("proj", endpoint_override=standin)
    spec, req = _job({"prompt": "adapter [[block:IMAGE_SAFETY]]"})
    result = vertex.generate(spec, req, "global")
    # the client dropped IMAGE_SAFETY: the job is still blocked, but the reason is generic
    assert not result.images and len(result.blocked) == 1
    assert "IMAGE_SAFETY" in result.blocked[0]  # only via finishMessage's text

    spec, req = _job({"prompt": "adapter [[fail:429x1]] [[retry_after:2]]"})
    with pytest.raises(RetryableUpstream) as info:
        vertex.generate(spec, req, "global")
    assert info.value.retry_after == 2.0
    spec, req = _job({"prompt": "adapter [[notserved]]"})
    with pytest.raises(FinalUpstream):
        vertex.generate(spec, req, "global")


def test_adapter_imagen(standin):
    from imagegen.adapters.vertex import VertexClient

    vertex = VertexClient("proj", endpoint_override=standin)
    spec, req = _job(
        {
            "prompt": "adapter imagen [[partial:1]]",
            "model": "imagen-4.0-generate-001",
            "number_of_images": 3,
            "aspect_ratio": "3:4",
            "image_size": "2K",
            "add_watermark": False,
            "seed": 5,
        }
    )
    result = vertex.generate(spec, req, "us-central1")
    assert len(result.images) == 2 and len(result.blocked) == 1
    assert {Image.open(io.BytesIO(i.data)).size for i in result.images} == {(1792, 2560)}


# ---------------------------------------------------------------------------- main()


def test_main_runs_as_a_module(gcs):
    port = _free_port()
    env = {
        **os.environ,
        "DEVSTACK_VERTEX_PORT": str(port),
        "STORAGE_EMULATOR_HOST": gcs,
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.vertex_standin"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = json.loads(proc.stdout.readline())
        assert line["event"] == "listening" and line["url"].endswith(f":{port}")
        assert line["storage_endpoint"] == gcs
        assert _http("GET", f"http://127.0.0.1:{port}/_standin/health")[1]["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_adapter_imagen_enhance_labels_and_storage_uri(standin):
    from imagegen.adapters.vertex import VertexClient

    vertex = VertexClient("proj", endpoint_override=standin)
    spec, req = _job(
        {
            "prompt": "adapter imagen fixed [[partial:1]]",
            "model": "imagen-4.0-generate-001",
            "number_of_images": 3,
            "aspect_ratio": "3:4",
            "image_size": "2K",
            "add_watermark": False,
            "seed": 5,
            "enhance_prompt": True,
        }
    )
    result = vertex.generate(spec, req, "us-central1", labels={"job": "j"})
    assert len(result.images) == 2 and len(result.blocked) == 1
    assert {Image.open(io.BytesIO(i.data)).size for i in result.images} == {(1792, 2560)}
    assert result.enhanced_prompt.startswith("adapter imagen fixed")
    rec = _last(standin, "imagen-4.0-generate-001")
    assert rec["body"]["labels"] == {"job": "j"}
    assert rec["body"]["parameters"]["seed"] == 5.0

    result = vertex.generate(
        spec,
        req.model_copy(update={"prompt": "to gcs"}),
        "us-central1",
        storage_uri="gs://outputs/jobs/j2/",
    )
    assert [i.gcs_uri for i in result.images] == [f"gs://outputs/jobs/j2/{n}.png" for n in range(3)]
