"""The batch prediction job we create is the one Google's own SDK creates for the same batch
(issue 29): google-genai's `client.batches.create` (newest release, `vertexai=True`, in its
own venv) and our adapter (the real `aiplatform_v1.JobServiceClient`, REST) each create a
job against a local capture server; both bodies are read through the `BatchPredictionJob`
proto and compared field by field. Deliberate differences are listed and checked too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from google.cloud.aiplatform_v1.types import BatchPredictionJob
from google.protobuf import json_format

from imagegen.adapters.vertex_batch import VertexBatches
from tests.unit.test_genai_parity import GENAI_PYTHON, ROOT, _diff

PROJECT = "parity-project"
OUR_LABELS = {"imagegen-batch": "b123", "imagegen-group": "g0"}
# What differs on purpose: the path's API version (the SDK targets v1beta1 for Vertex, our
# client is the GA aiplatform_v1 surface), and our labels: the SDK's CreateBatchJobConfig
# has no labels for Vertex, and ours find a job whose create timed out (vertex_batch.py).
KNOWN_DIFFERENCES = {"path_version": ("v1beta1", "v1"), "only_ours": {"labels": OUR_LABELS}}
CALLS = [
    ("gemini-3.1-flash-image", "global"),
    ("gemini-3-pro-image", "us-central1"),
]


def _canonical(body: dict) -> dict:
    message = BatchPredictionJob.pb()()
    json_format.Parse(json.dumps(body), message)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _batch(model: str, location: str) -> dict:
    base = f"gs://bucket/batches/b123/{model}"
    return {"src": f"{base}/input.jsonl", "dest": f"{base}/output", "name": f"imagegen-{model}"}


def test_the_batch_job_we_create_matches_google_genai(capture):
    if not Path(GENAI_PYTHON).exists():
        pytest.fail(f"google-genai's venv is missing ({GENAI_PYTHON}): run `make tools`")
    base = f"http://127.0.0.1:{capture.server_port}"
    capture.records.clear()
    calls = [{"model": m, "location": loc, **_batch(m, loc)} for m, loc in CALLS]
    run = subprocess.run(
        [GENAI_PYTHON, str(ROOT / "tests/unit/genai_capture.py")],
        input=json.dumps({"base_url": base, "project": PROJECT, "calls": calls}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert run.returncode == 0 and all(r.get("ok") for r in results), (results, run.stderr[-2000:])
    theirs = list(capture.records)

    capture.records.clear()
    adapter = VertexBatches(PROJECT, base)
    for call in calls:
        adapter.create(
            call["model"], call["location"], call["src"], call["dest"], call["name"], OUR_LABELS
        )
    ours = list(capture.records)
    assert len(ours) == len(theirs) == len(CALLS)

    problems = []
    their_version, our_version = KNOWN_DIFFERENCES["path_version"]
    for (model, location), mine, sdk in zip(CALLS, ours, theirs, strict=True):
        tail = f"projects/{PROJECT}/locations/{location}/batchPredictionJobs"
        assert sdk["path"].split("?")[0] == f"/{their_version}/{tail}", sdk["path"]
        assert mine["path"].split("?")[0] == f"/{our_version}/{tail}", mine["path"]
        our_body = _canonical(mine["body"])
        assert our_body.pop("labels") == OUR_LABELS
        problems += [f"{model}: {d}" for d in _diff(our_body, _canonical(sdk["body"]))]
        assert our_body["model"] == f"publishers/google/models/{model}"
    assert problems == []
