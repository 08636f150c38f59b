"""The OpenAPI document against the running API: every answer the local stack gives (jobs
of every kind and state, models, usage, errors) must be valid against the schema the document
declares for that path, method and status — with jsonschema (Draft 2020-12, OpenAPI 3.1's
dialect). An answer whose status the document does not declare fails too."""

from __future__ import annotations

import re
import time

import pytest

TERMINAL = {"succeeded", "blocked", "failed", "cancelled"}


def wait(http, url: str, timeout: float = 60) -> dict:
    end = time.monotonic() + timeout
    while (job := http.get(url, timeout=10).json())["state"] not in TERMINAL:
        assert time.monotonic() < end, f"job not terminal after {timeout}s: {job}"
        time.sleep(0.2)
    return job


def errors_of(validator, body) -> str:
    """Every way `body` breaks the schema, one line each ("" when it fits)."""
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    return "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def conforms(openapi_schema):
    doc = openapi_schema.doc
    templates = [
        (re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$"), path) for path in doc["paths"]
    ]
    seen: list[tuple[str, str, int]] = []

    def check(response) -> dict:
        """Validate one answer; returns its JSON body."""
        request = response.request
        path = re.sub(r"^https?://[^/]+", "", request.url).split("?")[0]
        [template] = [t for rx, t in templates if rx.match(path)]
        operation = doc["paths"][template][request.method.lower()]
        declared = operation["responses"]
        status = str(response.status_code)
        assert status in declared, f"{request.method} {template} answered {status}, undeclared"
        schema = declared[status]["content"]["application/json"]["schema"]
        body = response.json()
        if "$ref" in schema:
            errors = errors_of(openapi_schema(schema["$ref"]), body)
            assert not errors, errors
        seen.append((request.method, template, response.status_code))
        return body

    check.seen = seen
    return check


def test_every_job_answer_matches_the_job_schema(http, api_url, unique, conforms):
    post = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": f"{unique} a lighthouse", "number_of_images": 2, "labels": {"t": "x"}},
        headers={"Idempotency-Key": unique},
        timeout=10,
    )
    assert post.status_code == 202
    job = conforms(post)
    replay = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": f"{unique} a lighthouse", "number_of_images": 2, "labels": {"t": "x"}},
        headers={"Idempotency-Key": unique},
        timeout=10,
    )
    assert replay.status_code == 200 and conforms(replay)["id"] == job["id"]
    wait(http, job["status_url"])
    done = conforms(http.get(job["status_url"], timeout=10))
    assert done["state"] == "succeeded" and len(done["outputs"]) == 2
    assert done["images_produced"] == 2 and done["status"] == done["state"]
    assert all(o["url"] for o in done["outputs"])  # signed URLs are part of the schema

    # thoughts and text, then a refinement of it (parent_job_id): the fields the old
    # hand-written document lacked
    thinking = http.post(
        f"{api_url}/v1/jobs",
        json={
            "prompt": f"{unique} a kite",
            "model": "gemini-3-pro-image",
            "include_thoughts": True,
            "response_text": True,
        },
        timeout=10,
    ).json()
    first = conforms(http.get(wait(http, thinking["status_url"])["status_url"], timeout=10))
    assert first["state"] == "succeeded" and first["thoughts"]
    refine = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": f"{unique} in the rain", "parent_job_id": first["id"]},
        timeout=10,
    )
    child = conforms(refine)
    finished = conforms(http.get(wait(http, child["status_url"])["status_url"], timeout=10))
    assert finished["parent_job_id"] == first["id"]

    blocked = http.post(
        f"{api_url}/v1/jobs", json={"prompt": f"[[block:prompt]] {unique}"}, timeout=10
    ).json()
    ended = conforms(http.get(wait(http, blocked["status_url"])["status_url"], timeout=10))
    assert ended["state"] == "blocked" and ended["error"]["code"]

    cancel = http.delete(done["status_url"], timeout=10)  # a finished job: 409
    assert cancel.status_code == 409 and conforms(cancel)["error"]["code"] == "conflict"


