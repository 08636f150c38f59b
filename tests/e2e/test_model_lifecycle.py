"""The model lifecycle autopilot and the live catalog against the whole local stack
(issues 17, 30): a shutdown in the middle of traffic, a price changed with `imagegen catalog
set`, the daily Model Garden check, and a model that appears in Model Garden, announced
once and adopted with `imagegen catalog add` - all without restarting a function.

The stack's functions re-read the catalog overlay every IMAGEGEN_CATALOG_TTL_SECONDS (2 s in
tests/conftest.py; the default is 30 s, at most 60). Each test leaves the overlay empty and
every model served again."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from imagegen.adapters.catalog_firestore import CatalogStore
from imagegen.bootstrap import Services
from imagegen.config import load_settings
from imagegen.domain.catalog import DEFAULT_MODEL
from imagegen_client.cli import cli

pytestmark = pytest.mark.stack

LITE = "gemini-3.1-flash-lite-image"
PRO = "gemini-3-pro-image"
ADMIN = "catalog-admin@example.com"  # IMAGEGEN_ADMIN_MEMBERS in tests/conftest.py


@pytest.fixture
def clean_catalog(stack, http, vertex_url):
    """An empty overlay and every model served, before and after the test."""
    settings = load_settings()
    store = CatalogStore.connect(
        settings.project, settings.firestore_database, settings.catalog_collection
    )

    def reset() -> None:
        store.reset()
        http.delete(f"{vertex_url}/_standin/shutdown", timeout=10).raise_for_status()
        http.delete(f"{vertex_url}/_standin/models", timeout=10).raise_for_status()
        time.sleep(float(settings.catalog_ttl_seconds) + 0.5)  # every instance sees it

    reset()
    yield store
    reset()


def _wait_all(http, api_url, ids: list[str], timeout: float = 240) -> dict[str, dict]:
    done: dict[str, dict] = {}
    end = time.monotonic() + timeout
    while time.monotonic() < end and len(done) < len(ids):
        for job_id in ids:
            if job_id in done:
                continue
            job = http.get(f"{api_url}/v1/jobs/{job_id}", timeout=10).json()
            if job["state"] in ("succeeded", "failed", "blocked", "cancelled"):
                done[job_id] = job
        time.sleep(0.5)
    return done


def test_fifty_jobs_absorb_a_shutdown_midway(
    http, api_url, vertex_url, model_retired_lines, unique, clean_catalog
):
    before = len(model_retired_lines(LITE))
    submitted: list[tuple[str, bool]] = []  # (job id, submitted after the shutdown)

    def submit(i: int, after: bool) -> tuple[str, bool]:
        r = http.post(
            f"{api_url}/v1/jobs",
            json={"prompt": f"lifecycle {unique} {i}", "model": LITE},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        return r.json()["id"], after

    with ThreadPoolExecutor(8) as pool:
        submitted += pool.map(lambda i: submit(i, False), range(25))
        # Google shuts the model down while jobs are queued and running
        http.post(
            f"{vertex_url}/_standin/shutdown", json={"model": LITE}, timeout=10
        ).raise_for_status()
        shutdown_at = time.monotonic()
        submitted += pool.map(lambda i: submit(i, True), range(25, 50))

    ids = [job_id for job_id, _ in submitted]
    done = _wait_all(http, api_url, ids)
    assert len(done) == 50, f"lost or stuck: {sorted(set(ids) - set(done))}"
    states = {job_id: job["state"] for job_id, job in done.items()}
    assert set(states.values()) == {"succeeded"}, states
    for job_id, after in submitted:
        if after:
            served = done[job_id]["served_by"]["model"]
            assert served == DEFAULT_MODEL, (job_id, done[job_id]["served_by"])
    # exactly one retirement, one line, one overlay write
    lines = model_retired_lines(LITE)
    assert len(lines) - before == 1, lines
    assert lines[-1]["replacement"] == DEFAULT_MODEL and lines[-1]["source"] == "vertex_404"
    record = clean_catalog.read()
    assert record["version"] == 1 and len(record["history"]) == 1, record
    assert LITE in record["overlay"].retired
    # /v1/models shows it retired, with who retired it
    body = http.get(f"{api_url}/v1/models", timeout=10).json()
    entry = next(m for m in body["models"] if m["id"] == LITE)
    assert entry["retired"] is True and entry["replacement"] == DEFAULT_MODEL
    assert body["catalog"]["history"][-1]["who"] == "imagegen-autopilot"
    assert time.monotonic() - shutdown_at < 240


def test_a_price_set_with_the_cli_reaches_models_and_estimates(
    http, api_url, stack_env, tmp_path, clean_catalog
):
    runner = CliRunner()
    overlay = tmp_path / "overlay.json"
    overlay.write_text(json.dumps({"models": {LITE: {"price_usd_per_image": {"1K": 0.5}}}}))

    def cli_as(caller: str, *args: str):
        return runner.invoke(cli, ["--url", api_url, "--caller", caller, *args])

    refused = cli_as("someone@example.com", "catalog", "set", str(overlay))
    assert refused.exit_code != 0 and "403" in refused.output
    diff = cli_as(ADMIN, "--json", "catalog", "diff", str(overlay))
    assert diff.exit_code == 0, diff.output
    assert any(c.get("field") == "price_usd_per_image" for c in json.loads(diff.output)["changes"])
    changed = cli_as(ADMIN, "catalog", "set", str(overlay))
    assert changed.exit_code == 0, changed.output
    started = time.monotonic()
    while True:  # no restart: the submit instance re-reads the overlay within its TTL
        models = http.get(f"{api_url}/v1/models", timeout=10).json()
        lite = next(m for m in models["models"] if m["id"] == LITE)
        if lite["price_usd_per_image"]["1K"] == 0.5:
            break
        assert time.monotonic() - started < 60, "the new price did not arrive in 60 s"
        time.sleep(0.5)
    assert models["catalog"]["updated_by"] == ADMIN and models["catalog"]["version"] == 1
    job = http.post(
        f"{api_url}/v1/jobs", json={"prompt": "priced", "model": LITE, "number_of_images": 2}
    ).json()
    assert job["estimated_cost_usd"] == pytest.approx(1.0), job
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": {LITE: {"price_usd_per_image": "free"}}}))
    refused = cli_as(ADMIN, "catalog", "set", str(bad))
    assert refused.exit_code != 0 and "400" in refused.output
    assert clean_catalog.read()["version"] == 1  # nothing changed
    shown = cli_as(ADMIN, "models")
    assert shown.exit_code == 0 and "lifecycle" in shown.output


def test_the_daily_check_retires_a_model_before_any_job_reaches_it(
    http, api_url, vertex_url, stack_env, clean_catalog
):
    from imagegen.services.lifecycle import check_models

    http.delete(f"{vertex_url}/_standin/requests", timeout=10)
    http.post(f"{vertex_url}/_standin/shutdown", json={"model": PRO}, timeout=10)
    report = check_models(Services(load_settings()))
    assert report["checked"][PRO]["found"] is False
    assert report["checked"][PRO]["retired"] == DEFAULT_MODEL
    assert report["checked"][LITE]["launch_stage"] == "GA"
    asked = http.get(f"{vertex_url}/_standin/requests", timeout=10).json()
    # Model Garden look-ups only (one a model, and the list of arrivals): no generation call
    assert {r["method"] for r in asked} == {"getPublisherModel", "listPublisherModels"}
    time.sleep(load_settings().catalog_ttl_seconds + 0.5)  # the submit instance sees it
    r = http.post(f"{api_url}/v1/jobs", json={"prompt": "after the check", "model": PRO})
    assert r.status_code == 202, r.text
    done = _wait_all(http, api_url, [r.json()["id"]], timeout=60)
    job = done[r.json()["id"]]
    assert job["state"] == "succeeded" and job["served_by"]["model"] == DEFAULT_MODEL
    calls = http.get(f"{vertex_url}/_standin/requests?model={PRO}", timeout=10).json()
    assert [c["method"] for c in calls] == ["getPublisherModel"], calls
    facts = http.get(f"{api_url}/v1/models", timeout=10).json()
    lite = next(m for m in facts["models"] if m["id"] == LITE)
    assert lite["lifecycle_facts"]["launch_stage"] == "GA"
    assert lite["lifecycle_facts"]["launch_stage_source"].startswith("model_garden")


def test_a_model_that_appears_is_announced_once_and_adopted_without_a_restart(
    http, api_url, vertex_url, event_tap, unique, clean_catalog
):
    from devstack.emulators import pull_job_events
    from imagegen.services.discovery import EVENT_TYPE
    from imagegen.services.lifecycle import check_models

    new = f"gemini-9-flash-image-{unique[:8].lower()}"
    runner = CliRunner()

    def cli_as(*args: str):
        return runner.invoke(cli, ["--url", api_url, "--caller", ADMIN, *args])

    pull_job_events(*event_tap, new, quiet=0.5)  # nothing left from an earlier run
    http.post(
        f"{vertex_url}/_standin/models",
        json={"model": new, "like": "gemini-nano-banana-2.1", "launch_stage": "PUBLIC_PREVIEW"},
        timeout=10,
    ).raise_for_status()
    refused = http.post(f"{api_url}/v1/jobs", json={"prompt": "x", "model": new}, timeout=10)
    assert refused.status_code == 400 and "unknown model" in refused.text

    first = check_models(Services(load_settings()))
    assert first["arrivals"]["new"] == [new], first["arrivals"]
    again = check_models(Services(load_settings()))  # the next day: nothing new
    assert again["arrivals"]["new"] == []
    events = pull_job_events(*event_tap, new, quiet=3.0)
    assert [e["type"] for e in events] == [EVENT_TYPE], events
    assert events[0]["data"]["launch_stage"] == "PUBLIC_PREVIEW"
    assert events[0]["id"] == f"model_available-{new}"

    diff = cli_as("--json", "catalog", "diff")
    assert diff.exit_code == 0, diff.output
    [arrival] = [c for c in json.loads(diff.output)["changes"] if c.get("model") == new]
    assert arrival["change"] == "available" and arrival["launch_stage"] == "PUBLIC_PREVIEW"
    shown = cli_as("catalog", "diff")
    assert f"{new}: available on Vertex AI" in shown.output

    missing = cli_as("catalog", "add", new, "--from-discovered")  # no --like: facts missing
    assert missing.exit_code != 0 and "400" in missing.output and "sizes" in missing.output
    added = cli_as("catalog", "add", new, "--from-discovered", "--like", "gemini-nano-banana-2.1")
    assert added.exit_code == 0, added.output

    started = time.monotonic()
    while True:  # no restart: submit re-reads the overlay within its TTL
        r = http.post(
            f"{api_url}/v1/jobs",
            json={"prompt": f"{unique} adopted", "model": new, "image_size": "2K"},
            timeout=10,
        )
        if r.status_code == 202:
            break
        assert time.monotonic() - started < 60, r.text
        time.sleep(0.5)
    done = _wait_all(http, api_url, [r.json()["id"]], timeout=60)
    job = done[r.json()["id"]]
    assert job["state"] == "succeeded" and job["served_by"]["model"] == new, job
    model = next(m for m in http.get(f"{api_url}/v1/models").json()["models"] if m["id"] == new)
    assert model["lifecycle"] == "preview"
    assert model["sources"][0]["url"].endswith("/v1beta1/publishers/google/models")
    after = json.loads(cli_as("--json", "catalog", "diff").output)["changes"]
    assert not [c for c in after if c.get("change") == "available" and c["model"] == new]
