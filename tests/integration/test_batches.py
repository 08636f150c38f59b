"""Batches (issue 29, phase A) in-process against the real emulators and the Vertex
stand-in's batch prediction: submit writes the Vertex input and starts the job through the
real `aiplatform_v1.JobServiceClient` (REST), the follow step polls it and splits its
predictions JSONL (streamed from the storage emulator) into items, each ended exactly once
in the batch's item index. Faults come from directives in the prompts, so each test's are
its own; every fault ends every item exactly once."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time

import pytest
import requests
from PIL import Image

from imagegen.auth import Caller
from imagegen.domain.batch import LABEL_BATCH, item_job_id
from imagegen.domain.batch_view import SubmittedBatchView
from imagegen.domain.catalog import load_catalog
from imagegen.errors import BudgetExceeded, Conflict, InvalidRequest, NotFound, Unavailable
from imagegen.services import batch_results, batches, upkeep
from imagegen.services.batch_follow import follow

NB2 = "gemini-3.1-flash-image"
PRO = "gemini-3-pro-image"
OWNER = Caller("batch-owner@example.com")


def _jsonl(lines: list[dict | str]) -> bytes:
    return b"\n".join(
        (line if isinstance(line, str) else json.dumps(line)).encode() for line in lines
    )


def _submit(services, lines, **kwargs):
    return batches.submit_batch(
        services, _jsonl(lines), "application/jsonl", caller=OWNER.id, **kwargs
    )


def _until_done(services, batch_id: str, timeout: float = 90.0, step=follow):
    """Run the follow step (as the sweep does) until the batch has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        step(services)
        batch = services.batches.get(batch_id)
        if batch.terminal:
            return batch
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} did not end: {services.batches.get(batch_id)}")


def _items(services, batch_id: str) -> dict[int, dict]:
    """Each ended item's job record (as stored), by line: every index entry names a job
    that exists, is terminal, belongs to the batch and has the entry's state."""
    records = services.batches.items(batch_id, limit=1000)
    assert len({r["line"] for r in records}) == len(records)  # each item once
    jobs = {}
    for record in records:
        job = services.jobs.get(record["job_id"])
        assert job is not None and job.terminal and job.batch_id == batch_id
        assert job.state == record["state"]
        assert [o.uri for o in job.outputs or []] == record["outputs"]
        jobs[record["line"]] = {**job.model_dump(mode="json"), "line": record["line"]}
    return jobs


def _object(services, uri: str):
    bucket, name = uri.removeprefix("gs://").split("/", 1)
    return services.storage._client.bucket(bucket).get_blob(name)


