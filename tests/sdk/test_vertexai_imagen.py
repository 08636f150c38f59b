"""The guide's Vertex AI Imagen snippet (vertexai.preview.vision_models, shipped by
google-cloud-aiplatform 2.7.0), unchanged but for `vertexai.init`, against the local stack
(issue 28): imagen-3.0-generate-001 is shut down, so its :predict call becomes a job on the
replacement, answered in Imagen's predictions[] shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from imagegen.domain.catalog import load_catalog
from tests.sdk.conftest import pixels, provenance

pytestmark = pytest.mark.stack
NB2 = load_catalog()["gemini-3.1-flash-image"]


def test_the_guides_imagen_code_runs_unchanged(stack, stack_env, vertex_url, tmp_path):
    from devstack import idtokens

    token = idtokens.mint(stack.state_dir, "guide@example.com", stack.config.url("submit"))
    requests.delete(f"{vertex_url}/_standin/requests", timeout=10)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "vertexai_imagen.py"), str(tmp_path)],
        input=json.dumps({"base_url": stack_env["IMAGEGEN_API_URL"], "token": token}),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    saved = sorted(tmp_path.glob("vertex_output_*.png"))
    assert len(saved) == 4
    assert {pixels(str(path)) for path in saved} == {NB2.pixel_size("1:1", "1K")}
    # the calls reached Vertex as the replacement at Google's thinking level for Imagen 3
    calls = requests.get(f"{vertex_url}/_standin/requests", timeout=10).json()
    calls = [c for c in calls if "luxury watch" in json.dumps(c["body"])]
    assert len(calls) == 4 and {c["model"] for c in calls} == {NB2.id}
    assert {c["body"]["generationConfig"]["thinkingConfig"]["thinkingLevel"] for c in calls} == {3}
    # and made one job of the guide's caller, readable by its id
    (job_id,) = {c["body"]["labels"]["imagegen-job"] for c in calls}
    job = requests.get(
        f"{stack_env['IMAGEGEN_API_URL']}/v1/jobs/{job_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    assert job["state"] == "succeeded" and job["request"]["model_requested"] == (
        "imagen-3.0-generate-001"
    )
    assert job["request"]["safety_filter_level"] == "block_medium_and_above"
    assert len(job["outputs"]) == 4
    # the SDK re-encodes what it saves (with its own generation parameters); the images it
    # was answered with are the stored files, which carry the job's provenance
    stored = tmp_path / "stored.png"
    stored.write_bytes(requests.get(job["outputs"][0]["url"], timeout=10).content)
    assert provenance(str(stored))["imagegen-job-id"] == job_id
    assert pixels(str(stored)) == NB2.pixel_size("1:1", "1K")
