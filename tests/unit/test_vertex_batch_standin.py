"""The stand-in's Vertex batch prediction (devstack/vertex_batch_standin.py), driven through
the project's batch adapter, i.e. the real `aiplatform_v1.JobServiceClient` over REST, with
its input and output in a storage emulator: jobs move over time, write Vertex's output
format, refuse what Vertex refuses, and cancel, fail and expire as asked."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests

from devstack.vertex_standin import serve
from imagegen.adapters.storage_gcs import Storage
from imagegen.adapters.vertex_batch import VertexBatches
from imagegen.adapters.vertex_batch_input import VertexBatchInput
from imagegen.domain.batch import LineKey
from imagegen.domain.catalog import load_catalog
from imagegen.domain.generation import BytesSink
from imagegen.domain.request import JobRequest
from imagegen.errors import FinalUpstream
from imagegen.media import pixel_size

PROJECT = "proj"
BUCKET = "outputs"  # the gcs fixture's (conftest.py)
NB2, LITE = "gemini-3.1-flash-image", "gemini-3.1-flash-lite-image"
CATALOG = load_catalog()


@pytest.fixture(scope="module")
def standin(gcs):
    os.environ["DEVSTACK_VERTEX_BATCH_STEP_SECONDS"] = "0.1"
    try:
        server, thread = serve(0, storage_endpoint=gcs)
    finally:
        os.environ.pop("DEVSTACK_VERTEX_BATCH_STEP_SECONDS")
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def vertex(standin) -> VertexBatches:
    return VertexBatches(PROJECT, standin, timeout=10)


@pytest.fixture(scope="module")
def storage(gcs) -> Storage:
    return Storage.connect(PROJECT)


def _input(storage, vertex, name: str, prompts: list[str], **fields) -> str:
    spec = CATALOG[NB2]
    lines = b""
    for n, prompt in enumerate(prompts, start=1):
        req = JobRequest(prompt=prompt, model=NB2, image_size="1K", **fields)
        lines += VertexBatchInput().input_line(spec, req, LineKey(n, 0, 1, f"job{n}").labels("b1"))
    return storage.write(BUCKET, f"{name}/input.jsonl", lines, "application/jsonl")


def _create(vertex, input_uri: str, name: str, labels=None):
    return vertex.create(NB2, "global", input_uri, f"gs://{BUCKET}/{name}/out", name, labels or {})


def _until(vertex, name: str, states: set[str], timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = vertex.get(name)
        if job.state in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} stayed {vertex.get(name).state}")


DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def test_a_job_moves_over_time_and_writes_vertex_output_format(vertex, storage):
    uri = _input(
        storage,
        vertex,
        "run",
        ["a fox", "an owl [[block:IMAGE_SAFETY]]", "a cat [[fail:500]]"],
        aspect_ratio="16:9",
    )
    job = _create(vertex, uri, "run")
    assert job.state == "JOB_STATE_QUEUED" and job.output_dir is None
    seen = {job.state}
    while job.state not in DONE:
        job = vertex.get(job.name)
        seen.add(job.state)
        time.sleep(0.02)
    # how long each state lasts is the machine's business: only which states, not timings
    assert job.state == "JOB_STATE_SUCCEEDED"
    assert seen <= {"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING", job.state}
    assert job.counts == {"successful": 2, "failed": 1, "incomplete": 0}
    [output] = storage.list(job.output_dir)
    assert output.startswith(f"gs://{BUCKET}/run/out/prediction-model-")
    assert output.endswith("/predictions.jsonl")
    lines = [json.loads(raw) for raw in b"".join(storage.read_chunks(output)).splitlines()]
    assert [set(line) for line in lines] == [
        {"status", "processed_time", "request", "response"}
    ] * 2 + [{"status", "processed_time", "request"}]
    assert lines[0]["status"] == "" and lines[0]["request"]["labels"]["imagegen-item"] == "1"
    assert json.loads(lines[2]["status"])["error"]["code"] == 500
    sinks = {}

    def open_image(key, mime):
        sinks[key.line] = BytesSink()
        return sinks[key.line]

    read = list(vertex.read_results(storage.read_chunks(output), open_image))
    assert [len(line.generation.images) if line.generation else None for line in read] == [
        1,
        0,
        None,
    ]
    assert pixel_size(sinks[1].data) == (1376, 768)  # the catalog's 1K 16:9


def test_jobs_are_found_by_their_labels(vertex, storage):
    uri = _input(storage, vertex, "find", ["a fox"])
    made = _create(vertex, uri, "find", {"imagegen-batch": "bfind", "imagegen-group": "g0"})
    assert (
        vertex.find("global", {"imagegen-batch": "bfind", "imagegen-group": "g0"}).name == made.name
    )
    assert vertex.find("global", {"imagegen-batch": "bfind", "imagegen-group": "g1"}) is None
    assert vertex.find("us-central1", {"imagegen-batch": "bfind"}) is None


def test_enums_travel_as_numbers_when_the_client_asks(standin, vertex, storage):
    job = _create(vertex, _input(storage, vertex, "enum", ["a fox"]), "enum")
    url = f"{standin}/v1/{job.name}"
    assert isinstance(
        requests.get(url, params={"$alt": "json;enum-encoding=int"}, timeout=5).json()["state"], int
    )
    assert requests.get(url, timeout=5).json()["state"].startswith("JOB_STATE_")


def test_a_queued_job_cancels_at_once_and_an_ended_one_cannot(vertex, storage):
    job = _create(vertex, _input(storage, vertex, "cancel", ["a fox"]), "cancel")
    vertex.cancel(job.name)
    cancelled = vertex.get(job.name)
    assert cancelled.state == "JOB_STATE_CANCELLED" and cancelled.output_dir is None
    with pytest.raises(FinalUpstream, match="cannot be cancelled"):
        vertex.cancel(job.name)


def test_cancelling_a_running_job_writes_the_rows_already_done(vertex, storage):
    uri = _input(storage, vertex, "slow", ["a [[batch:slow:2]]", "b", "c"])
    job = _create(vertex, uri, "slow")
    _until(vertex, job.name, {"JOB_STATE_RUNNING"})
    time.sleep(0.3)
    vertex.cancel(job.name)
    assert vertex.get(job.name).state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    ended = _until(vertex, job.name, DONE)
    assert ended.state == "JOB_STATE_CANCELLED" and ended.error["message"] == "CANCELED"
    [output] = storage.list(ended.output_dir)
    assert len(b"".join(storage.read_chunks(output)).splitlines()) == 1


@pytest.mark.parametrize(
    ("directive", "state"),
    [("[[batch:fail]]", "JOB_STATE_FAILED"), ("[[batch:expire]]", "JOB_STATE_EXPIRED")],
)
def test_whole_job_faults_end_the_job_without_output(vertex, storage, directive, state):
    name = state.lower()
    job = _create(vertex, _input(storage, vertex, name, [f"a fox {directive}", "b"]), name)
    ended = _until(vertex, job.name, DONE)
    assert ended.state == state and ended.error and ended.output_dir is None


def test_vertex_refuses_what_it_would_refuse(vertex, storage):
    uri = _input(storage, vertex, "refuse", ["a fox"])
    with pytest.raises(FinalUpstream, match="does not support batch prediction"):
        vertex.create(LITE, "global", uri, f"gs://{BUCKET}/x", "lite", {})
    with pytest.raises(FinalUpstream, match="HTTP 404"):
        vertex.create("imagen-4.0-generate-001", "global", uri, f"gs://{BUCKET}/x", "gone", {})
    with pytest.raises(FinalUpstream, match="outputConfig"):
        vertex.create(NB2, "global", uri, "s3://elsewhere", "bad", {})
