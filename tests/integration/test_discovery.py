"""Arrivals (issue 30) against the Firestore and Pub/Sub emulators and the Vertex stand-in:
Model Garden's list is read through the real v1beta1 client, a new image model is recorded
and announced once, an event whose publish failed is published by the next check, and
adoption fills in what was found and asks for the rest."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from imagegen.errors import InvalidRequest
from imagegen.services import discovery

NEW = "gemini-7-image-preview-x"


def test_image_models_are_told_from_the_rest_by_their_id():
    assert discovery.image_capable("gemini-nano-banana-3")
    assert discovery.image_capable("gemini-4-flash-image")
    assert discovery.image_capable("gemini-4-flash-image-preview")
    assert not discovery.image_capable("gemini-3.5-flash")
    assert not discovery.image_capable("gemini-embedding-2")
    assert not discovery.image_capable("imagen-5.0-generate-001")  # :predict: not servable
    assert not discovery.image_capable("imagegeneration@007")


def test_the_event_is_a_cloudevent_with_a_stable_id():
    event = discovery.model_available_event("p", NEW, {"launch_stage": "GA"})
    assert event["type"] == discovery.EVENT_TYPE == "com.imagegen.catalog.v1.model_available"
    assert event["id"] == f"model_available-{NEW}" and event["subject"] == NEW
    assert event["source"] == "//imagegen/projects/p/catalog"
    assert event["data"]["adopt"] == f"imagegen catalog add {NEW} --from-discovered"


@pytest.fixture
def appeared(vertex_url):
    requests.post(
        f"{vertex_url}/_standin/models",
        json={"model": NEW, "like": "gemini-nano-banana-2.1", "launch_stage": "PUBLIC_PREVIEW"},
        timeout=5,
    ).raise_for_status()
    yield NEW
    requests.delete(f"{vertex_url}/_standin/models", timeout=5)


@pytest.fixture
def services(make_services, unique):
    s = make_services(catalog_collection=f"catalog-{unique}", catalog_ttl_seconds=0.2)
    yield s
    s.catalog_store.reset()


def test_a_failed_publish_is_retried_by_the_next_check_and_announced_once(
    services, make_services, appeared, caplog
):
    location = services.settings.model_check_location
    broken = make_services(
        catalog_collection=services.settings.catalog_collection, events_topic="no-such-topic"
    )
    with caplog.at_level(logging.WARNING, logger="imagegen.discovery"):
        report = discovery.discover(broken, location)
    assert report["new"] == [NEW] and report["listed"] > 5
    assert [a["model"] for a in report["available"]] == [NEW]
    found = services.catalog_store.discovered()[NEW]
    assert found["launch_stage"] == "PUBLIC_PREVIEW" and not found["announced"]
    lines = [r for r in caplog.records if getattr(r, "code", None) == "model_available"]
    assert len(lines) == 1 and lines[0].model == NEW
    # the next check: nothing new, the event published now, the line not repeated
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="imagegen.discovery"):
        again = discovery.discover(services, location)
    assert again["new"] == []
    assert services.catalog_store.discovered()[NEW]["announced"] is True
    assert not [r for r in caplog.records if getattr(r, "code", None) == "model_available"]


def test_adoption_fills_in_what_was_found_and_names_what_is_missing(services, appeared):
    discovery.discover(services, services.settings.model_check_location)
    with pytest.raises(InvalidRequest) as info:
        discovery.adopt(services, "admin@example.com", NEW)
    missing = {d["field"] for d in info.value.details}
    assert {"sizes", "locations", "price_usd_per_image", "default_location"} <= missing
    with pytest.raises(InvalidRequest, match="cannot add"):
        discovery.adopt(services, "admin@example.com", "gemini-never-seen-image")
    record, spec = discovery.adopt(
        services,
        "admin@example.com",
        NEW,
        like="gemini-nano-banana-2.1",
        fields={"price_usd_per_image": {"1K": 0.05, "2K": 0.05, "4K": 0.05}},
    )
    assert spec.lifecycle.value == "preview" and spec.price("1K") == 0.05
    assert list(spec.sizes) == ["1K", "2K", "4K"]  # as the model it is like
    assert record["history"][-1]["who"] == "admin@example.com"
    assert services.catalog.get(NEW) is not None  # this instance, at once
    assert discovery.available(services) == []
    stored = json.dumps(services.catalog_store.read()["overlay"].models[NEW])
    assert "Model Garden" in stored  # the found fact keeps its source