def test_a_batch_runs_through_vertex_batch_prediction_at_half_price(
    make_services, unique, vertex_url
):
    services = make_services()
    lines: list[dict | str] = []
    for n in range(17):
        body = {"prompt": f"{unique} poster {n}", "aspect_ratio": "1:1"}
        if n == 3:
            body["prompt"] += " [[block:IMAGE_SAFETY]]"
        if n == 5:
            body["prompt"] += " [[fail:400]]"
        if n == 7:
            body.update(model=PRO, image_size="2K")
        if n == 9:
            body["number_of_images"] = 2
        lines.append(body)
    lines.insert(2, {"prompt": ""})  # line 3: invalid
    lines.insert(10, "not json")  # line 11
    lines.insert(15, {"prompt": f"{unique} x", "aspect_ratio": "7:3"})  # line 16
    submitted = _submit(services, lines, upload=None)
    answer = SubmittedBatchView.of(submitted.batch, submitted.rejected, None).to_json()
    assert answer["items"] == 17 and answer["status"] == "queued"
    assert [r["line"] for r in answer["rejected"]] == [3, 11, 16]
    assert answer["rejected"][2]["error"]["details"][0]["field"] == "aspect_ratio"
    catalog = load_catalog()
    online = 15 * catalog[NB2].price("1K") + 2 * catalog[NB2].price("1K") + catalog[PRO].price("2K")
    assert answer["estimated_cost_usd"] == pytest.approx(online / 2)

    batch = services.batches.get(submitted.batch.id)
    assert [(g.model, g.location, g.items, g.lines) for g in batch.groups] == [
        (PRO, "global", 1, 1),
        (NB2, "global", 16, 17),
    ]
    assert not any(g.vertex_job for g in batch.groups)  # the sweep starts them
    follow(services)
    batch = services.batches.get(batch.id)
    assert all(g.vertex_job for g in batch.groups) and batch.state == "queued"
    created = requests.get(
        f"{vertex_url}/_standin/requests",
        params={"method": "batchPredictionJobs.create"},
        timeout=5,
    ).json()
    mine = [r for r in created if r["body"]["labels"].get(LABEL_BATCH) == batch.id]
    assert {r["body"]["model"] for r in mine} == {
        f"publishers/google/models/{m}" for m in (NB2, PRO)
    }

    done = _until_done(services, batch.id)
    assert done.state == "partially_succeeded"
    assert done.counts.model_dump() == {
        "total": 17,
        "succeeded": 15,
        "failed": 1,
        "blocked": 1,
        "cancelled": 0,
        "pending": 0,
    }
    items = _items(services, batch.id)
    assert sorted(items) == [n for n in range(1, 21) if n not in (3, 11, 16)]
    blocked = next(r for r in items.values() if "[[block:" in r["request"]["prompt"])
    assert blocked["state"] == "blocked" and not blocked["outputs"]
    assert blocked["blocked_images"] and blocked["error"]["code"] == "blocked"
    failed = next(r for r in items.values() if "[[fail:400]]" in r["request"]["prompt"])
    assert failed["state"] == "failed" and "400" in failed["error"]["message"]
    double = next(r for r in items.values() if r["request"]["number_of_images"] == 2)
    assert [o["index"] for o in double["outputs"]] == [0, 1]
    pro = next(r for r in items.values() if r["model"] == PRO)
    [output] = pro["outputs"]
    assert (output["width"], output["height"]) == (2048, 2048)
    assert output["cost_usd"] == pytest.approx(catalog[PRO].price("2K") / 2)

    # every item is an ordinary job record, its images stored with provenance
    record = items[1]
    assert record["id"] == item_job_id(batch.id, 1)
    assert (record["source"], record["caller"], record["batch_id"]) == ("batch", OWNER.id, batch.id)
    assert record["state"] == "succeeded" and record["served_by"]["model"] == NB2
    [output] = record["outputs"]
    assert output["cost_usd"] == pytest.approx(catalog[NB2].price("1K") / 2)
    assert record["cost_usd"] == pytest.approx(output["cost_usd"])
    assert output["uri"].endswith(f"/jobs/{record['id']}/0.png") and output["synthid"] is True
    blob = _object(services, output["uri"])
    image = Image.open(io.BytesIO(blob.download_as_bytes()))
    assert image.size == (1024, 1024)
    # issue 25: the bytes are Vertex's; our provenance is the object's metadata
    assert blob.metadata["imagegen-job-id"] == record["id"]
    assert blob.metadata["imagegen-batch-id"] == batch.id
    assert blob.metadata["imagegen-region"] == "global"
    # Pro's images carry Google's Content Credentials (the stand-in signs them), read back
    assert output["content_credentials"]["present"] is False  # NB2: the stand-in signs none
    assert pro["outputs"][0]["content_credentials"]["valid"] is True
    # the cost is the batch price of what was delivered: half the online price
    delivered = sum(o["cost_usd"] * 2 for r in items.values() for o in r["outputs"])
    assert done.cost_usd == pytest.approx(delivered / 2)
    # batch.completed was raised with the end, and published (the outbox is empty again)
    assert done.finished_at is not None and not services.batches.get(batch.id).pending_events

    page = batches.batch_items(services, batch.id, limit=5, after=4)
    assert [p["line"] for p in page] == [5, 6, 7, 8, 9]
    with pytest.raises(NotFound):
        batches.get_batch(services, batch.id, Caller("someone-else@example.com"))


def test_a_batch_with_no_valid_line_is_refused_whole(make_services, unique):
    services = make_services()
    with pytest.raises(InvalidRequest) as refused:
        _submit(services, [{"prompt": ""}, {"prompt": f"{unique}", "model": "imagen-9"}])
    assert [d["line"] for d in refused.value.details] == [1, 2]


def test_a_vertex_job_that_fails_whole_fails_every_item(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)  # driven by the scheduler's sweep itself
    lines = [
        {"prompt": f"{unique} a {n} [[batch:fail]]" if n == 0 else f"{unique} b {n}"}
        for n in range(4)
    ]
    assert "batches_followed" in upkeep.sweep(services)
    batch = _until_done(services, _submit(services, lines).batch.id, step=upkeep.sweep)
    assert batch.state == "failed"
    assert batch.counts.failed == 4 and batch.counts.pending == 0
    for record in _items(services, batch.id).values():
        assert record["error"]["code"] == "no_result"
        assert "failed by request" in record["error"]["message"]


