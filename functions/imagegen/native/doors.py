"""Which front door a request came in by, and how its errors are answered there: the
routes (werkzeug rules, added to the HTTP API's table) and the error shape of each API
imitated. The job API's own paths keep imagegen's shape."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask

from imagegen.errors import ImagegenError
from imagegen.http_io import json_response
from imagegen.native import google_errors, openai_api, vertex_api

JOB_ID_HEADER = "X-Imagegen-Job-Id"
VERSION = "<any(v1, v1beta1):version>"
MODELS = f"/{VERSION}/projects/<project>/locations/<location>/publishers/google/models"

# path -> (methods, handler(api, request, **path arguments))
ROUTES: dict[str, tuple[tuple[str, ...], Callable[..., flask.Response]]] = {
    f"{MODELS}/<model>:generateContent": (("POST",), vertex_api.generate_content),
    f"{MODELS}/<model>:predict": (("POST",), vertex_api.predict),
    f"/{VERSION}/publishers/google/models/<model>": (("GET",), vertex_api.publisher_model),
    "/v1/images/generations": (("POST",), openai_api.generations),
    "/v1/images/edits": (("POST",), openai_api.edits),
}


@dataclass(frozen=True)
class Door:
    name: str
    paths: re.Pattern[str]
    render: Callable[[ImagegenError], tuple[int, dict[str, Any]]]


DOORS = (
    Door("vertex", re.compile(r"^/v1(beta1)?/(projects|publishers)/"), google_errors.of),
    Door("openai", re.compile(r"^/v1/images(/|$)"), openai_api.error_body),
)


def door_for(path: str) -> Door | None:
    """The front door of a path (None: the job API's own)."""
    return next((door for door in DOORS if door.paths.match(path)), None)


def error_response(door: Door, exc: ImagegenError, headers: dict[str, str]) -> flask.Response:
    """An error in the door's shape, with the headers the job API would send (Retry-After,
    WWW-Authenticate, Allow) and the job's id when there is one."""
    status, body = door.render(exc)
    response = json_response(body, status, headers)
    job_id = getattr(exc, "job_id", None)
    if job_id:
        response.headers[JOB_ID_HEADER] = job_id
        # the openai SDK retries 5xx answers unless told not to: a retry would be a new job
        response.headers["x-should-retry"] = "false"
    return response
