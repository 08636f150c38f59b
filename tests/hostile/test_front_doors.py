"""The front doors (issue 28) under hostile and careless input, as deployed (tokens verified
against the local key server, no trusted caller header): every bad request gets the error
shape of the API the door imitates — Vertex's `{"error": {code, message, status}}`, OpenAI's
`{"error": {message, type, param, code}}` — with a 4xx, never a 5xx, and writes no job;
a job that outlives the wait is a 504 carrying its id while it goes on; callers stay
isolated."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import pytest
from PIL import Image

from tests.hostile.support import bearer, flask_client, record

NATIVE = "/v1beta1/projects/p/locations/global/publishers/google/models/{model}:generateContent"
PREDICT = "/v1/projects/p/locations/us-central1/publishers/google/models/{model}:predict"
NB2 = "gemini-3.1-flash-image"


def _png(size=(32, 24)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _turn(*parts) -> dict:
    return {"contents": [{"role": "user", "parts": list(parts)}]}


@pytest.fixture
def doors(make_services, idle_queue, issuer):
    """The API as deployed, its jobs on a topic nobody consumes, waiting 1 s at most."""
    from imagegen.http_api import Api
    from tests.hostile.support import AUDIENCE

    services = make_services(
        tasks_queue=idle_queue,
        trust_caller_header=False,
        auth_certs_url=issuer.certs_url,
        token_audiences=[AUDIENCE],
        sync_wait_seconds=1.0,
    )
    return services, flask_client(Api(services))


def _jobs_of(services, caller: str) -> int:
    now = dt.datetime.now(dt.UTC)
    return len(services.jobs.between(now - dt.timedelta(minutes=5), now, caller))


def _vertex_shaped(response, status: int) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    error = body["error"]
    assert error["code"] == status and isinstance(error["message"], str) and error["status"]
    return error


def _openai_shaped(response, status: int) -> dict:
    body = response.get_json()
    assert response.status_code == status, body
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}, error
    return error


NATIVE_BAD = {
    "array body": [],
    "no contents": {},
    "empty contents": {"contents": []},
    "parts not a list": {"contents": [{"role": "user", "parts": "x"}]},
    "unknown role": {"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
    "part not an object": _turn("x"),
    "bad base64": _turn({"inlineData": {"mimeType": "image/png", "data": "***"}}, {"text": "x"}),
    "not an image": _turn(
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"hi").decode()}},
        {"text": "x"},
    ),
    "bucket not read": _turn(
        {"fileData": {"mimeType": "image/png", "fileUri": "gs://someone-elses/x.png"}},
        {"text": "x"},
    ),
    "http file": _turn(
        {"fileData": {"mimeType": "image/png", "fileUri": "http://169.254.169.254/x.png"}},
        {"text": "x"},
    ),
    "image in the system instruction": {
        **_turn({"text": "x"}),
        "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": _png()}}]},
    },
    "two candidates": {**_turn({"text": "x"}), "generationConfig": {"candidateCount": 2}},
    "config not an object": {**_turn({"text": "x"}), "generationConfig": [1]},
    "size the model lacks": {
        **_turn({"text": "x"}),
        "generationConfig": {"imageConfig": {"imageSize": "8K"}},
    },
    "snake_case size": {
        **_turn({"text": "x"}),
        "generation_config": {"image_config": {"image_size": "8K"}},
    },
    "thinking level as a number": {
        **_turn({"text": "x"}),
        "generationConfig": {"thinkingConfig": {"thinkingLevel": 99}},
    },
    "bad labels": {**_turn({"text": "x"}), "labels": {"Bad Key": "x"}},
    "labels not strings": {**_turn({"text": "x"}), "labels": {"a": 1}},
    "deep nesting": {**_turn({"text": "x"}), "tools": [json.loads("[" * 60 + "]" * 60)]},
}


@pytest.mark.parametrize("name", sorted(NATIVE_BAD))
def test_bad_native_requests_are_vertex_400s_and_write_nothing(doors, issuer, name):
    services, client = doors
    caller = f"native-{name.replace(' ', '-')}@example.com"
    response = client.post(
        NATIVE.format(model=NB2), json=NATIVE_BAD[name], headers=bearer(issuer.token(caller))
    )
    error = _vertex_shaped(response, 400)
    assert error["status"] == "INVALID_ARGUMENT"
    assert _jobs_of(services, caller) == 0
    record(f"native: {name}", [response.status_code])


def test_native_refusals_name_the_callers_fields(doors, issuer):
    _, client = doors
    token = issuer.token("fields@example.com")
    response = client.post(
        NATIVE.format(model="gemini-3.1-flash-lite-image"),
        json={
            "contents": [
                {"role": "user", "parts": [{"text": "x"}]},
                {"role": "model", "parts": [{"fileData": {"fileUri": "gs://nope/a.png"}}]},
                {"role": "user", "parts": [{"text": "y"}]},
            ],
            "generation_config": {"image_config": {"image_size": "2K"}},
            "tools": [{"codeExecution": {}}, {"googleSearch": {}}],
        },
        headers=bearer(token),
    )
    error = _vertex_shaped(response, 400)
    fields = {v["field"] for v in error["details"][0]["fieldViolations"]}
    assert fields == {
        "contents[1].parts[0].fileData.fileUri",
        "generation_config.image_config.imageSize",
        "tools[1].googleSearch",
    }


def test_native_route_other_errors_keep_vertex_shape(doors, issuer):
    _, client = doors
    url = NATIVE.format(model=NB2)
    statuses = []
    for token, status in ((None, 401), ("not-a-jwt", 401), (issuer.unsigned("a@b.c"), 401)):
        headers = bearer(token) if token else {}
        response = client.post(url, json=_turn({"text": "x"}), headers=headers)
        assert _vertex_shaped(response, status)["status"] == "UNAUTHENTICATED"
        statuses.append(response.status_code)
    token = bearer(issuer.token("shape@example.com"))
    response = client.get(url, headers=token)
    assert _vertex_shaped(response, 405)["status"] == "UNIMPLEMENTED"
    response = client.post(url, data="x", headers={**token, "Content-Type": "text/plain"})
    assert _vertex_shaped(response, 415)
    response = client.post(
        NATIVE.format(model="gemini-9"), json=_turn({"text": "x"}), headers=token
    )
    assert _vertex_shaped(response, 400)["details"][0]["fieldViolations"][0]["field"] == "model"
    statuses += [405, 415, 400]
    record("native: auth, method, media type, model", statuses)


PREDICT_BAD = {
    "no instances": {"parameters": {}},
    "two instances": {"instances": [{"prompt": "a"}, {"prompt": "b"}]},
    "unknown parameter": {"instances": [{"prompt": "a"}], "parameters": {"editConfig": {}}},
    "too many samples": {"instances": [{"prompt": "a"}], "parameters": {"sampleCount": 99.0}},
    "no prompt": {"instances": [{}]},
    "watermark off": {"instances": [{"prompt": "a"}], "parameters": {"addWatermark": False}},
}


@pytest.mark.parametrize("name", sorted(PREDICT_BAD))
def test_bad_predict_requests_are_vertex_400s(doors, issuer, name):
    services, client = doors
    caller = f"predict-{name.replace(' ', '-')}@example.com"
    response = client.post(
        PREDICT.format(model="imagen-3.0-generate-001"),
        json=PREDICT_BAD[name],
        headers=bearer(issuer.token(caller)),
    )
    _vertex_shaped(response, 400)
    assert _jobs_of(services, caller) == 0


OPENAI_BAD = {
    "unknown argument": ({"prompt": "x", "steps": 5}, "steps"),
    "no prompt": ({"model": NB2}, "prompt"),
    "bad size": ({"prompt": "x", "size": "999x999"}, "size"),
    "bad n": ({"prompt": "x", "n": 99}, "n"),
    "n as text": ({"prompt": "x", "n": "2"}, "n"),
    "bad quality": ({"prompt": "x", "quality": "ultra"}, "quality"),
    "bad response format": ({"prompt": "x", "response_format": "png"}, "response_format"),
    "webp": ({"prompt": "x", "output_format": "webp"}, "output_format"),
    "transparent": ({"prompt": "x", "background": "transparent"}, "background"),
    "style": ({"prompt": "x", "style": "vivid"}, "style"),
    "unknown model": ({"prompt": "x", "model": "dall-e-9"}, "model"),
}


@pytest.mark.parametrize("name", sorted(OPENAI_BAD))
def test_bad_openai_requests_are_openai_400s_and_write_nothing(doors, issuer, name):
    services, client = doors
    caller = f"openai-{name.replace(' ', '-')}@example.com"
    body, param = OPENAI_BAD[name]
    response = client.post(
        "/v1/images/generations", json=body, headers=bearer(issuer.token(caller))
    )
    error = _openai_shaped(response, 400)
    assert (error["param"], error["type"]) == (param, "invalid_request_error"), error
    assert _jobs_of(services, caller) == 0
    record(f"openai: {name}", [response.status_code])


def test_openai_edits_refuse_masks_and_non_multipart(doors, issuer):
    _, client = doors
    token = bearer(issuer.token("edits@example.com"))
    image = (io.BytesIO(base64.b64decode(_png())), "a.png", "image/png")
    mask = (io.BytesIO(base64.b64decode(_png())), "m.png", "image/png")
    response = client.post(
        "/v1/images/edits",
        data={"prompt": "x", "image": image, "mask": mask},
        headers=token,
        content_type="multipart/form-data",
    )
    assert _openai_shaped(response, 400)["param"] == "mask"
    response = client.post(
        "/v1/images/edits", data={"prompt": "x"}, headers=token, content_type="multipart/form-data"
    )
    assert _openai_shaped(response, 400)["param"] == "image"
    response = client.post("/v1/images/edits", json={"prompt": "x"}, headers=token)
    assert _openai_shaped(response, 415)
    response = client.post("/v1/images/generations", json={"prompt": "x"})
    assert _openai_shaped(response, 401)["type"] == "authentication_error"


def test_a_job_past_the_wait_is_a_504_with_its_id_and_goes_on(doors, issuer):
    """The jobs topic here has no consumer: the job stays queued, as a slow one would."""
    services, client = doors
    alice, bob = issuer.token("alice-504@example.com"), issuer.token("bob-504@example.com")
    response = client.post(
        NATIVE.format(model=NB2), json=_turn({"text": "a"}), headers=bearer(alice)
    )
    error = _vertex_shaped(response, 504)
    assert error["status"] == "DEADLINE_EXCEEDED"
    job_id = response.headers["X-Imagegen-Job-Id"]
    assert error["details"][-1]["metadata"]["job_id"] == job_id
    assert services.jobs.get(job_id).state == "queued"  # nothing ended it
    # the job is alice's alone: bob gets the same 404 as for no job at all
    assert client.get(f"/v1/jobs/{job_id}", headers=bearer(bob)).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}", headers=bearer(alice)).status_code == 200

    response = client.post("/v1/images/generations", json={"prompt": "b"}, headers=bearer(alice))
    error = _openai_shaped(response, 504)
    assert response.headers["x-should-retry"] == "false"  # a retry would be a second job
    assert error["job_id"] == response.headers["X-Imagegen-Job-Id"]
    record("a job past the wait: 504 with its id", [504, 404, 200, 504])


def test_prefer_wait_shortens_the_wait_and_keys_are_per_caller(doors, issuer):
    _, client = doors
    alice, bob = issuer.token("alice-key@example.com"), issuer.token("bob-key@example.com")
    url = NATIVE.format(model=NB2)
    headers = {"Idempotency-Key": "shared-key", "Prefer": "wait=0"}
    first = client.post(url, json=_turn({"text": "a"}), headers={**bearer(alice), **headers})
    again = client.post(url, json=_turn({"text": "a"}), headers={**bearer(alice), **headers})
    other = client.post(url, json=_turn({"text": "b"}), headers={**bearer(bob), **headers})
    assert [r.status_code for r in (first, again, other)] == [504, 504, 504]
    ids = [r.headers["X-Imagegen-Job-Id"] for r in (first, again, other)]
    assert ids[0] == ids[1] != ids[2]  # a replay meets its job; bob's key is his own
    changed = client.post(url, json=_turn({"text": "c"}), headers={**bearer(alice), **headers})
    assert _vertex_shaped(changed, 409)["status"] == "ABORTED"
