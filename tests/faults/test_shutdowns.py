"""A model Google shuts down mid-traffic is absorbed whatever the locations (issue 30).

The stand-in shuts a model down at run time (`POST /_standin/shutdown`: its calls and its
Model Garden entry answer 404 NOT_FOUND, as Vertex does for a model that is gone) while a
batch of jobs for it is queued and running. Every job must end `succeeded` (served by the
replacement once the model is retired), with exactly one `model_retired` line, and jobs
submitted after the shutdown are routed without a restart.

Each scenario runs with the worker's location settings as Terraform deploys them by default
(`vertex_locations`, `vertex_default_location`, `vertex_fallback_locations` in
terraform/variables.tf, read from the file) or with every location allowed and no fallback
(the session stack's settings), for a model served in one location (Lite: global) and one
the catalog lists in several (Pro: global, us-central1, us-east1). Until issue 30 a
multi-location model was never retired by its 404s: the worker waited for a 404 from every
location the catalog lists, while jobs only call the locations the deployment allows
(measured: 50 Pro jobs -> 42 failed, no `model_retired`).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from imagegen.adapters.catalog_firestore import CatalogStore
from imagegen.config import load_settings
from imagegen.domain.catalog import DEFAULT_MODEL

LITE = "gemini-3.1-flash-lite-image"
PRO = "gemini-3-pro-image"
VARIABLES_TF = Path(__file__).resolve().parents[2] / "terraform" / "variables.tf"


def _terraform_default(name: str) -> str:
    """A variable's `default` in terraform/variables.tf, as the env value Terraform sets
    (lists joined by commas: terraform/main.tf `join(",", ...)`)."""
    text = VARIABLES_TF.read_text()
    block = re.search(rf'variable "{name}" {{(.*?)\n}}', text, re.S)
    assert block, f"{name} is not in {VARIABLES_TF}"
    value = re.search(r"^\s*default\s*=\s*(.+)$", block.group(1), re.M)
    assert value, f"{name} has no default"
    parsed = json.loads(value.group(1))
    return ",".join(parsed) if isinstance(parsed, list) else str(parsed)


TERRAFORM_DEFAULTS = {
    "IMAGEGEN_ALLOWED_LOCATIONS": _terraform_default("vertex_locations"),
    "IMAGEGEN_DEFAULT_LOCATION": _terraform_default("vertex_default_location"),
    "IMAGEGEN_FALLBACK_LOCATIONS": _terraform_default("vertex_fallback_locations"),
}
ALL_ALLOWED: dict[str, str] = {}  # the session stack: no allow-list, no fallback


@pytest.fixture
def overlay_store(stack):
    settings = load_settings()
    return CatalogStore.connect(
        settings.project, settings.firestore_database, settings.catalog_collection
    )


def _reset(faults, store) -> None:
    store.reset()
    faults.http.delete(f"{faults.vertex_url}/_standin/shutdown", timeout=10).raise_for_status()
    time.sleep(load_settings().catalog_ttl_seconds + 0.5)  # every instance sees it


@pytest.mark.parametrize(
    ("model", "settings", "jobs"),
    [
        pytest.param(PRO, TERRAFORM_DEFAULTS, 50, id="multi-location-terraform-defaults"),
        pytest.param(PRO, ALL_ALLOWED, 20, id="multi-location-all-allowed"),
        pytest.param(LITE, TERRAFORM_DEFAULTS, 20, id="one-location-terraform-defaults"),
    ],
)
def test_a_shutdown_mid_traffic_fails_no_job(
    faults, overlay_store, model_retired_lines, unique, model, settings, jobs
):
    """(Lite with every location allowed: tests/e2e/test_model_lifecycle.py.)"""
    started = time.monotonic()
    _reset(faults, overlay_store)
    before = len(model_retired_lines(model))
    half = jobs // 2

    def body(i: int) -> dict:
        return {"prompt": f"{unique}j{i:02d} a lighthouse at dusk", "model": model}

    try:
        if settings:
            faults.restart("generate", extra_env=settings)
        early = faults.submit_batch([body(i) for i in range(half)])
        faults.http.post(
            f"{faults.vertex_url}/_standin/shutdown", json={"model": model}, timeout=10
        ).raise_for_status()
        late = faults.submit_batch([body(i) for i in range(half, jobs)])
        outcome = faults.wait_all(early + late, timeout=240)
    finally:
        if settings:
            faults.restart("generate")
    lines = model_retired_lines(model)[before:]
    states = {i: outcome.jobs[i]["state"] for i in outcome.jobs}
    failed = [i for i, s in states.items() if s != "succeeded"]
    faults.record(
        f"shutdown of {model.removeprefix('gemini-')} ({'defaults' if settings else 'all'})",
        jobs,
        "model shut down after half the submits",
        outcome,
        0,
        len(faults.calls(unique)),
        time.monotonic() - started,
    )
    try:
        assert not outcome.lost and not outcome.stuck, (outcome.lost, outcome.stuck)
        why = [(i, outcome.jobs[i].get("error")) for i in failed]
        assert failed == [], f"{len(failed)} of {jobs} failed: {why}"
        assert len(lines) == 1, lines
        assert lines[0]["replacement"] == DEFAULT_MODEL
        for job_id in late:  # submitted after the shutdown: routed, no restart needed
            served = outcome.jobs[job_id]["served_by"]["model"]
            assert served == DEFAULT_MODEL, (job_id, outcome.jobs[job_id])
        assert model in overlay_store.read()["overlay"].retired
    finally:
        _reset(faults, overlay_store)
