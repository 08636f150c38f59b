"""Arrivals are found, not missed (issue 30): the daily check lists the models Google
publishes in Model Garden and reports the image models the catalog lacks.

Each new one is announced once: a `model_available` log line and a `model_available`
CloudEvent on the job-events topic (docs/events.md), recorded in the catalog store with an
atomic create, so two checks at once announce it once and an event whose publish failed is
published again by the next check. `imagegen catalog diff` lists the ones not adopted yet;
`imagegen catalog add ID --from-discovered` adopts one without a release: the facts Model
Garden gave (id, launch stage) are filled in, `--like` copies a served model's facts, the rest
must be given, and the same schema checks the result before the overlay stores it.

Model Garden's PublisherModel says nothing of modalities, so "an image model" is read from
the id: Google names its image models `...-image...` or `...nano-banana...`. The Imagen family
(`imagen-*`, `imagegeneration@*`, `imagetext@*`) speaks `:predict`, which nothing here can
serve: such ids are not reported.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from imagegen.domain.catalog import ModelSpec, Overlay, apply_overlay
from imagegen.domain.catalog_schema import Lifecycle, Platform, Source
from imagegen.errors import InvalidRequest
from imagegen.logs import get_logger

if TYPE_CHECKING:
    from imagegen.bootstrap import Services

log = get_logger("imagegen.discovery")
EVENT_TYPE = "com.imagegen.catalog.v1.model_available"
IMAGE_ID = re.compile(r"(?:^|-)image(?:-|$)|nano-banana")
PREDICT_FAMILY = ("imagen-", "imagegeneration", "imagetext")
STAGES = {"GA": Lifecycle.GA}  # every other launch stage is a preview of some kind
LIST_URL = "https://{location}-aiplatform.googleapis.com/v1beta1/publishers/google/models"
# Facts of a served model that `--like` does not copy: they are the other model's own.
NOT_COPIED = {
    "id",
    "display_name",
    "lifecycle",
    "release_date",
    "shutdown_date",
    "retirement_not_before",
    "replacement",
    "other_platforms",
    "sources",
    "notes",
}


def image_capable(model_id: str) -> bool:
    """An id Google gives its :generateContent image models."""
    return bool(IMAGE_ID.search(model_id)) and not model_id.startswith(PREDICT_FAMILY)


def discover(services: Services, location: str) -> dict[str, Any]:
    """List Model Garden, record and announce the image models the catalog lacks."""
    catalog = services.catalog
    known = set(catalog.ids()) | {r.id for r in catalog.retired_models()}
    listed = services.model_garden.publisher_models(location)
    store = services.catalog_store
    new = []
    for state in listed:
        if state.model in known or not image_capable(state.model):
            continue
        facts = {
            "launch_stage": state.launch_stage,
            "version_id": state.version_id,
            "location": location,
            "announced": False,
        }
        if store.record_discovered(state.model, facts):
            new.append(state.model)
    # announce the new ones, and any whose event an earlier check could not publish
    for model_id, found in store.discovered().items():
        if not found.get("announced") and catalog.get(model_id) is None:
            _announce(services, model_id, found)
    return {"listed": len(listed), "new": new, "available": available(services)}


def available(services: Services) -> list[dict[str, Any]]:
    """The models the check found that the live catalog still lacks (not adopted)."""
    catalog = services.catalog
    out = []
    for model_id, found in sorted(services.catalog_store.discovered().items()):
        if catalog.get(model_id) is None and catalog.retired_model(model_id) is None:
            out.append(
                {
                    "model": model_id,
                    "change": "available",
                    "launch_stage": found.get("launch_stage"),
                    "first_seen": _iso(found.get("first_seen")),
                    "adopt": f"imagegen catalog add {model_id} --from-discovered "
                    f"--like {catalog.default_model}",
                }
            )
    return out


def _announce(services: Services, model_id: str, found: dict[str, Any]) -> None:
    """One `model_available` log line and event; the store notes a published event."""
    stage = found.get("launch_stage")
    if not found.get("logged"):
        log.warning(
            f"model {model_id} ({stage}) is published in Model Garden and not in the "
            f"catalog; adopt it with `imagegen catalog add {model_id} --from-discovered`",
            extra={"code": "model_available", "model": model_id, "launch_stage": stage},
        )
        services.catalog_store.mark_discovered(model_id, {"logged": True})
    event = model_available_event(services.settings.project, model_id, found)
    try:
        services.event_topic.publish(event)
    except Exception as exc:  # the next daily check publishes it
        log.warning(
            f"model_available event for {model_id} not published; the next check retries",
            extra={"model": model_id, "error": str(exc)},
        )
        return
    services.catalog_store.mark_discovered(model_id, {"announced": True})


def model_available_event(project: str, model_id: str, found: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent (structured mode, spec 1.0) of one arrival; its id is stable, so a
    re-publish carries the same id and consumers dedupe on it."""
    first_seen = found.get("first_seen") or dt.datetime.now(dt.UTC)
    return {
        "specversion": "1.0",
        "id": f"model_available-{model_id}",
        "source": f"//imagegen/projects/{project}/catalog",
        "type": EVENT_TYPE,
        "subject": model_id,
        "time": _iso(first_seen),
        "datacontenttype": "application/json",
        "data": {
            "model": model_id,
            "launch_stage": found.get("launch_stage"),
            "version_id": found.get("version_id"),
            "adopt": f"imagegen catalog add {model_id} --from-discovered",
        },
    }


