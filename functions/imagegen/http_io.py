"""The JSON side of HTTP, shared by the API (http_api.py), the catalog's admin routes
(catalog_admin.py), the front doors (native/) and the studio (studio/api.py): reading a
bounded body (issue 31) and the Idempotency-Key header, writing JSON answers and errors."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from typing import Any

import flask
from werkzeug import exceptions as http_errors
from werkzeug.datastructures import MultiDict

from imagegen.domain import bounded_json
from imagegen.errors import (
    ImagegenError,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)

# A request body is read in pieces of this size (bounded by IMAGEGEN_MAX_BODY_BYTES).
READ_PIECE_BYTES = 256 * 1024


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
    _refuse_declared(request, limit)  # 413 before 415: nothing of a huge body is read
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("send the job as JSON with Content-Type: application/json")
    return bounded_json.loads(read_body(request, limit), max_depth)


def read_body(request: flask.Request, limit: int) -> bytearray:
    """The body, never more than `limit` bytes of it held: a declared length over the limit
    is refused before a byte is read, a streamed one (chunked, no Content-Length) as soon
    as it passes the limit. Read in pieces into one buffer (get_data() joined its pieces
    into a second copy: twice the cap at the peak). werkzeug's `max_content_length` bounds
    the stream as well (gunicorn, functions-framework's server, marks its input terminated,
    which werkzeug needs to read a chunked body)."""
    _refuse_declared(request, limit)
    request.max_content_length = limit + 1  # one byte over tells "over" from "exactly"
    body = bytearray()
    try:
        while piece := request.stream.read(READ_PIECE_BYTES):
            body += piece
            if len(body) > limit:
                raise PayloadTooLarge(f"the body is over {limit} bytes")
    except http_errors.RequestEntityTooLarge:
        raise PayloadTooLarge(f"the body is over {limit} bytes") from None
    except http_errors.ClientDisconnected:  # werkzeug's 400: the body ended early
        raise InvalidRequest(
            "the body ended before its declared length",
            details=[{"field": "body", "message": "incomplete"}],
        ) from None
    return body


def read_form(request: flask.Request, limit: int) -> tuple[MultiDict, MultiDict]:
    """A multipart body's (form, files), bounded like `read_body`: werkzeug's form parser
    reads the stream with no limit of its own, so a chunked upload (no Content-Length) was
    read to its end however large (files past 500 KB spooled to /tmp, which is memory on
    Cloud Run). Past `limit` it stops: 413."""
    _refuse_declared(request, limit)
    request.max_content_length = limit
    try:
        return request.form, request.files
    except http_errors.RequestEntityTooLarge:
        raise PayloadTooLarge(f"the body is over {limit} bytes") from None
    except http_errors.ClientDisconnected:
        raise InvalidRequest(
            "the body ended before its declared length",
            details=[{"field": "body", "message": "incomplete"}],
        ) from None


def _refuse_declared(request: flask.Request, limit: int) -> None:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")


def leave_body(request: flask.Request) -> None:
    """Nothing more of the body is read once the answer is made. functions-framework reads
    what is left after every answer (its `read_request` after_request hook): past
    `max_content_length` that read raises (a 500 in place of the answer), and without a
    limit it holds the whole body in memory (a 300 MiB chunked POST: submit's peak RSS
    39 -> 343 MiB, issue 31). An empty stream leaves the rest to gunicorn, which discards
    at most 64 KiB of it and closes the connection. (`stream` is werkzeug's
    cached_property: setting it sets the cached value.)"""
    request.stream = io.BytesIO()


def idempotency_key(request: flask.Request) -> str | None:
    """The request's Idempotency-Key header (1 to 256 characters), or None."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 256):
        raise InvalidRequest(
            "bad Idempotency-Key",
            details=[{"field": "Idempotency-Key", "message": "1 to 256 characters"}],
        )
    return key


def query_int(request: flask.Request, name: str, default: int, low: int, high: int) -> int:
    """A whole number from the query string, `low` to `high` (default when absent); a 400
    naming it otherwise (ASCII digits only: int() takes "²" and thousands of digits)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,10}", raw) or not low <= int(raw) <= high:
        raise InvalidRequest(
            f"bad {name}", details=[{"field": name, "message": f"a whole number, {low} to {high}"}]
        )
    return int(raw)


def parse_time(raw: str | None, name: str) -> dt.datetime | None:
    """A cursor time as UTC (a time without an offset is read as UTC). A time whose UTC
    falls outside 0001..9999 (`0001-01-01T00:00:00+01:00`) is a 400 like a malformed one:
    converting it overflowed only in the query, a 500 (issue 31)."""
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            "bad cursor",
            details=[{"field": name, "message": "an ISO 8601 time between 0001 and 9999 in UTC"}],
        ) from None


def query_time(request: flask.Request, name: str) -> dt.datetime | None:
    return parse_time(request.args.get(name), name)
