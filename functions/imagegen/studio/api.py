"""The studio's page, assets and JSON API: the HTTP API's error handling (http_api.Api)
with studio routes, the studio's identity (IAP) and the same services.submission calls.

Routes (all JSON under /api, the caller's own jobs only, exactly as the HTTP API):
  GET  /                         the page (no-cache: it names the asset versions)
  GET  /assets/<name>?v=<hash>   assets, cached for a year (the hash changes with them;
                                 not /static: functions-framework's Flask owns it)
  GET  /api/me                   who the studio thinks you are
  GET  /api/models               today's lineup with sizes, ratios, thinking levels, prices
  POST /api/estimate             the cost of a request as it stands (nothing is written)
  POST /api/jobs                 submit (refine: `parent_job_id`; earlier outputs as
                                 references: `{"job_id", "index"}` entries)
  GET  /api/jobs?before=&limit=  the gallery: newest first, paged by created_at
  GET  /api/jobs/<id>            one job, outputs with signed URLs
  DELETE /api/jobs/<id>          cancel
  GET  /api/jobs/<id>/outputs/<n> 302 to a fresh signed URL (download)
  GET  /api/batches?before=&limit= the caller's batches with their progress (issue 29)
  GET  /api/batches/<id>         one batch and a page of its items
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from functools import cache
from pathlib import Path
from typing import Any

import flask
from werkzeug.routing import Rule

from imagegen.auth import Caller
from imagegen.bootstrap import Services
from imagegen.domain.request import validate_request
from imagegen.errors import InvalidRequest, MethodNotAllowed, NotFound
from imagegen.http_api import Api, match, rule
from imagegen.http_io import base_url, idempotency_key, json_response, parse_time
from imagegen.services import submission
from imagegen.studio.identity import StudioIdentity

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"studio.css": "text/css", "studio.js": "text/javascript"}
PAGE_SIZE = 12
MAX_PAGE_SIZE = 50
# Assets are named by content hash in the page, so a year is safe; the page itself is
# revalidated every time so a new deployment's page (and hashes) is seen at once.
ASSET_CACHE = "public, max-age=31536000, immutable"
PAGE_CACHE = "no-cache"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: https: http:; "
    "connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def _asset(name: str) -> tuple[bytes, str]:
    body = (STATIC / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def _page() -> bytes:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for name in ASSETS:
        html = html.replace(f"/assets/{name}", f"/assets/{name}?v={_asset(name)[1]}")
    return html.encode("utf-8")


def _parse_before(raw: str | None) -> dt.datetime | None:
    """The gallery's cursor as a UTC time (http_io.parse_time)."""
    return parse_time(raw, "before")


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return PAGE_SIZE
    if not re.fullmatch(r"\d{1,3}", raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise InvalidRequest(
            "bad limit", details=[{"field": "limit", "message": f"1 to {MAX_PAGE_SIZE}"}]
        )
    return int(raw)


class Studio(Api):
    """See the module docstring. Errors map to statuses exactly as in the HTTP API."""

    jobs_path = "/api/jobs"
    batches_path = "/api/batches"
    sign_views = True  # the page shows the images of every job it lists

    def __init__(self, services: Services, identity: StudioIdentity | None = None) -> None:
        super().__init__(services)
        self.identity = identity or StudioIdentity.from_settings(services.settings, services.auth)

    def caller(self, request: flask.Request) -> Caller:
        return self.identity.caller(request.headers, base_url(request))

    def handle(self, request: flask.Request) -> flask.Response:
        response = super().handle(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def rules(self) -> list[Rule]:
        job = "/api/jobs/<job_id:job_id>"
        return [
            rule("/healthz", "healthz"),  # any method, as before
            rule("/", "page", "GET"),
            rule("/assets/<path:name>", "asset", "GET"),
            rule("/api/me", "me", "GET"),
            rule("/api/models", "models", "GET"),
            rule("/api/estimate", "estimate", "POST"),
            rule("/api/jobs", "create", "POST"),
            rule("/api/jobs", "gallery", "GET"),
            rule(job, "get_job", "GET"),
            rule(job, "cancel_job", "DELETE"),
            rule(f"{job}/outputs/<int(max=999):n>", "output_redirect", "GET"),
            rule("/api/batches", "list_batches", "GET"),  # issue 29: the caller's batches
            rule("/api/batches/<job_id:batch_id>", "get_batch", "GET"),
        ]

    def _route(self, request: flask.Request) -> flask.Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/api/"):
            self.caller(request)  # every API call: a verified user first, even a 404
        try:
            endpoint, args = match(self.routes, request)
        except MethodNotAllowed:  # the studio has no 405s: a wrong method is not a route
            raise NotFound(f"no route {request.method} {request.path}") from None
        return getattr(self, endpoint)(request, **args)

    # -- endpoints (the job ones, get_job / cancel_job / output_redirect, are the API's) --
    def page(self, request: flask.Request) -> flask.Response:
        response = flask.Response(_page(), mimetype="text/html")
        response.headers["Cache-Control"] = PAGE_CACHE
        return response

    def me(self, request: flask.Request) -> flask.Response:
        caller = self.caller(request)
        return json_response(
            {"caller": caller.id, "admin": caller.admin, "local": self.identity.local}, 200
        )

    def models(self, request: flask.Request) -> flask.Response:
        return json_response(self._models(), 200)

    def estimate(self, request: flask.Request) -> flask.Response:
        return json_response(self._estimate(request), 200)

    def create(self, request: flask.Request) -> flask.Response:
        return self._create(request, self.caller(request))

    def gallery(self, request: flask.Request) -> flask.Response:
        return json_response(self._gallery(request, self.caller(request)), 200)

    # -- pieces ---------------------------------------------------------------------
    def asset(self, request: flask.Request, name: str) -> flask.Response:
        if name not in ASSETS:
            raise NotFound(f"no asset {name}")
        body, digest = _asset(name)
        response = flask.Response(body, mimetype=ASSETS[name])
        response.set_etag(digest)
        response.headers["Cache-Control"] = ASSET_CACHE
        return response.make_conditional(request)

    def _models(self) -> dict[str, Any]:
        current = [m for m in submission.models(self.services) if not m.get("retired")]
        return {"models": current, "default": self.services.catalog.default_model}

    def _estimate(self, request: flask.Request) -> dict[str, Any]:
        """Validate without writing: the page shows the cost (or what is wrong) as the
        options change. References from earlier outputs count by number only here."""
        body = self.read_json(request)
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "parent_job_id"}
            if isinstance(body.get("reference_images"), list):
                body["reference_images"] = self._placeholder_refs(body["reference_images"])
        validated = validate_request(body, self.services.catalog, self.services.policy)
        request_json = validated.to_json()
        return {
            "estimated_cost_usd": validated.estimated_cost_usd,
            "warnings": validated.warnings,
            "model": request_json.get("model"),
            "image_size": request_json.get("image_size"),
            "aspect_ratio": request_json.get("aspect_ratio"),
        }

    @staticmethod
    def _placeholder_refs(refs: list[Any]) -> list[Any]:
        return [_TINY_PNG_REF if isinstance(r, dict) and "job_id" in r else r for r in refs]

    def _create(self, request: flask.Request, caller: Caller) -> flask.Response:
        body = self.read_json(request)
        if isinstance(body, dict) and isinstance(body.get("reference_images"), list):
            refs = self._resolve_refs(body["reference_images"], caller)
            body = {**body, "reference_images": refs}
        key = idempotency_key(request)
        result = submission.submit(
            self.services, body, caller=caller.id, idempotency_key=key, source="studio"
        )
        return json_response(self.job_json(request, result.job), 202 if result.created else 200)

    def _resolve_refs(self, refs: list[Any], caller: Caller) -> list[Any]:
        """`{"job_id", "index"}` (an earlier output of the user's own job) becomes the
        image's bytes inline, so it passes the same checks as an upload and is copied to
        the new job's inputs. Another user's job is the same 404 as a missing one."""
        return [
            self._earlier_output(i, ref, caller)
            if isinstance(ref, dict) and "job_id" in ref
            else ref
            for i, ref in enumerate(refs)
        ]

    def _earlier_output(self, i: int, ref: dict[str, Any], caller: Caller) -> dict[str, str]:
        """One `{"job_id", "index"}` reference as the output's bytes, inline."""

        def bad(message: str, where: str = f"reference_images.{i}") -> InvalidRequest:
            return InvalidRequest(message, details=[{"field": where, "message": message}])

        job_id, index = ref["job_id"], ref.get("index", 0)
        # JSON's own types: a list index raised TypeError (unhashable), a 500 (issue 31)
        if not isinstance(job_id, str):
            raise bad("a job id (a string)", f"reference_images.{i}.job_id")
        if not isinstance(index, int) or isinstance(index, bool):
            raise bad("an output number (an integer)", f"reference_images.{i}.index")
        output = submission.get_job(self.services, job_id, caller).output(index)
        if output is None:
            raise bad("no such output")
        limit = self.services.settings.max_inline_image_bytes
        try:
            data = self.services.storage.read(output.uri, limit + 1)
        except ValueError:  # over the cap: read() refuses before downloading
            raise bad(f"that output is over the {limit} bytes a reference may be") from None
        return {"data": base64.b64encode(data).decode("ascii")}

    def _gallery(self, request: flask.Request, caller: Caller) -> dict[str, Any]:
        limit = _parse_limit(request.args.get("limit"))
        before = _parse_before(request.args.get("before"))
        jobs = self.services.jobs.of_caller(caller.id, limit + 1, before)
        page = [self.job_json(request, job) for job in jobs[:limit]]
        more = len(jobs) > limit
        return {"jobs": page, "next_before": page[-1]["created_at"] if more and page else None}


# 1x1 PNG: stands in for an earlier output while estimating (only the count is priced).
_TINY_PNG_REF = {
    "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR4"
    "nGNgYAAAAAMAASsJTYQAAAAASUVORK5CYII="
}
