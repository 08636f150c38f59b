"""The catalog overlay in the Firestore emulator (issue 17): one retirement however many
workers race for it, and a live catalog that sees a change within its TTL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from imagegen.domain.catalog import Overlay
from imagegen.services import lifecycle

LITE = "gemini-3.1-flash-lite-image"
NB2 = "gemini-3.1-flash-image"
PRO = "gemini-3-pro-image"
NB25 = "gemini-2.5-flash-image"


@pytest.fixture
def services(make_services, unique):
    s = make_services(catalog_collection=f"catalog-{unique}", catalog_ttl_seconds=0.5)
    yield s
    s.catalog_store.reset()


def test_twenty_racing_workers_retire_a_model_once(services):
    with ThreadPoolExecutor(20) as pool:
        wrote = list(
            pool.map(
                lambda i: lifecycle.retire(
                    services, LITE, NB2, who=f"worker-{i}", source="vertex_404", reason="404"
                ),
                range(20),
            )
        )
    assert wrote.count(True) == 1
    record = services.catalog_store.read()
    assert record["version"] == 1 and len(record["history"]) == 1
    assert services.catalog.get(LITE) is None
    assert services.catalog.retired_model(LITE).replacement == NB2


@pytest.fixture
def shut_down(vertex_url):
    """Shut models down in the stand-in for one test."""
    models: list[str] = []

    def shut(model: str) -> None:
        requests.post(f"{vertex_url}/_standin/shutdown", json={"model": model}, timeout=5)
        models.append(model)

    yield shut
    requests.delete(f"{vertex_url}/_standin/shutdown", timeout=5)


def test_a_job_that_met_404_everywhere_it_may_call_retires_a_gone_model(services, shut_down):
    """Pro is listed in three locations; the job called one. Model Garden confirms."""
    pro = services.catalog[PRO]
    shut_down(PRO)
    lifecycle.record_not_found(services, pro, "global", "404")
    assert lifecycle.absorb_not_found(services, pro, "job-1")
    assert services.catalog.get(PRO) is None
    assert services.catalog.retired_model(PRO).replacement == NB2
    assert "global" in services.catalog_store.read()["overlay"].retired[PRO].reason


def test_a_model_model_garden_still_publishes_is_kept(services):
    lite = services.catalog[LITE]
    lifecycle.record_not_found(services, lite, "global", "404 (no access, say)")
    assert not lifecycle.absorb_not_found(services, lite, "job-2")
    assert services.catalog.get(LITE) is not None
    checks = services.catalog_store.observations(LITE)["model_garden"]
    assert checks["found"] and checks["asked_by"] == "job"


def test_a_deprecated_model_vertex_no_longer_serves_here_is_routed(services):
    """gemini-2.5-flash-image: Vertex announced its retirement, Model Garden lists it, and
    this project gets 404 (legacy models may close to new projects): routed to Lite."""
    old = services.catalog[NB25]
    lifecycle.record_not_found(services, old, "global", "404")
    assert lifecycle.absorb_not_found(services, old, "job-3")
    gone = services.catalog.retired_model(NB25)
    assert gone.replacement == LITE and "Model Garden still lists it" in gone.notes


def test_a_change_reaches_another_instance_within_its_ttl(services, make_services):
    other = make_services(
        catalog_collection=services.settings.catalog_collection, catalog_ttl_seconds=0.5
    )
    assert other.catalog[LITE].price("1K") != 0.5
    services.catalog_store.change(
        "admin@example.com",
        "price",
        lambda _o: Overlay(models={LITE: {"price_usd_per_image": {"1K": 0.5}}}),
    )
    time.sleep(0.6)
    assert other.catalog[LITE].price("1K") == 0.5


def test_an_invalid_overlay_is_never_stored(services):
    def edit(_o: Overlay) -> Overlay:
        bad = Overlay(retired={LITE: {"replacement": "nope", "shutdown_date": "2026-11-25"}})
        lifecycle._check(services, bad)
        return bad

    with pytest.raises(ValueError):
        services.catalog_store.change("admin@example.com", "bad", edit)
    assert services.catalog_store.read()["version"] == 0