def adopt(
    services: Services,
    who: str,
    model_id: str,
    *,
    like: str | None = None,
    fields: dict[str, Any] | None = None,
    from_discovered: bool = True,
) -> tuple[dict[str, Any], ModelSpec]:
    """Add a model to the live catalog (the overlay): the facts the daily check found,
    `like`'s facts (sizes, options, prices, locations), then `fields`; InvalidRequest with
    one entry per missing or invalid fact. Returns the overlay record and the model."""
    catalog = services.catalog
    if catalog.get(model_id) is not None:
        raise InvalidRequest("cannot add", details=[_problem("id", "already in the catalog")])
    entry: dict[str, Any] = {}
    sources: list[dict[str, Any]] = []
    if from_discovered:
        _discovered_facts(services, model_id, entry, sources)
    if like is not None:
        _facts_like(services, who, like, entry, sources)
    entry.update({"display_name": model_id, **(fields or {}), "id": model_id})
    entry["sources"] = [*sources, *entry.get("sources", [])]
    spec = _checked(model_id, entry)
    stored = spec.model_dump(mode="json")

    def edit(overlay: Overlay) -> Overlay:
        new = overlay.model_copy(update={"models": {**overlay.models, model_id: stored}})
        apply_overlay(services.base_catalog, new)  # the same schema as every overlay
        return new

    _, record = services.catalog_store.change(who, f"add {model_id} (from Model Garden)", edit)
    services.live_catalog.refresh()
    log.info(
        f"model {model_id} added to the catalog by {who}",
        extra={"model": model_id, "code": "model_adopted"},
    )
    return record, spec


def _discovered_facts(
    services: Services, model_id: str, entry: dict[str, Any], sources: list[dict[str, Any]]
) -> None:
    """What the daily check found of the model: its lifecycle, with Model Garden as source."""
    found = services.catalog_store.discovered().get(model_id)
    if found is None:
        raise InvalidRequest(
            "cannot add",
            details=[
                _problem(
                    "id",
                    "not found by the daily Model Garden check "
                    "(`imagegen catalog diff` lists what was)",
                )
            ],
        )
    stage = str(found.get("launch_stage") or "")
    entry["lifecycle"] = STAGES.get(stage, Lifecycle.PREVIEW).value
    sources.append(
        Source(
            fact=f"published in Model Garden, launch stage {stage or 'unknown'}",
            url=LIST_URL.format(location=found.get("location") or "us-central1"),
            read=_date(found.get("first_seen")),
            fields=("lifecycle",),
            platform=Platform.VERTEX,
        ).model_dump(mode="json")
    )


def _facts_like(
    services: Services, who: str, like: str, entry: dict[str, Any], sources: list[dict[str, Any]]
) -> None:
    """Another served model's facts, assumed (and said to be) by `who`."""
    base = services.catalog.get(like)
    if base is None:
        raise InvalidRequest("cannot add", details=[_problem("like", "not a served model")])
    copied = base.model_dump(mode="json", exclude=NOT_COPIED)
    entry.update(copied)
    sources.append(
        {
            "fact": f"assumed like {like} by {who}",
            "url": "overlay",
            "read": dt.datetime.now(dt.UTC).date().isoformat(),
            "fields": sorted(copied),
        }
    )


def _checked(model_id: str, entry: dict[str, Any]) -> ModelSpec:
    """The model the facts make, by the catalog's schema (400: one entry per problem)."""
    try:
        return ModelSpec.model_validate(entry)
    except ValidationError as exc:
        raise InvalidRequest(
            f"{model_id}: facts missing or invalid (give them in the fields, or --like)",
            details=[
                _problem(".".join(str(p) for p in e["loc"]) or "fields", e["msg"])
                for e in exc.errors()
            ],
        ) from exc


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.datetime.now(dt.UTC).date()


def check(services: Services, location: str) -> dict[str, Any]:
    """The daily check's arrivals part: never fails the check (an error is reported)."""
    try:
        return discover(services, location)
    except Exception as exc:  # Model Garden unreachable today: tomorrow's check retries
        log.warning(f"model discovery failed: {exc}", extra={"code": "model_discovery_failed"})
        return {"error": str(exc)[:300]}