def test_models_usage_health_and_errors_match(http, api_url, unique, conforms):
    assert conforms(http.get(f"{api_url}/v1/models", timeout=10))["models"]
    usage = conforms(http.get(f"{api_url}/v1/usage", timeout=10))
    assert usage["day"] and "total" in usage
    assert "month" in conforms(http.get(f"{api_url}/v1/usage?month=2026-11", timeout=10))
    assert conforms(http.get(f"{api_url}/healthz", timeout=5)) == {"ok": True}
    for response in (
        http.post(f"{api_url}/v1/jobs", json={"prompt": ""}, timeout=10),  # 400
        http.post(f"{api_url}/v1/jobs", data="x", headers={"Content-Type": "text/plain"}),
        http.get(f"{api_url}/v1/jobs/{unique}", timeout=10),  # 404
        http.get(f"{api_url}/v1/usage?day=yesterday", timeout=10),  # 400
        http.get(f"{api_url}/v1/usage?caller=someone-else", timeout=10),  # 403
    ):
        assert response.status_code >= 400
        assert conforms(response)["error"]["message"]
    assert {200, 400, 403, 404, 415} <= {status for _, _, status in conforms.seen}


def test_every_batch_answer_matches_the_batch_schema(
    http, api_url, unique, conforms, sweep_until_ended
):
    """Issue 29's /v1/batches: submitted (JSON and JSONL, a replay), read while it runs and
    after it ended with its items, listed, cancelled, and its errors."""
    base = f"{api_url}/v1/batches"
    body = {"requests": [{"prompt": f"{unique} a fern"}, {"prompt": ""}], "labels": {"t": "x"}}
    post = http.post(base, json=body, headers={"Idempotency-Key": unique}, timeout=10)
    assert post.status_code == 202
    submitted = conforms(post)
    assert submitted["items"] == 1 and [r["line"] for r in submitted["rejected"]] == [2]
    replay = http.post(base, json=body, headers={"Idempotency-Key": unique}, timeout=10)
    assert replay.status_code == 200 and conforms(replay)["id"] == submitted["id"]
    running = conforms(http.get(submitted["status_url"], timeout=10))
    assert running["state"] in ("queued", "running")

    def read() -> dict:
        return conforms(http.get(f"{submitted['status_url']}?limit=5", timeout=10))

    done = sweep_until_ended(read)
    assert done["state"] == "succeeded" and [i["line"] for i in done["items"]] == [1]
    assert conforms(http.get(f"{base}?limit=5", timeout=10))["batches"]

    jsonl = f'{{"prompt": "{unique} a moss"}}\n{{"prompt": "{unique} a lichen"}}\n'
    other = http.post(base, data=jsonl, headers={"Content-Type": "application/jsonl"}, timeout=10)
    assert other.status_code == 202 and conforms(other)["items"] == 2
    cancel = http.delete(conforms(other)["status_url"], timeout=10)
    assert cancel.status_code == 202 and conforms(cancel)["cancel_requested"] is True
    ended = http.delete(submitted["status_url"], timeout=10)  # an ended batch: 409
    assert ended.status_code == 409 and conforms(ended)["error"]["code"] == "conflict"
    for response in (
        http.post(base, json={"requests": [{"prompt": ""}]}, timeout=10),  # no valid line: 400
        http.post(base, data="x", headers={"Content-Type": "text/plain"}, timeout=10),  # 415
        http.get(f"{base}/b{unique}", timeout=10),  # 404
        http.get(f"{submitted['status_url']}?limit=0", timeout=10),  # 400
    ):
        assert response.status_code >= 400
        assert conforms(response)["error"]["message"]
    seen = {(method, status) for method, template, status in conforms.seen if "batch" in template}
    assert {("POST", 200), ("POST", 202), ("GET", 200), ("DELETE", 202), ("DELETE", 409)} <= seen
    assert {("POST", 400), ("POST", 415), ("GET", 404), ("GET", 400)} <= seen


def test_the_check_itself_refuses_a_wrong_job(openapi_schema):
    """The validation is real: a job with a state the API does not have, a lost `id` or an
    unknown field fails against the same schema."""
    job = openapi_schema("Job")
    good = {"id": "j", "state": "queued", "status": "queued"}
    assert job.is_valid(good)
    assert not job.is_valid({**good, "state": "done"})
    assert not job.is_valid({"state": "queued", "status": "queued"})
    assert not job.is_valid({**good, "lease_expires_at": "2026-11-25T00:00:00Z"})
