"""The Job model's rules (pure): overdue, the model that served it, its cost and refund, and
the view the API shows of it."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from imagegen.domain.job import DEADLINE_EXCEEDED, Job
from imagegen.domain.job_values import Output, cost_of
from imagegen.domain.job_view import JobView, status_url

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def _job(**more) -> Job:
    return Job.from_document({"id": "j1", "state": "running", "model": "m", **more})


def test_overdue_only_past_the_deadline():
    assert not _job().overdue(NOW)  # no deadline recorded
    assert not _job(deadline_at=NOW + dt.timedelta(seconds=1)).overdue(NOW)
    assert _job(deadline_at=NOW - dt.timedelta(seconds=1)).overdue(NOW)
    assert _job().deadline_error().to_json() == {
        "code": "deadline_exceeded",
        "message": DEADLINE_EXCEEDED,
    }


def test_served_model_is_the_one_that_answered():
    assert _job().served_model == "m"
    served = _job(served_by={"model": "other", "location": "global"})
    assert served.served_model == "other"


def test_cost_is_the_delivered_images_priced_as_delivered():
    outputs = [{"uri": "gs://b/0", "cost_usd": 0.0672}, {"uri": "gs://b/1", "cost_usd": 0.134}]
    outputs.append({"uri": "gs://b/2"})
    assert cost_of([Output(**o) for o in outputs]) == 0.2012
    assert _job(outputs=outputs).actual_cost_usd == 0.2012
    assert _job(outputs=outputs, cost_usd=0.1).actual_cost_usd == 0.1


def test_refund_is_the_unspent_reservation_never_negative():
    charged = {"usd": 0.5, "counters": ["a", "b"]}
    assert _job(charged=charged).refund_usd == 0.5  # failed or cancelled: all back
    assert _job(charged=charged, cost_usd=0.2).refund_usd == 0.3
    assert _job(charged=charged, cost_usd=0.9).refund_usd == 0.0
    assert _job().refund_usd == 0.0  # nothing reserved
    assert _job(charged=charged).charged_counters == ["a", "b"]


def test_an_unknown_field_is_refused_where_it_is_written():
    """A typo was accepted and its value silently dropped (`extra="allow"`): the outputs
    of `outptus` never reached a reader. Now it is an error where the job is made."""
    with pytest.raises(ValidationError, match="outptus"):
        Job(id="j1", state="succeeded", outptus=[{"uri": "gs://b/0.png"}])
    with pytest.raises(ValidationError, match="outptus"):
        Job.model_validate({"id": "j1", "state": "succeeded", "outptus": []})
    with pytest.raises(ValidationError, match="urll"):
        Output(uri="gs://b/0.png", urll="x")


def test_a_document_of_another_version_is_read_without_its_unknown_fields():
    """Reading is tolerant: fields another version wrote are left out of the Job (the store
    writes only what a change changes, so they stay in the document)."""
    job = _job(
        future_field={"x": 1},
        outputs=[{"uri": "gs://b/0.png", "index": 0, "future_part": True}],
        error={"code": "c", "message": "m", "future_detail": 1},
    )
    assert job.outputs == [Output(uri="gs://b/0.png", index=0)]
    assert job.error.to_json() == {"code": "c", "message": "m"}
    assert "future_field" not in job.model_dump()
    with pytest.raises(ValidationError):  # a known field with a wrong value is still wrong
        _job(attempts="many")


def test_view_keeps_stored_values_and_marks_status_deprecated():
    job = _job(
        state="failed",
        error={"code": "c", "message": "m", "last_error": None},
        outputs=[{"uri": "gs://b/jobs/j1/0.png", "mime_type": "image/png", "index": 0}],
        caller="alice",
        fingerprint="f",
        lease_expires_at=NOW,
        finished_at=NOW,
    )
    view = JobView.of(job, status_url("https://api.example/", "j1")).to_json()
    assert view == {
        "id": "j1",
        "state": "failed",
        "status": "failed",
        "status_url": "https://api.example/v1/jobs/j1",
        "model": "m",
        "error": {"code": "c", "message": "m", "last_error": None},
        "outputs": [{"uri": "gs://b/jobs/j1/0.png", "mime_type": "image/png", "index": 0}],
        "finished_at": "2026-11-25T12:00:00Z",
    }
    schema = JobView.model_json_schema(mode="serialization")
    assert schema["properties"]["status"]["deprecated"] is True
    assert {"thoughts", "parent_job_id", "enhanced_prompt", "images_produced"} <= set(
        schema["properties"]
    )


def test_status_url_for_the_api_and_the_studio():
    assert status_url("http://h:1", "abc") == "http://h:1/v1/jobs/abc"
    assert status_url("http://h:1/", "abc", "/api/jobs") == "http://h:1/api/jobs/abc"
