"""The local Vertex AI stand-in, driven through the real `PredictionServiceClient` (REST)
exactly as production drives Vertex AI, and through the project's Vertex adapter."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1.types import GenerateContentRequest
from google.protobuf import json_format
from PIL import Image

from devstack import vertex_standin
from devstack.vertex_standin import NOT_FOUND, create_app, render_image, serve
from tests.unit.conftest import free_port

PROJECT = "proj"
ROOT = Path(__file__).resolve().parents[2]


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


NB2, LITE, PRO = "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image", "gemini-3-pro-image"


def generate(
    client,
    model: str,
    prompt: str,
    location: str = "global",
    parts=(),
    modalities=("TEXT", "IMAGE"),
    extra: dict | None = None,
    **image_config,
) -> dict:
    image_config.setdefault("aspectRatio", "1:1")
    body = {
        "model": _path(location, model),
        "contents": [{"role": "user", "parts": [*parts, {"text": prompt}]}],
        "generationConfig": {
            "responseModalities": list(modalities),
            "imageConfig": {k: v for k, v in image_config.items() if v is not None},
        },
        **(extra or {}),
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
    ("model", "location", "ratio", "size", "expected"),
    [
        (PRO, "global", "16:9", "4K", (5504, 3072)),
        (PRO, "us-central1", "1:1", "2K", (2048, 2048)),
        (NB2, "global", "1:8", "512", (192, 1536)),
        (NB2, "global", "21:9", None, (1584, 672)),
        (LITE, "global", "3:4", None, (896, 1200)),
    ],
)
def test_gemini_sizes_through_real_client(client, model, location, ratio, size, expected):
    config = {"aspectRatio": ratio}
    if size:
        config["imageSize"] = size
    reply = generate(client, model, f"a harbour at dusk {ratio}", location, **config)
    (img,) = _gemini_images(reply)
    assert img.size == expected and img.format == "PNG"
    candidate = reply["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"][0]["text"].startswith("(stand-in)")
    assert reply["usageMetadata"]["candidatesTokenCount"] == 1290
    assert reply["modelVersion"] == model


def test_image_only_unless_text_is_asked(client):
    reply = generate(client, NB2, "only a picture", modalities=("IMAGE",))
    parts = reply["candidates"][0]["content"]["parts"]
    assert len(parts) == 1 and "inlineData" in parts[0]


def test_no_aspect_ratio_keeps_the_input_shape(client):
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), "blue").save(buf, "PNG")
    photo = {
        "inlineData": {"mimeType": "image/png", "data": base64.b64encode(buf.getvalue()).decode()}
    }
    (img,) = _gemini_images(generate(client, NB2, "make it dusk", parts=[photo], aspectRatio=None))
    assert img.size == (1376, 768)  # 16:9 at 1K, as the 16:9 input
    (img,) = _gemini_images(generate(client, NB2, "a square", aspectRatio=None))
    assert img.size == (1024, 1024)


def test_size_directive_delivers_another_size(client):
    (img,) = _gemini_images(generate(client, NB2, "ignored [[size:1K]]", imageSize="4K"))
    assert img.size == (1024, 1024)


def test_google_genai_spelling_is_understood(standin):
    """google-genai posts to v1beta1 with URL-safe base64 and enum names."""
    buf = io.BytesIO()
    Image.new("RGB", (100, 400), "red").save(buf, "PNG")
    data = base64.urlsafe_b64encode(buf.getvalue()).decode()
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "image/png", "data": data}},
                    {"text": "tall"},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "thinkingConfig": {"thinkingLevel": "MINIMAL"},
        },
        "tools": [{"googleSearch": {}}],
    }
    status, reply, _ = _http(
        "POST", f"{standin}/v1beta1/{_path('global', NB2)}:generateContent", body
    )
    assert status == 200
    (img,) = _gemini_images(reply)
    assert img.size == (512, 2048)  # 1:4, the input's shape


def test_render_at_the_largest_sizes():
    """Exact pixels at the largest sizes (how fast is bench's business, not a test's)."""
    for width, height in ((12288, 1536), (4096, 4096), (5504, 3072)):
        data = render_image(f"big {width}", width, height, "image/png", None, "caption")
        assert Image.open(io.BytesIO(data)).size == (width, height)


# ------------------------------------------------------------------- recorded wire format


def test_gemini_wire_format_as_recorded(client, standin):
    inline = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    body = {
        "model": _path("global", NB2),
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
            "seed": 7,
            "imageConfig": {
                "aspectRatio": "4:3",
                "personGeneration": "ALLOW_ADULT",
                "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
            },
            "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"},
        },
        "tools": [{"googleSearch": {}}],
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
        ],
        "labels": {"job": "abc"},
    }
    reply = json_format.MessageToDict(
        client.generate_content(request=GenerateContentRequest.from_json(json.dumps(body)))._pb
    )
    (img,) = _gemini_images(reply)
    assert img.size == (1200, 896) and img.format == "JPEG"
    assert reply["usageMetadata"]["promptTokenCount"] == 2 + 2 * 258
    rec = _last(standin, NB2)
    assert rec["method"] == "generateContent"
    # Enums travel as integers (the client asks `$alt=json;enum-encoding=int`); bytes
    # (inlineData.data) travel as the same base64 text; int32 seed as a JSON number.
    assert rec["body"] == {
        "contents": body["contents"],
        "generationConfig": {
            "responseModalities": [1, 2],
            "seed": 7,
            "imageConfig": {
                "aspectRatio": "4:3",
                "personGeneration": 2,
                "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
            },
            "thinkingConfig": {"includeThoughts": True, "thinkingLevel": 3},
        },
        "tools": [{"googleSearch": {}}],
        "safetySettings": [{"category": 3, "threshold": 3}],
        "labels": {"job": "abc"},
    }
    assert rec["headers"]["x-goog-request-params"] == f"model={_path('global', NB2)}"


def test_recording_is_bounded_and_clearable(monkeypatch):
    monkeypatch.setattr(vertex_standin, "MAX_RECORDS", 5)
    monkeypatch.setattr(vertex_standin, "MAX_RECORD_BYTES", 10**9)
    app = create_app()
    web = app.test_client()
    url = f"/v1/{_path('global', NB2)}:generateContent"
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
    with pytest.raises(gexc.NotFound, match="not served in europe-west4"):
        generate(client, PRO, "x", location="europe-west4")
    with pytest.raises(gexc.BadRequest, match="aspect ratio"):
        generate(client, NB2, "x", aspectRatio="7:5")
    with pytest.raises(gexc.BadRequest, match="image size"):
        generate(client, LITE, "x", imageSize="4K")
    with pytest.raises(gexc.BadRequest, match="image size"):
        generate(client, PRO, "x", imageSize="512")
    with pytest.raises(gexc.BadRequest, match="Thinking level LOW"):
        generate(
            client,
            NB2,
            "x",
            extra={"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
        )
    with pytest.raises(gexc.BadRequest, match="Google Search"):
        generate(client, LITE, "x", extra={"tools": [{"googleSearch": {}}]})


@pytest.mark.parametrize(
    "model",
    [
        "imagen-4.0-generate-001",
        "imagen-3.0-generate-002",
        "imagegeneration@006",
        "imagetext@001",
        "imagen-3.0-capability-002",
        "gemini-3-pro-image-preview",
        "gemini-3.1-flash-image-preview",
    ],
)
@pytest.mark.parametrize("method", ["generateContent", "predict"])
def test_retired_models_get_vertex_404(standin, model, method):
    url = f"{standin}/v1/{_path('us-central1', model)}:{method}"
    status, body, _ = _http("POST", url, {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
    assert status == 404
    expected = NOT_FOUND.format(project=PROJECT, location="us-central1", model=model)
    assert body == {"error": {"code": 404, "message": expected, "status": "NOT_FOUND"}}


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
            generate(client, NB2, prompt)
        assert info.value.response.headers["Retry-After"] == "1"
        assert "RESOURCE_EXHAUSTED" in str(info.value) or info.value.code == 429
    assert _gemini_images(generate(client, NB2, prompt))
    # another prompt with the same directive has its own count
    with pytest.raises(gexc.TooManyRequests):
        generate(client, NB2, "quota [[fail:429x2]] p2")


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
            generate(client, NB2, prompt)
    assert _gemini_images(generate(client, NB2, prompt))


def test_latency_directive(client):
    started = time.monotonic()
    generate(client, NB2, "slow [[latency:300]]")
    assert time.monotonic() - started >= 0.3


def test_notserved_directives(client):
    with pytest.raises(gexc.NotFound, match="not served in global"):
        generate(client, NB2, "[[notserved]] a")
    prompt = "[[notserved:us-central1]] b"
    with pytest.raises(gexc.NotFound, match="not served in us-central1"):
        generate(client, PRO, prompt, location="us-central1")
    assert _gemini_images(generate(client, PRO, prompt, "us-east1"))


def test_image_safety_finish_reason_is_dropped_by_the_rest_client(client, standin):
    """IMAGE_SAFETY is newer than the client's Candidate.FinishReason enum: the REST
    transport parses with ignore_unknown_fields=True, so the field silently disappears
    (finish_reason == FINISH_REASON_UNSPECIFIED); finishMessage survives. No exception."""
    prompt = "a cat [[block:IMAGE_SAFETY]]"
    reply = generate(client, NB2, prompt)
    (candidate,) = reply["candidates"]
    assert "finishReason" not in candidate
    assert "IMAGE_SAFETY" in candidate["finishMessage"]
    assert not _gemini_images(reply)
    # on the wire it was there
    raw = _http(
        "POST",
        f"{standin}/v1/{_path('global', NB2)}:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": prompt}]}]},
    )[1]
    assert raw["candidates"][0]["finishReason"] == "IMAGE_SAFETY"
    # a reason the enum knows survives
    known = generate(client, NB2, "a cat [[block:SAFETY]]")
    assert known["candidates"][0]["finishReason"] == "SAFETY"


def test_prompt_block_directive(client):
    reply = generate(client, NB2, "bad [[block:prompt]]")
    assert reply["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in reply


# ------------------------------------------------------------------------- fault rules


def test_fault_rules(client, standin):
    rules = {
        "rules": [
            {"match": {"model": LITE}, "status": 503, "times": 1},
            {
                "match": {"prompt_contains": "rule-block"},
                "block": "PROHIBITED_CONTENT",
                "times": None,
            },
            {
                "match": {"location": "us-east1", "model": PRO},
                "status": 429,
                "times": 2,
                "retry_after": 3,
                "latency_ms": 50,
            },
        ]
    }
    try:
        assert _http("POST", f"{standin}/_standin/faults", rules)[0] == 200
        with pytest.raises(gexc.ServiceUnavailable):
            generate(client, LITE, "r1")
        assert _gemini_images(generate(client, LITE, "r1"))

        reply = generate(client, NB2, "rule-block please")
        assert reply["candidates"][0]["finishReason"] == "PROHIBITED_CONTENT"

        for _ in range(2):
            with pytest.raises(gexc.TooManyRequests) as info:
                generate(client, PRO, "r3", location="us-east1")
            assert info.value.response.headers["Retry-After"] == "3"
        generate(client, PRO, "r3", location="us-east1")

        shown = _http("GET", f"{standin}/_standin/faults")[1]["rules"]
        assert [r["remaining"] for r in shown] == [0, None, 0]
        assert shown[1]["hits"] == 1
    finally:
        assert _http("DELETE", f"{standin}/_standin/faults")[0] == 200
    assert _http("GET", f"{standin}/_standin/faults")[1] == {"rules": []}
    status, body, _ = _http(
        "POST", f"{standin}/_standin/faults", {"rules": [{"match": {"colour": "red"}}]}
    )
    assert status == 400 and "match" in body["error"]


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
            "model": PRO,
            "aspect_ratio": "16:9",
            "image_size": "4K",
            "number_of_images": 2,
            "reference_images": [{"gcs_uri": "gs://refs/ref.png"}],
        }
    )
    result = vertex.generate(spec, req, "global", labels={"job": "j"})
    assert len(result.images) == 2 and not result.blocked
    assert {Image.open(io.BytesIO(i.data)).size for i in result.images} == {(5504, 3072)}
    rec = _last(standin, PRO)
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


def test_adapter_keeps_the_images_of_calls_that_worked(standin):
    """One of three calls fails: the two replies reach `on_reply` before the error is
    raised, so the worker can store them and ask again only for the missing one."""
    from imagegen.adapters.vertex import VertexClient
    from imagegen.errors import RetryableUpstream

    vertex = VertexClient("proj", endpoint_override=standin)
    rules = {
        "rules": [{"match": {"prompt_contains": "adapter partial"}, "status": 503, "times": 1}]
    }
    assert _http("POST", f"{standin}/_standin/faults", rules)[0] == 200
    try:
        spec, req = _job({"prompt": "adapter partial", "number_of_images": 3})
        got = []
        with pytest.raises(RetryableUpstream):
            vertex.generate(spec, req, "global", on_reply=got.append)
        assert len(got) == 2 and all(len(g.images) == 1 for g in got)
    finally:
        _http("DELETE", f"{standin}/_standin/faults")


def test_adapter_sends_what_the_rest_client_sends(standin, client):
    """Only the reading of the reply changed (issue 18): the adapter's request (path,
    query, body with enums as numbers, content type, routing header) is the one the
    aiplatform_v1 REST client sends for the same GenerateContentRequest."""
    from imagegen.adapters.vertex import VertexClient
    from imagegen.adapters.vertex_wire import gemini_body

    spec, req = _job(
        {
            "prompt": "adapter wire",
            "model": PRO,
            "aspect_ratio": "3:4",
            "image_size": "2K",
            "seed": 5,
            "person_generation": "allow_adult",
            "safety_filter_level": "block_only_high",
            "include_thoughts": True,
            "reference_images": [{"gcs_uri": "gs://refs/ref.png"}],
        }
    )
    VertexClient("proj", endpoint_override=standin).generate(spec, req, "us-central1")
    ours = _last(standin, PRO)
    body = {**gemini_body(req, spec), "model": _path("us-central1", PRO)}
    client.generate_content(request=GenerateContentRequest.from_json(json.dumps(body)))
    theirs = _last(standin, PRO)
    assert ours is not theirs
    for key in ("location", "body", "query"):
        assert ours[key] == theirs[key], key
    for header in ("content-type", "x-goog-request-params"):
        assert ours["headers"][header] == theirs["headers"][header], header


def test_adapter_streams_each_image_into_its_sink_and_a_dropped_reply_leaves_none(standin):
    """Issue 18: with `on_image` each image's bytes go to the sink the caller opened as the
    reply streams in (nothing of them is kept on the Generation); when the connection drops
    halfway through the image (`[[drop:1]]`), the open sink is aborted and the call is a
    retryable error, and the next call streams the image whole."""
    from imagegen.adapters.vertex import VertexClient
    from imagegen.domain.generation import BytesSink
    from imagegen.errors import RetryableUpstream

    vertex = VertexClient("proj", endpoint_override=standin)
    sinks: list = []

    class Sink(BytesSink):
        aborted = False

        def __init__(self, mime):
            super().__init__()
            self.mime = mime
            sinks.append(self)

        def close(self):
            super().close()
            return {"mime": self.mime, "bytes": len(self.data)}

        def abort(self):
            self.aborted = True

    spec, req = _job({"prompt": "adapter stream [[drop:1]]", "aspect_ratio": "4:3"})
    with pytest.raises(RetryableUpstream) as info:
        vertex.generate(spec, req, "global", on_image=Sink)
    assert "ended prematurely" in info.value.message or "cut short" in info.value.message
    assert [s.aborted for s in sinks] == [True]
    result = vertex.generate(spec, req, "global", on_image=Sink)
    [image] = result.images
    assert image.data == b"" and image.output == {"mime": "image/png", "bytes": len(sinks[1].data)}
    assert Image.open(io.BytesIO(sinks[1].data)).size == (1200, 896)
    assert not sinks[1].aborted and result.usage["promptTokenCount"] > 0


# ---------------------------------------------------------------------------- main()


def test_main_runs_as_a_module(gcs):
    port = free_port()
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


def test_quota_mode_refuses_beyond_the_window_without_a_retry_hint():
    """Issue 18: at most `limit` calls per model and location in the sliding window; the
    next is Vertex's 429 RESOURCE_EXHAUSTED with no Retry-After; another location has its
    own quota; the counts are reported."""
    web = create_app().test_client()
    assert web.post("/_standin/quota", json={"limit": 2, "window": 60}).status_code == 200
    body = {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}
    url = f"/v1/{_path('global', NB2)}:generateContent"
    assert [web.post(url, json=body).status_code for _ in range(2)] == [200, 200]
    refused = web.post(url, json=body)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert refused.get_json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    counts = web.get("/_standin/quota").get_json()["counts"]
    assert counts[f"{NB2}|global"] == {"ok": 2, "429": 1}
    assert web.post("/_standin/quota", json={"limit": "x"}).status_code == 400


# ------------------------------------------------------------- the lineup of issue 30


def test_gemini_2_5_flash_image_and_nano_banana_2_1_are_served(client):
    reply = generate(
        client, "gemini-2.5-flash-image", "x", location="europe-west4", aspectRatio="16:9"
    )
    assert [i.size for i in _gemini_images(reply)] == [(1344, 768)]
    reply = generate(client, "gemini-nano-banana-2.1", "x", aspectRatio="8:1", imageSize="4K")
    assert [i.size for i in _gemini_images(reply)] == [(12288, 1536)]
    with pytest.raises(gexc.BadRequest, match="image size"):
        generate(client, "gemini-nano-banana-2.1", "x", imageSize="512")


def test_a_model_past_its_vertex_retirement_date_is_a_404(standin, monkeypatch):
    class Later(vertex_standin.dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return vertex_standin.dt.datetime(2027, 3, 15, tzinfo=tz)

    monkeypatch.setattr(vertex_standin.dt, "datetime", Later)
    url = f"{standin}/v1/{_path('global', 'gemini-2.5-flash-image')}:generateContent"
    status, _, _ = _http("POST", url, {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})
    assert status == 404
    assert _http("GET", f"{standin}/v1/publishers/google/models/gemini-2.5-flash-image")[0] == 404


def test_prominent_people_is_checked_as_vertex_would(standin):
    url = f"{standin}/v1/{_path('global', NB2)}:generateContent"
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "generationConfig": {"imageConfig": {"prominentPeople": "BLOCK_PROMINENT_PEOPLE"}},
    }
    assert _http("POST", url, body)[0] == 200
    body["generationConfig"]["imageConfig"]["prominentPeople"] = "SOMETIMES"
    status, error, _ = _http("POST", url, body)
    assert status == 400 and "prominentPeople" in error["error"]["message"]


def _model_garden(standin):
    from google.cloud import aiplatform_v1beta1

    return aiplatform_v1beta1.ModelGardenServiceClient(
        transport="rest",
        client_options={"api_endpoint": standin},
        credentials=AnonymousCredentials(),
    )


def test_model_garden_lists_publisher_models_in_pages_through_the_real_client(standin):
    _http("DELETE", f"{standin}/_standin/models")
    _http("DELETE", f"{standin}/_standin/requests")
    pager = _model_garden(standin).list_publisher_models(
        request={"parent": "publishers/google"}, retry=None, timeout=10
    )
    names = [m.name.rsplit("/", 1)[-1] for m in pager]
    assert {NB2, "gemini-nano-banana-2.1", "gemini-2.5-flash-image", "gemini-3.5-flash"} <= set(
        names
    )
    assert "imagen-4.0-generate-001" not in names and len(names) == len(set(names))
    _, records, _ = _http("GET", f"{standin}/_standin/requests?method=listPublisherModels")
    assert len(records) > 1  # more than one page, followed by the client's pager


def test_a_model_told_to_appear_is_listed_and_served(standin, client):
    status, body, _ = _http(
        "POST",
        f"{standin}/_standin/models",
        {
            "model": "gemini-9-image",
            "like": "gemini-nano-banana-2.1",
            "launch_stage": "PUBLIC_PREVIEW",
        },
    )
    assert status == 200 and body == {"models": ["gemini-9-image"]}
    try:
        listed = {
            m.name.rsplit("/", 1)[-1]: m.launch_stage.name
            for m in _model_garden(standin).list_publisher_models(
                request={"parent": "publishers/google"}, retry=None, timeout=10
            )
        }
        assert listed["gemini-9-image"] == "PUBLIC_PREVIEW"
        reply = generate(client, "gemini-9-image", "x", aspectRatio="1:1", imageSize="2K")
        assert [i.size for i in _gemini_images(reply)] == [(2048, 2048)]
        assert _http("POST", f"{standin}/_standin/models", {"model": "x", "like": "nope"})[0] == 400
    finally:
        _http("DELETE", f"{standin}/_standin/models")
    url = f"{standin}/v1/{_path('global', 'gemini-9-image')}:generateContent"
    assert _http("POST", url, {"contents": [{"role": "user", "parts": [{"text": "x"}]}]})[0] == 404


def test_quota_mode_spends_a_day_and_tells_when_it_resets():
    """Issue 27: `day_limit` calls per model and location per stand-in day, then the per-day
    quota's 429 (ErrorInfo, QuotaFailure naming a per-day quota, RetryInfo = the day's
    rest) until the day ends; with `retry_info` the window's 429 names the per-minute quota."""
    web = create_app().test_client()
    setup = {"limit": 0, "day_limit": 1, "day_seconds": 1.0}
    assert web.post("/_standin/quota", json=setup).status_code == 200
    body = {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}
    url = f"/v1/{_path('global', NB2)}:generateContent"
    assert web.post(url, json=body).status_code == 200
    refused = web.post(url, json=body)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    kinds = {d["@type"].rsplit(".", 1)[-1]: d for d in error["details"]}
    assert set(kinds) == {"ErrorInfo", "QuotaFailure", "Help", "RetryInfo"}
    assert kinds["QuotaFailure"]["violations"][0]["quotaId"].startswith(
        "GenerateContentRequestsPerDay"
    )
    assert kinds["ErrorInfo"]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert 0 < float(kinds["RetryInfo"]["retryDelay"].rstrip("s")) <= 1.0
    time.sleep(1.05)  # the stand-in's day is over
    assert web.post(url, json=body).status_code == 200
    counts = web.get("/_standin/quota").get_json()["counts"][f"{NB2}|global"]
    assert counts == {"ok": 2, "429": 1, "429_day": 1}
    minute = {"limit": 1, "window": 60, "retry_info": True}
    assert web.post("/_standin/quota", json=minute).status_code == 200
    assert web.post(url, json=body).status_code == 200
    error = web.post(url, json=body).get_json()["error"]
    assert "per_minute" in error["message"]
    assert any(d["@type"].endswith("RetryInfo") for d in error["details"])
    assert web.post("/_standin/quota", json={"window": 0}).status_code == 400
