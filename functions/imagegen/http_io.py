"""The JSON side of HTTP, shared by the API (http_api.py), the catalog's admin routes
(catalog_admin.py) and the studio (studio/api.py): reading a bounded JSON body and the
Idempotency-Key header, writing JSON answers and errors."""

from __future__ import annotations

import json
from typing import Any

import flask

from imagegen.domain import bounded_json
from imagegen.errors import (
    ImagegenError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> flask.Response:
    """A JSON answer (values JSON cannot hold, e.g. times, as their str())."""
    response = flask.Response(
        json.dumps(body, default=str), status=status, mimetype="application/json"
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(exc: ImagegenError, headers: dict[str, str] | None = None) -> flask.Response:
    """The error's JSON body with its HTTP status (the one table: errors.py)."""
    return json_response(exc.to_json(), exc.http_status, headers)


def base_url(request: flask.Request) -> str:
    """The URL the caller used to reach us (behind a proxy: its scheme)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    return f"{scheme}://{request.host}"


def read_json(request: flask.Request, limit: int, max_depth: int) -> Any:
    """The body as JSON: at most `limit` bytes and `max_depth` levels (domain/bounded_json.py),
    sent as JSON; 413 / 415 / 400 otherwise."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("send the job as JSON with Content-Type: application/json")
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")
    return bounded_json.loads(raw, max_depth)


def idempotency_key(request: flask.Request) -> str | None:
    """The request's Idempotency-Key header (1 to 256 characters), or None."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 256):
        raise InvalidRequest(
            "bad Idempotency-Key",
            details=[{"field": "Idempotency-Key", "message": "1 to 256 characters"}],
        )
    return key
