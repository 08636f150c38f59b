"""Documents written by the job store of main before `Job` became the aggregate, captured
from runs of that code against the local stack: tests/fixtures/job_documents_<commit>.json,
c08d881 (before issue 25), fc6dc9c (issue 25's content credentials on the outputs) and
447f3fb (issue 28's native requests, grounding metadata, request fields and Vertex status
on errors; issue 31's reference_not_found), every state a job reaches, with main's own
JobView and CloudEvent of each. They must still be
read, shown and announced exactly as main showed them, and a field of another version must
not break the reading."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from imagegen.domain.job import Job
from imagegen.domain.job_events import cloud_event
from imagegen.domain.job_values import PendingEvent
from imagegen.domain.job_view import JobView
from imagegen.native import vertex_reply, vertex_request
from imagegen.native.streaming import Images

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAPTURED = {
    f"{path.stem.removeprefix('job_documents_')}/{name}": captured
    for path in sorted(FIXTURES.glob("job_documents_*.json"))
    for name, captured in json.loads(path.read_text()).items()
}


def _decode(value):
    """Firestore timestamps were captured as {"$time": ISO 8601}."""
    if isinstance(value, dict):
        if set(value) == {"$time"}:
            return dt.datetime.fromisoformat(value["$time"])
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _shown(value) -> object:
    return json.loads(json.dumps(value, default=str))


def test_the_capture_covers_every_state():
    for commit in ("c08d881", "fc6dc9c", "447f3fb"):
        captured = {k: v for k, v in CAPTURED.items() if k.startswith(f"{commit}/")}
        states = {_decode(c["document"])["state"] for c in captured.values()}
        assert states == {"queued", "succeeded", "blocked", "failed", "cancelled"}
        names = {key.split("/", 1)[1] for key in captured}
        assert {"refined", "thoughts", "routed", "dead_lettered", "upload"} <= names
    credentials = _decode(CAPTURED["fc6dc9c/thoughts"]["document"])["outputs"][0]
    assert credentials["content_credentials"]["present"] is True
    native = _decode(CAPTURED["447f3fb/native"]["document"])
    assert native["native_request"] and native["grounding_metadata"]
    assert _decode(CAPTURED["447f3fb/failed"]["document"])["error"]["status"] == 400
    missing = _decode(CAPTURED["447f3fb/reference_not_found"]["document"])["error"]
    assert (missing["code"], missing["status"]) == ("reference_not_found", 404)
    request = _decode(CAPTURED["447f3fb/request_fields"]["document"])["request"]
    assert {"system_instruction", "media_resolution", "safety_settings"} <= set(request)


def test_a_native_job_of_main_is_answered_as_main_answered_it():
    """The fields issue 28 added, read from main's documents into the typed Job: the native
    request goes out again with its image, the grounding comes back as Vertex sent it,
    and a failure repeats Vertex's own status."""
    native = Job.from_document(_decode(CAPTURED["447f3fb/native"]["document"]))
    body, version = vertex_request.restore(native.native_request, lambda uri: b"\x89PNG")
    assert version == "v1beta1" and body["tools"] == [{"googleSearch": {}}]
    assert body["contents"][0]["parts"][0]["inlineData"]["data"] == "iVBORw=="
    answer = vertex_reply.response(native, Images(), lambda uri: lambda: b"")
    stored = _decode(CAPTURED["447f3fb/native"]["document"])["grounding_metadata"]
    assert answer["candidates"][0]["groundingMetadata"] == stored
    for name, status in (("failed", 400), ("reference_not_found", 404), ("dead_lettered", 500)):
        job = Job.from_document(_decode(CAPTURED[f"447f3fb/{name}"]["document"]))
        assert vertex_reply.failure(job)[0] == status, name


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_a_document_of_main_is_read_and_shown_as_main_showed_it(name):
    captured = CAPTURED[name]
    document = _decode(captured["document"])
    job = Job.from_document(document)
    assert _shown(JobView.of(job).to_json()) == captured["view"]
    entry = PendingEvent(id=f"{job.id}-7", state=job.state, time=job.created_at)
    assert _shown(cloud_event(job, entry, "s")) == captured["event"]


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_a_document_of_main_keeps_its_stored_form(name):
    """Every value main stored comes back in the same form (nested nulls and all), so a
    change written from the Job writes what main would have."""
    document = _decode(CAPTURED[name]["document"])
    stored = Job.from_document(document).model_dump(by_alias=True, exclude_unset=True)
    assert stored == document


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_a_field_of_another_version_does_not_break_the_reading(name):
    document = _decode(CAPTURED[name]["document"])
    newer = {**document, "written_by_a_newer_version": {"x": 1}}
    if newer.get("outputs"):
        newer["outputs"] = [{**o, "a_newer_output_field": True} for o in newer["outputs"]]
    job = Job.from_document(newer)
    assert _shown(JobView.of(job).to_json()) == CAPTURED[name]["view"]