def test_a_vertex_job_failing_midway_keeps_the_rows_it_wrote(make_services, unique):
    services = make_services()
    lines = [
        {"prompt": f"{unique} row {n}" + (" [[batch:fail_midway]]" if n == 5 else "")}
        for n in range(6)
    ]
    batch = _until_done(services, _submit(services, lines).batch.id)
    assert batch.state == "partially_succeeded"
    assert (batch.counts.succeeded, batch.counts.failed) == (3, 3)
    states = {line: r["state"] for line, r in _items(services, batch.id).items()}
    assert states == {
        1: "succeeded",
        2: "succeeded",
        3: "succeeded",
        4: "failed",
        5: "failed",
        6: "failed",
    }


def test_a_truncated_output_line_fails_only_its_item(make_services, unique):
    services = make_services()
    lines = [
        {"prompt": f"{unique} t {n}" + (" [[batch:truncate]]" if n == 0 else "")} for n in range(5)
    ]
    batch = _until_done(services, _submit(services, lines).batch.id)
    items = _items(services, batch.id)
    assert (batch.counts.succeeded, batch.counts.failed) == (4, 1)
    [cut] = [r for r in items.values() if r["state"] == "failed"]
    assert cut["line"] == 5 and not cut["outputs"]  # the last line was the one cut
    assert "could not be read" in cut["error"]["message"]
    assert (
        _object(services, f"gs://{services.settings.outputs_bucket}/jobs/{cut['id']}/0.png") is None
    )


def test_a_sweep_killed_while_splitting_ends_each_item_once_when_run_again(
    make_services, unique, monkeypatch
):
    services = make_services()
    lines = [{"prompt": f"{unique} k {n}"} for n in range(8)]
    batch_id = _submit(services, lines).batch.id
    ended = []
    real_end = batch_results.end_item
    lock = threading.Lock()  # items end on the split's threads

    def dies_after_three(services_, batch, item, result):
        with lock:
            if len(ended) == 3:
                raise RuntimeError("the sweep was killed")
            ended.append(item.line)
        return real_end(services_, batch, item, result)

    monkeypatch.setattr(batch_results, "end_item", dies_after_three)
    deadline = time.monotonic() + 60
    while len(ended) < 3 and time.monotonic() < deadline:
        follow(services)  # the failure is logged and counted, as in the sweep
        time.sleep(0.3)
    assert len(ended) == 3
    assert len(services.batches.ended_lines(batch_id)) == 3
    monkeypatch.setattr(batch_results, "end_item", real_end)
    batch = _until_done(services, batch_id)
    assert batch.state == "succeeded" and batch.counts.succeeded == 8
    items = _items(services, batch_id)
    assert sorted(items) == list(range(1, 9))
    assert all(len(r["outputs"]) == 1 for r in items.values())


def test_cancelling_mid_run_keeps_what_ran_and_cancels_the_rest(make_services, unique):
    services = make_services()
    lines = [
        {"prompt": f"{unique} c {n}" + (" [[batch:slow:3]]" if n == 0 else "")} for n in range(6)
    ]
    batch_id = _submit(services, lines).batch.id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        follow(services)
        if services.batches.get(batch_id).groups[0].vertex_state == "JOB_STATE_RUNNING":
            break
        time.sleep(0.2)
    batches.cancel_batch(services, batch_id, OWNER)
    batch = _until_done(services, batch_id)
    assert batch.state == "cancelled"
    assert batch.groups[0].vertex_state == "JOB_STATE_CANCELLED"
    states = [r["state"] for r in _items(services, batch_id).values()]
    assert len(states) == 6 and set(states) <= {"succeeded", "cancelled"}
    assert states[0] == "succeeded" and "cancelled" in states
    with pytest.raises(NotFound):
        batches.cancel_batch(services, batch_id, Caller("someone-else@example.com"))


def test_a_batch_past_its_deadline_is_given_up(make_services, unique):
    services = make_services()
    lines = [{"prompt": f"{unique} d {n} [[batch:slow:5]]"} for n in range(3)]
    batch_id = _submit(services, lines).batch.id
    later = services.batches.get(batch_id).deadline_at + dt.timedelta(seconds=1)
    follow(services, now=later)
    batch = _until_done(services, batch_id)
    assert batch.error["code"] == "deadline_exceeded" and batch.counts.pending == 0
    unrun = [r for r in _items(services, batch_id).values() if not r.get("outputs")]
    assert unrun and {r["error"]["code"] for r in unrun} == {"deadline_exceeded"}
    assert {r["state"] for r in unrun} == {"failed"}


