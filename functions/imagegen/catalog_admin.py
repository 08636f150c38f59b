"""The live catalog over HTTP (issue 17): admins read, diff, replace the overlay and retire
models; everyone sees the result, with who changed it and when, in `GET /v1/models`.

Admins are Terraform's `admin_members` (`IMAGEGEN_ADMIN_MEMBERS`, auth.py). A proposed
overlay is applied to the code's table and checked by the same schema before anything is
stored; an invalid one is a 400 with one entry per problem and changes nothing.

    GET  /v1/catalog           the overlay, its version and history, and every model's facts
    GET  /v1/catalog/diff      what the overlay changes in the code's table
    POST /v1/catalog/diff      what a proposed overlay (the body) would change now
    PUT  /v1/catalog           replace the overlay with the body (`{models, retired, ...}`)
    POST /v1/catalog/retire    `{model, replacement}`: retire a model now
    POST /v1/catalog/models    `{id, from_discovered, like, fields}`: add a model (issue 30),
                               e.g. one the daily Model Garden check found

`GET /v1/catalog` and `GET /v1/catalog/diff` also list the image models Model Garden
publishes that the catalog lacks (`change: "available"`, services/discovery.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Protocol

import flask
from pydantic import ValidationError

from imagegen.auth import Caller
from imagegen.bootstrap import Services
from imagegen.domain.catalog import Catalog, Overlay, apply_overlay
from imagegen.errors import Forbidden, InvalidRequest
from imagegen.http_io import json_response, read_json
from imagegen.services import discovery, lifecycle, submission


class Api(Protocol):
    """What these routes need of the API that serves them (http_api.Api): its services and
    the verified caller of a request."""

    services: Services

    def caller(self, request: flask.Request) -> Caller: ...


Handler = Callable[[Api, flask.Request], flask.Response]


def _admin(api: Api, request: flask.Request) -> str:
    caller = api.caller(request)
    if not caller.admin:
        raise Forbidden("only the deployment's admins (admin_members) change the catalog")
    return caller.id


def _body(api: Api, request: flask.Request) -> Any:
    s = api.services.settings
    return read_json(request, s.max_body_bytes, s.max_json_depth)


def show(api: Api, request: flask.Request) -> flask.Response:
    services = api.services
    _admin(api, request)
    services.live_catalog.refresh()
    record = services.live_catalog.record()
    body = {**_record_json(record), "facts": lifecycle.facts(services)}
    return json_response({**body, "available": discovery.available(services)}, 200)


def diff_current(api: Api, request: flask.Request) -> flask.Response:
    services = api.services
    _admin(api, request)
    services.live_catalog.refresh()
    changes = diff(services.base_catalog, services.catalog) + discovery.available(services)
    return json_response({"changes": changes}, 200)


def diff_proposed(api: Api, request: flask.Request) -> flask.Response:
    services = api.services
    _admin(api, request)
    proposed = _parse(services.base_catalog, _body(api, request))
    return json_response({"changes": diff(services.catalog, proposed[1])}, 200)


def put(api: Api, request: flask.Request) -> flask.Response:
    services = api.services
    who = _admin(api, request)
    overlay, _ = _parse(services.base_catalog, _body(api, request))
    _, record = services.catalog_store.change(
        who,
        f"set overlay ({len(overlay.models)} models, {len(overlay.retired)} retired)",
        lambda _old: overlay,
    )
    services.live_catalog.refresh()
    return json_response(_record_json(record), 200)


def retire(api: Api, request: flask.Request) -> flask.Response:
    services = api.services
    who = _admin(api, request)
    payload = _body(api, request)
    model = payload.get("model") if isinstance(payload, dict) else None
    replacement = payload.get("replacement") if isinstance(payload, dict) else None
    catalog = services.catalog
    problems = []
    if not isinstance(model, str) or catalog.get(model) is None:
        problems.append({"field": "model", "message": f"not a served model: {model!r}"})
    if not isinstance(replacement, str) or catalog.get(replacement) is None or replacement == model:
        problems.append(
            {"field": "replacement", "message": f"not another served model: {replacement!r}"}
        )
    if problems:
        raise InvalidRequest("cannot retire", details=problems)
    wrote = lifecycle.retire(
        services, model, replacement, who=who, source="admin", reason=f"retired by {who}"
    )
    record = services.live_catalog.record()
    return json_response({"retired": wrote, **_record_json(record)}, 200)


def add(api: Api, request: flask.Request) -> flask.Response:
    """Add a model to the live catalog: the facts the daily check found, `like`'s, then
    `fields` (400 with one entry per missing or invalid fact); no release, no restart."""
    services = api.services
    who = _admin(api, request)
    payload = _body(api, request)
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        raise InvalidRequest("cannot add", details=[{"field": "id", "message": "a model id"}])
    like, fields = payload.get("like"), payload.get("fields") or {}
    from_discovered = payload.get("from_discovered", True)
    problems = []
    if like is not None and not isinstance(like, str):
        problems.append({"field": "like", "message": "a served model's id"})
    if not isinstance(fields, dict):
        problems.append({"field": "fields", "message": "an object of model facts"})
    if not isinstance(from_discovered, bool):
        problems.append({"field": "from_discovered", "message": "true or false"})
    if problems:
        raise InvalidRequest("cannot add", details=problems)
    record, spec = discovery.adopt(
        services, who, payload["id"], like=like, fields=fields, from_discovered=from_discovered
    )
    return json_response({"model": spec.model_dump(mode="json"), **_record_json(record)}, 201)


def models(api: Api, request: flask.Request) -> flask.Response:
    services = api.services
    facts = lifecycle.facts(services)
    entries = submission.models(services)
    for entry in entries:  # stage, shutdown, replacement and where each came from
        entry["lifecycle_facts"] = facts.get(entry["id"])
    return json_response(
        {
            "models": entries,
            "default": services.catalog.default_model,
            "catalog": _record_json(services.live_catalog.record(), history=10),
        },
        200,
    )


# Routes added to the API's table (http_api.Api.rules / _route): path -> method -> handler.
ROUTES: dict[str, dict[str, Handler]] = {
    "/v1/models": {"GET": models},
    "/v1/catalog": {"GET": show, "PUT": put},
    "/v1/catalog/diff": {"GET": diff_current, "POST": diff_proposed},
    "/v1/catalog/retire": {"POST": retire},
    "/v1/catalog/models": {"POST": add},
}


def _parse(base: Catalog, payload: Any) -> tuple[Overlay, Catalog]:
    """A proposed overlay and the catalog it makes; InvalidRequest (400) when either breaks
    the schema."""
    try:
        overlay = Overlay.model_validate(payload)
        return overlay, apply_overlay(base, overlay)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "overlay", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise InvalidRequest(
            "the overlay does not fit the catalog schema", details=details
        ) from exc
    except ValueError as exc:
        raise InvalidRequest(
            "the overlay does not fit the catalog",
            details=[{"field": "overlay", "message": str(exc)}],
        ) from exc


def diff(before: Catalog, after: Catalog) -> list[dict[str, Any]]:
    """Field by field, what differs between two catalogs (served and retired models)."""
    changes: list[dict[str, Any]] = []
    old = {m.id: m.model_dump(mode="json") for m in before}
    new = {m.id: m.model_dump(mode="json") for m in after}
    for model_id in dict.fromkeys([*old, *new]):
        a, b = old.get(model_id), new.get(model_id)
        if a is None or b is None:
            changes.append({"model": model_id, "change": "added" if a is None else "removed"})
            continue
        for key in dict.fromkeys([*a, *b]):
            if a.get(key) != b.get(key):
                changes.append(
                    {"model": model_id, "field": key, "before": a.get(key), "after": b.get(key)}
                )
    gone_before = {r.id for r in before.retired_models()}
    for r in after.retired_models():
        if r.id not in gone_before:
            changes.append({"model": r.id, "change": "retired", "replacement": r.replacement})
    if before.default_model != after.default_model:
        changes.append(
            {"field": "default", "before": before.default_model, "after": after.default_model}
        )
    return changes


def _record_json(record: dict[str, Any], history: int | None = None) -> dict[str, Any]:
    def when(value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.datetime) else value

    entries = record.get("history") or []
    if history is not None:
        entries = entries[-history:]
    overlay = record.get("overlay") or Overlay()
    return {
        "version": record.get("version", 0),
        "updated_at": when(record.get("updated_at")),
        "updated_by": record.get("updated_by"),
        "overlay": overlay.model_dump(mode="json"),
        "history": [{**e, "when": when(e.get("when"))} for e in entries],
    }
