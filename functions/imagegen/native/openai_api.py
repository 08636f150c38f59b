"""OpenAI's Images API (issue 28): placeholder until its routes land."""

from __future__ import annotations

from typing import Any

import flask

from imagegen.errors import ImagegenError, NotFound


def generations(api: Any, request: flask.Request) -> flask.Response:
    raise NotFound("not yet")


def edits(api: Any, request: flask.Request) -> flask.Response:
    raise NotFound("not yet")


def error_body(exc: ImagegenError) -> tuple[int, dict[str, Any]]:
    return exc.http_status, {"error": {"message": exc.message, "type": exc.code}}
