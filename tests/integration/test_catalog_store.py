"""The catalog overlay in the Firestore emulator (issue 17): one retirement however many
workers race for it, and a live catalog that sees a change within its TTL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from imagegen.domain.catalog import Overlay
from imagegen.services import lifecycle

LITE = "gemini-3.1-flash-lite-image"
NB2 = "gemini-3.1-flash-image"


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


def test_gone_everywhere_needs_every_listed_location(services):
    pro = services.catalog["gemini-3-pro-image"]
    lifecycle.record_not_found(services, pro, "global", "404")
    assert not lifecycle.gone_everywhere(services, pro)
    for location in pro.locations:
        lifecycle.record_not_found(services, pro, location, "404")
    assert lifecycle.gone_everywhere(services, pro)


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