def _fault(vertex_url: str, method: str, batch_id: str, status: int, times: int = 1) -> None:
    rule = {
        "match": {"method": f"batchPredictionJobs.{method}", "prompt_contains": batch_id},
        "status": status,
        "times": times,
    }
    current = requests.get(f"{vertex_url}/_standin/faults", timeout=5).json()["rules"]
    keep = [{k: r[k] for k in ("match", "status", "times")} for r in current if r["remaining"] != 0]
    requests.post(f"{vertex_url}/_standin/faults", json={"rules": [*keep, rule]}, timeout=5)


def test_vertex_errors_at_create_and_get_are_retried_or_end_the_items(
    make_services, unique, vertex_url
):
    services = make_services()
    lines = [{"prompt": f"{unique} e {n}"} for n in range(2)]
    denied = _submit(services, lines).batch.id
    refused = _submit(services, lines).batch.id
    _fault(vertex_url, "create", denied, 403)  # a new deployment's grants take minutes
    _fault(vertex_url, "get", denied, 503, times=2)  # Vertex unavailable for a while
    _fault(vertex_url, "create", refused, 400)  # Vertex will never take this job
    follow(services)
    first = services.batches.get(denied)
    assert (
        first.groups[0].vertex_job is None and "HTTP 403" in first.groups[0].submit_error["message"]
    )
    assert services.batches.ended_lines(denied) == set()  # nothing ended: tried again
    done = _until_done(services, denied)
    assert done.state == "succeeded" and done.counts.succeeded == 2
    gone = _until_done(services, refused)
    assert gone.state == "failed" and gone.groups[0].vertex_job is None
    assert {r["error"]["code"] for r in _items(services, refused).values()} == {"batch_refused"}


LITE = "gemini-3.1-flash-lite-image"


def test_items_on_a_model_vertex_does_not_batch_fan_out_into_ordinary_jobs(make_services, unique):
    services = make_services()  # the stack's generate function runs the fanned-out jobs
    lines = [
        {"prompt": f"{unique} lite {n}", "model": LITE}
        if n % 2
        else {"prompt": f"{unique} nb2 {n}"}
        for n in range(4)
    ]
    submitted = _submit(services, lines)
    catalog = load_catalog()
    online, batched = catalog[LITE].price("1K"), catalog[NB2].price("1K") / 2
    assert submitted.batch.estimated_cost_usd == pytest.approx(2 * online + 2 * batched)
    assert submitted.batch.fanout.items == 2 and submitted.batch.groups[0].items == 2
    done = _until_done(services, submitted.batch.id)
    assert done.state == "succeeded" and done.counts.succeeded == 4
    items = _items(services, done.id)
    lite = [r for r in items.values() if r["model"] == LITE]
    assert len(lite) == 2 and all(r["attempts"] >= 1 for r in lite)  # the worker ran them
    assert all(r["outputs"][0]["cost_usd"] == pytest.approx(online) for r in lite)
    assert done.cost_usd == pytest.approx(2 * online + 2 * batched)
    follow(services)  # a later sweep makes no second job, ends nothing twice
    assert len(services.batches.items(done.id, 100)) == 4


def test_cancelling_cancels_fanned_out_jobs_still_queued(make_services, idle_queue, unique):
    services = make_services(tasks_queue=idle_queue)  # nobody runs them: they stay queued
    lines = [{"prompt": f"{unique} q {n}", "model": LITE} for n in range(3)]
    batch_id = _submit(services, lines).batch.id
    follow(services)
    jobs = [services.jobs.get(item_job_id(batch_id, n)) for n in (1, 2, 3)]
    assert all(j is not None and j.state == "queued" and j.batch_id == batch_id for j in jobs)
    batches.cancel_batch(services, batch_id, OWNER)
    batch = _until_done(services, batch_id)
    assert batch.state == "cancelled" and batch.counts.cancelled == 3
    assert {services.jobs.get(j.id).state for j in jobs} == {"cancelled"}


def _spent(services, caller: str) -> dict:
    from imagegen.domain.quota import counter_ids

    doc_id = counter_ids(caller, dt.datetime.now(dt.UTC))["caller_day"]
    return services.firestore.collection("usage").document(doc_id).get().to_dict() or {}


