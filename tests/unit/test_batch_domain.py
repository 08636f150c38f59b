"""Batches, the pure parts (issue 29): reading a batch (JSON or JSONL, every line checked as
the job API checks a request, limits named), its price (half the online price where Vertex
batches the model, a fact with its source), its state and counts, and the keys that tie a
Vertex output line to its item."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from imagegen.domain import batch_facts
from imagegen.domain.batch import (
    Batch,
    BatchState,
    Counts,
    Group,
    ItemState,
    LineKey,
    item_job_id,
    item_outcome,
)
from imagegen.domain.batch_request import BatchLimits, parse_batch
from imagegen.domain.catalog import load_catalog
from imagegen.domain.job import Job, Outcome, State, TransitionError
from imagegen.domain.job_values import Charges, Output, ServedBy
from imagegen.domain.job_view import JobView
from imagegen.domain.request import Policy, validate_request
from imagegen.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

CATALOG = load_catalog()
POLICY = Policy(reference_buckets=("refs",))
LIMITS = BatchLimits(max_items=5, max_bytes=4096)
NB2, LITE, PRO = "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image", "gemini-3-pro-image"


def _jsonl(*lines) -> bytes:
    return b"\n".join(
        line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines
    )


def _parse(raw: bytes, content_type: str = "application/jsonl", limits: BatchLimits = LIMITS):
    return parse_batch(raw, content_type, CATALOG, POLICY, limits)


def test_each_line_is_checked_as_the_job_api_checks_a_request():
    bad = {"prompt": "x", "number_of_images": "2", "aspect_ratio": "7:3"}
    parsed = _parse(_jsonl({"prompt": "a fox"}, bad, b"{nope", b"", {"prompt": "an owl"}))
    assert [item.line for item in parsed.items] == [1, 5]  # blank line 4 counted, skipped
    assert [r.line for r in parsed.rejected] == [2, 3]
    with pytest.raises(InvalidRequest) as direct:
        validate_request(bad, CATALOG, POLICY)
    assert parsed.rejected[0].error == direct.value.to_json()["error"]  # the same answer
    assert parsed.rejected[1].error["details"][0]["field"] == "body"


def test_a_json_body_holds_requests_and_the_batch_own_webhook_and_labels():
    body = {
        "requests": [{"prompt": "a"}, {"prompt": "b", "model": PRO}],
        "webhook": {"url": "https://hooks.example.com/x"},
        "labels": {"campaign": "spring"},
    }
    parsed = _parse(json.dumps(body).encode(), "application/json; charset=utf-8")
    assert [(i.line, i.model, i.location) for i in parsed.items] == [
        (1, NB2, "global"),
        (2, PRO, "global"),
    ]
    assert parsed.webhook == {"url": "https://hooks.example.com/x"}
    assert parsed.labels == {"campaign": "spring"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"requests": [{"prompt": "a"}], "priority": 1}, "priority"),
        ({"prompts": []}, "requests"),
        ({"requests": [{"prompt": "a"}], "labels": {"Bad Key": "x"}}, "labels"),
        (
            {"requests": [{"prompt": "a"}], "webhook": {"url": "http://plain.example.com"}},
            "webhook.url",
        ),
    ],
)
def test_the_batch_fields_themselves_are_checked(body, field):
    with pytest.raises(InvalidRequest) as refused:
        _parse(json.dumps(body).encode(), "application/json")
    assert field in {d["field"] for d in refused.value.details}


def test_lines_may_not_carry_what_belongs_to_the_batch_or_inline_images():
    line = {
        "prompt": "a",
        "webhook": {"url": "https://hooks.example.com/x"},
        "parent_job_id": "abc",
        "reference_images": [{"gcs_uri": "gs://refs/a.png"}, {"data": "aGVsbG8="}],
        "seed": -1,
    }
    parsed = _parse(_jsonl({"prompt": "ok"}, line))
    fields = [d["field"] for d in parsed.rejected[0].error["details"]]
    assert fields[:3] == ["webhook", "parent_job_id", "reference_images.1.data"]
    assert "seed" in fields  # the job API's own checks still run on the same line
    assert fields.count("reference_images.1.data") == 1  # one message a field


def test_limits_are_enforced_with_413_and_400_naming_them():
    with pytest.raises(PayloadTooLarge) as big:
        _parse(b"x" * 4097)
    assert big.value.http_status == 413 and "IMAGEGEN_BATCH_MAX_BYTES" in big.value.message
    with pytest.raises(InvalidRequest) as many:
        _parse(_jsonl(*[{"prompt": f"p{n}"} for n in range(6)]))
    assert many.value.http_status == 400 and "IMAGEGEN_BATCH_MAX_ITEMS" in many.value.message
    long_line = {"prompt": "p" * 200}
    parsed = _parse(_jsonl({"prompt": "a"}, long_line), limits=BatchLimits(5, 4096, 100))
    assert (
        parsed.rejected[0].line == 2 and "at most 100 bytes" in parsed.rejected[0].error["message"]
    )
    with pytest.raises(UnsupportedMediaType):
        _parse(b'{"prompt": "a"}', "text/plain")


def test_a_batch_without_a_valid_line_is_refused_listing_every_line():
    with pytest.raises(InvalidRequest) as refused:
        _parse(_jsonl({"prompt": ""}, {"model": "imagen-9", "prompt": "a"}))
    assert [d["line"] for d in refused.value.details] == [1, 2]
    # each is a detail like any 400's (the OpenAPI ErrorDetail), with the line's own error
    first = refused.value.details[0]
    assert first["field"] == "line 1" and first["message"] == first["error"]["message"]
    assert first["error"]["details"][0]["field"] == "prompt"
    with pytest.raises(InvalidRequest, match="at least one"):
        _parse(b"\n\n")


def test_batched_models_cost_half_and_the_others_fan_out_at_the_online_price():
    parsed = _parse(
        _jsonl(
            {"prompt": "a", "number_of_images": 2},
            {"prompt": "b", "model": PRO, "image_size": "4K"},
            {"prompt": "c", "model": LITE},
        )
    )
    nb2, pro, lite = parsed.items
    assert (nb2.batched, pro.batched, lite.batched) == (True, True, False)
    assert nb2.images == 2
    assert nb2.estimated_cost_usd == pytest.approx(2 * CATALOG[NB2].price("1K") / 2)
    assert pro.estimated_cost_usd == pytest.approx(CATALOG[PRO].price("4K") / 2)
    assert lite.estimated_cost_usd == pytest.approx(CATALOG[LITE].price("1K"))
    assert parsed.estimated_cost_usd == pytest.approx(
        nb2.estimated_cost_usd + pro.estimated_cost_usd + lite.estimated_cost_usd
    )


def test_which_models_batch_is_a_sourced_catalog_fact():
    assert batch_facts.BATCH_PRICE_FACTOR == 0.5
    batched = {spec.id for spec in CATALOG if spec.batch_prediction}
    # the model pages of Nano Banana 2 and Pro, the batch page for 2.1; no page for Lite or 2.5
    assert batched == {"gemini-3.1-flash-image", "gemini-3-pro-image", "gemini-nano-banana-2.1"}
    for model_id in batched:
        backing = [s for s in CATALOG[model_id].sources if "batch_prediction" in s.fields]
        assert backing and all(s.url.startswith("https://") for s in backing), model_id


def _batch(**counts) -> Batch:
    return Batch(id="b1", state=BatchState.QUEUED, counts=Counts(total=4, **counts))


@pytest.mark.parametrize(
    ("counts", "cancel", "expected"),
    [
        ({}, False, BatchState.QUEUED),
        ({"succeeded": 1}, False, BatchState.RUNNING),
        ({"succeeded": 4}, False, BatchState.SUCCEEDED),
        ({"succeeded": 3, "blocked": 1}, False, BatchState.PARTIALLY_SUCCEEDED),
        ({"failed": 2, "blocked": 2}, False, BatchState.FAILED),
        ({"succeeded": 1, "cancelled": 3}, True, BatchState.CANCELLED),
    ],
)
def test_the_batch_state_follows_from_its_items(counts, cancel, expected):
    batch = _batch(**counts).model_copy(update={"cancel_requested": cancel})
    assert batch.settled_state() == expected


def test_a_batch_runs_once_a_vertex_job_started():
    group = Group(
        id="g0",
        model=NB2,
        location="global",
        items=4,
        lines=4,
        input_uri="gs://b/i",
        output_prefix="gs://b/o",
    )
    assert _batch().model_copy(update={"groups": [group]}).settled_state() == BatchState.QUEUED
    running = group.model_copy(update={"vertex_state": "JOB_STATE_RUNNING", "vertex_job": "x"})
    assert _batch().model_copy(update={"groups": [running]}).settled_state() == BatchState.RUNNING


def test_counts_show_what_is_pending():
    counts = Counts(total=3).plus(ItemState.SUCCEEDED).plus(ItemState.BLOCKED)
    assert counts.model_dump() == {
        "total": 3,
        "succeeded": 1,
        "failed": 0,
        "blocked": 1,
        "cancelled": 0,
        "pending": 1,
    }


def test_an_item_ends_as_the_worker_ends_a_job():
    assert item_outcome(images=1, blocked=1, failed=1) is ItemState.SUCCEEDED
    assert item_outcome(images=0, blocked=2, failed=0) is ItemState.BLOCKED
    assert item_outcome(images=0, blocked=1, failed=1) is ItemState.FAILED
    assert item_outcome(images=0, blocked=0, failed=0) is ItemState.FAILED


def test_a_vertex_request_names_its_item_in_labels_that_come_back():
    key = LineKey(line=12, image=1, images=2, job_id=item_job_id("b1", 12))
    labels = key.labels("b1")
    assert all(len(k) <= 63 and len(v) <= 63 for k, v in labels.items())
    assert LineKey.from_labels({**labels, "team": "art"}) == key
    assert LineKey.from_labels({**labels, "imagegen-image": "2"}) is None  # out of range
    assert LineKey.from_labels({"team": "art"}) is None
    assert LineKey.from_labels(None) is None


def test_item_job_ids_are_stable_per_batch_and_line_and_unlike_each_other():
    assert item_job_id("b1", 1) == item_job_id("b1", 1)
    ids = {item_job_id(batch, line) for batch in ("b1", "b2") for line in range(1, 50)}
    assert len(ids) == 98 and all(len(i) == 24 for i in ids)


def test_an_image_is_priced_at_the_size_it_came_in():
    spec = CATALOG[NB2]
    # one rule for an online job's images and a batch item's (ModelSpec.priced_as)
    assert spec.priced_as("1K", "16:9", 1376, 768, 0) == ("1K", None)
    assert spec.priced_as("1K", None, 768, 1376, 0) == ("1K", None)  # any 1K shape
    priced, warning = spec.priced_as("2K", "1:1", 1024, 1024, 1)
    assert priced == "1K" and "image 1 was delivered at 1024x1024" in warning


def test_the_change_that_ends_a_batch_raises_batch_completed_once():
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    charged = Charges(usd=0.40, counters=["spend|a|2026-12-06"])
    running = _batch(succeeded=1).model_copy(update={"state": "running", "charged": charged})
    still = running.settle({"succeeded": 3}, 0.10, now)
    assert still.state == "running" and still.raised == () and not still.pending_events
    done = still.settle({"succeeded": 3, "failed": 1}, 0.12, now)
    assert done.state == "partially_succeeded" and done.finished_at == now
    assert [e.id for e in done.raised] == ["b1-completed"]
    assert [e.state for e in done.pending_events] == ["partially_succeeded"]
    assert done.counts.pending == 0 and done.cost_usd == 0.12
    assert done.refund_usd == pytest.approx(0.28)  # reserved 0.40, spent 0.12
    assert done.settle({"succeeded": 4}, 0.2, now).raised == ()  # an ended batch: no second


def test_a_batch_item_is_a_terminal_job_that_raises_the_one_event_of_its_end():
    now = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)
    output = Output(uri="gs://o/jobs/j1/0.png", index=0, cost_usd=0.0336, priced_size="1K")
    result = Outcome(
        state=State.SUCCEEDED,
        outputs=[output],
        served_by=ServedBy(model=NB2, location="global"),
        cost_usd=0.0336,
        images_produced=1,
        warnings=["w"],
    )
    request = {"prompt": "a fox", "model": NB2, "region": "global", "number_of_images": 1}
    job = Job.batch_item(
        "j1",
        batch_id="b1",
        request=request,
        caller="ann@example.com",
        estimated_cost_usd=0.0336,
        created_at=now - dt.timedelta(hours=2),
        outcome=result,
        now=now,
    )
    assert (job.state, job.terminal, job.source, job.batch_id) == ("succeeded", True, "batch", "b1")
    assert (job.model, job.region, job.caller, job.warnings) == (
        NB2,
        "global",
        "ann@example.com",
        ["w"],
    )
    assert job.finished_at == now and job.outputs == [output] and job.actual_cost_usd == 0.0336
    assert [(e.id, e.state) for e in job.raised] == [("j1-1", "succeeded")]
    assert job.charged is None and job.refund_usd == 0.0  # the batch reserved its budget
    assert JobView.of(job).to_json()["batch_id"] == "b1"
    with pytest.raises(TransitionError):
        Job.batch_item(
            "j2",
            batch_id="b1",
            request=request,
            caller="a",
            estimated_cost_usd=0.0,
            created_at=now,
            outcome=Outcome(state=State.RUNNING),
            now=now,
        )