def test_a_batch_reserves_its_estimate_against_the_budget_and_gives_back_the_rest(
    make_services, unique
):
    caller = f"budget-{unique}@example.com"
    services = make_services(caller_usd_per_day=0.2)
    price = load_catalog()[NB2].price("1K") / 2
    body = _jsonl(
        [{"prompt": f"{unique} {n}" + (" [[block:SAFETY]]" if n == 0 else "")} for n in range(3)]
    )
    submitted = batches.submit_batch(services, body, "application/jsonl", caller=caller)
    assert submitted.batch.charged.usd == pytest.approx(3 * price)
    assert _spent(services, caller)["reserved_usd"] == pytest.approx(3 * price)
    too_much = _jsonl([{"prompt": f"{unique} more {n}"} for n in range(9)])
    with pytest.raises(BudgetExceeded):  # 0.1 + 0.3 > 0.2: refused whole, nothing written
        batches.submit_batch(services, too_much, "application/jsonl", caller=caller)
    assert len(services.batches.of_caller(caller, 10)) == 1
    done = _until_done(services, submitted.batch.id)
    assert done.counts.blocked == 1 and done.cost_usd == pytest.approx(2 * price)
    spent = _spent(services, caller)  # the blocked item's share went back at the end
    assert spent["reserved_usd"] == pytest.approx(2 * price)
    assert spent["refunded_usd"] == pytest.approx(price)


def test_an_idempotency_key_replays_its_batch_and_refuses_another_body(make_services, unique):
    services = make_services()
    body = _jsonl([{"prompt": f"{unique} one"}])
    first = batches.submit_batch(
        services, body, "application/jsonl", caller=OWNER.id, idempotency_key=unique
    )
    again = batches.submit_batch(
        services, body, "application/jsonl", caller=OWNER.id, idempotency_key=unique
    )
    assert (again.batch.id, again.created) == (first.batch.id, False)
    with pytest.raises(Conflict):
        other = _jsonl([{"prompt": f"{unique} two"}])
        batches.submit_batch(
            services, other, "application/jsonl", caller=OWNER.id, idempotency_key=unique
        )
    mine = batches.submit_batch(
        services, body, "application/jsonl", caller="someone-else", idempotency_key=unique
    )
    assert mine.batch.id != first.batch.id  # keys are per caller


def test_batch_completed_lost_at_publish_is_published_by_the_next_sweep(
    make_services, unique, monkeypatch
):
    services = make_services()
    batch_id = _submit(services, [{"prompt": f"{unique} e"}]).batch.id
    real = services.event_topic.publish
    lost = []

    def down(event, **kwargs):
        if event["type"].startswith("com.imagegen.batch."):
            lost.append(event["id"])
            raise Unavailable("Pub/Sub is down")
        return real(event, **kwargs)

    monkeypatch.setattr(services.event_topic, "publish", down)
    batch = _until_done(services, batch_id)  # (other tests' batches may end meanwhile)
    assert f"{batch_id}-completed" in lost
    assert [e.id for e in services.batches.get(batch_id).pending_events] == [
        f"{batch_id}-completed"
    ]
    monkeypatch.setattr(services.event_topic, "publish", real)
    assert follow(services)["batch_events_republished"] >= 1
    assert not services.batches.get(batch_id).pending_events
    assert batch.state == "succeeded"


def test_a_split_out_of_time_pauses_at_a_line_and_the_next_sweep_goes_on(make_services, unique):
    """With no time for a split (IMAGEGEN_BATCH_SPLIT_SECONDS=0) each sweep ends what it read
    up to a line where no item is half read, notes the offset, and the next sweep reads on
    from there: the batch ends with each item once, and no sweep read the output twice."""
    services = make_services(batch_split_seconds=0)
    lines = [
        {"prompt": f"{unique} r {n}", "number_of_images": 2 if n == 2 else 1} for n in range(5)
    ]
    batch_id = _submit(services, lines).batch.id
    offsets = []
    deadline = time.monotonic() + 90
    while not services.batches.get(batch_id).terminal:
        assert time.monotonic() < deadline
        follow(services)
        group = services.batches.get(batch_id).groups[0]
        if group.resume and (not offsets or offsets[-1] != group.resume["offset"]):
            offsets.append(group.resume["offset"])
        time.sleep(0.2)
    assert len(offsets) >= 2 and offsets == sorted(offsets)  # paused, and went on, forwards
    batch = services.batches.get(batch_id)
    assert batch.state == "succeeded" and batch.counts.succeeded == 5
    items = _items(services, batch_id)
    assert sorted(len(r["outputs"]) for r in items.values()) == [1, 1, 1, 1, 2]
