"""The HTTP API of the `submit` function: routing (werkzeug's `routing.Map`, as
functions-framework routes), body limits, callers, the views (a Job rendered as JSON with its
URLs), and the one table that maps errors to status codes. The work itself is done by
services.submission, which takes commands and returns domain objects."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import flask
from werkzeug import exceptions as http_errors
from werkzeug.routing import BaseConverter, Map, RequestRedirect, Rule

from imagegen import catalog_admin, logs
from imagegen.auth import Caller, Unauthenticated
from imagegen.bootstrap import Services
from imagegen.domain.batch_request import too_large
from imagegen.domain.batch_view import BatchView, SubmittedBatchView, batch_url
from imagegen.domain.job import Job
from imagegen.domain.job_view import JobView, status_url
from imagegen.errors import (
    BudgetExceeded,
    ImagegenError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
)
from imagegen.http_io import (
    base_url,
    error_response,
    idempotency_key,
    json_response,
    leave_body,
    query_int,
    query_time,
    read_body,
    read_json,
)
from imagegen.native import doors
from imagegen.services import batches, submission

log = logs.get_logger("imagegen.http")

# An error's answer: (error, extra headers) -> response, in the shape of the API asked
ErrorRenderer = Callable[..., flask.Response]

# Seconds a caller should wait after a 503 (Pub/Sub or Firestore unavailable): nothing
# was accepted, so the same request (same Idempotency-Key) can simply be sent again.
RETRY_AFTER_UNAVAILABLE = 5
# A page of a batch's items (GET /v1/batches/{id}?limit=)
MAX_BATCH_PAGE = 1000


class JobIdConverter(BaseConverter):
    """`<job_id:...>`: the characters a job id may have (anything else is a 404)."""

    regex = r"[A-Za-z0-9_-]{1,128}"


class NotAllowed(MethodNotAllowed):
    """405, with the methods the path has (the `Allow` header)."""

    def __init__(self, method: str, allowed: list[str]) -> None:
        self.allow = ", ".join(allowed)
        super().__init__(f"{method} is not allowed here; use {self.allow}")


def rule(path: str, endpoint: str, *methods: str) -> Rule:
    """A route. werkzeug adds HEAD to every GET rule; the API never answered HEAD (405),
    so it is taken out again and the answers (and their `Allow` header) stay as they were."""
    made = Rule(path, endpoint=endpoint, methods=list(methods) or None)
    if made.methods is not None and "HEAD" not in methods:
        made.methods.discard("HEAD")
    return made


def url_map(rules: list[Rule]) -> Map:
    # merge_slashes off: `/v1//jobs` is a 404 as it always was, not a redirect
    return Map(rules, converters={"job_id": JobIdConverter}, merge_slashes=False)


def match(routes: Map, request: flask.Request) -> tuple[str, dict[str, Any]]:
    """(endpoint, path arguments) of the request; NotFound / MethodNotAllowed (405 with the
    allowed methods) otherwise. A trailing slash is ignored, as it always was."""
    path = request.path.rstrip("/") or "/"
    try:
        return routes.bind("localhost").match(path, method=request.method)
    except http_errors.MethodNotAllowed as exc:
        raise NotAllowed(request.method, sorted(exc.valid_methods or ())) from None
    except (http_errors.NotFound, RequestRedirect):
        raise NotFound(f"no route {request.method} {request.path}") from None


class Api:
    """The `submit` function's HTTP API. Subclassed by the studio (same error table)."""

    jobs_path = "/v1/jobs"  # where a job's status_url points
    batches_path = "/v1/batches"  # where a batch's status_url points (issue 29)
    sign_views = False  # signed output URLs on every job view, not only on GET

    def __init__(self, services: Services, trust_caller_header: bool | None = None) -> None:
        """`trust_caller_header` overrides the setting (tests of the local stack's mode)."""
        self.services = services
        self.auth = services.auth
        if trust_caller_header is not None:
            self.auth = dataclasses.replace(self.auth, trust_caller_header=trust_caller_header)
        self.routes = url_map(self.rules())

    def rules(self) -> list[Rule]:
        job = "/v1/jobs/<job_id:job_id>"
        own = [
            rule("/healthz", "healthz", "GET"),
            rule("/v1/jobs", "submit", "POST"),
            rule(job, "get_job", "GET"),
            rule(job, "cancel_job", "DELETE"),
            rule(f"{job}/outputs/<int(max=999):n>", "output_redirect", "GET"),
            rule("/v1/batches", "submit_batch", "POST"),
            rule("/v1/batches", "list_batches", "GET"),
            rule("/v1/batches/<job_id:batch_id>", "get_batch", "GET"),
            rule("/v1/batches/<job_id:batch_id>", "cancel_batch", "DELETE"),
            rule("/v1/openapi.json", "openapi", "GET"),
            rule("/v1/usage", "usage", "GET"),
        ]
        # the live catalog's routes (issue 17), `GET /v1/models` among them
        catalog = catalog_admin.ROUTES
        own += [rule(path, f"catalog {path}", *methods) for path, methods in catalog.items()]
        # the front doors (issue 28): Vertex's and OpenAI's own routes (native/doors.py)
        return own + [rule(path, f"door {path}", *doors.ROUTES[path][0]) for path in doors.ROUTES]

    def caller(self, request: flask.Request) -> Caller:
        """The verified caller (401 without one); see imagegen.auth."""
        return self.auth.caller(request.headers, base_url(request))

    def read_json(self, request: flask.Request) -> Any:
        """The body as JSON, within this deployment's limits (shared with the front doors)."""
        settings = self.services.settings
        return read_json(request, settings.max_body_bytes, settings.max_json_depth)

    def handle(self, request: flask.Request) -> flask.Response:
        try:
            return self._answer(request)
        finally:
            leave_body(request)

    def _answer(self, request: flask.Request) -> flask.Response:
        """The answer, its errors in the shape of the API the path belongs to (issue 28)."""
        logs.set_trace(request.headers.get("X-Cloud-Trace-Context"), self.services.settings.project)
        door = doors.door_for(request.path)
        if door is None:
            return self._handle(request, error_response)
        return self._handle(
            request, lambda exc, headers=None: doors.error_response(door, exc, headers or {})
        )

    def _handle(self, request: flask.Request, render: ErrorRenderer) -> flask.Response:
        """Route and answer; `render(exc, headers)` makes an error's answer in the shape of
        the API the path belongs to."""
        try:
            return self._route(request)
        except (RateLimited, BudgetExceeded) as exc:
            log.warning("request refused", extra={"error": exc.message, "path": request.path})
            return render(exc, {"Retry-After": str(exc.retry_after)})
        except Unauthenticated as exc:
            log.warning("unauthenticated", extra={"error": exc.message, "path": request.path})
            return render(exc, {"WWW-Authenticate": 'Bearer realm="imagegen"'})
        except Unavailable as exc:
            log.error("request failed", extra={"error": exc.message, "path": request.path})
            return render(exc, {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)})
        except NotAllowed as exc:
            return render(exc, {"Allow": exc.allow})
        except ImagegenError as exc:
            if exc.http_status >= 500:
                log.error("request failed", extra={"error": exc.message, "path": request.path})
            return render(exc)
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return render(ImagegenError("internal error"))

    def _route(self, request: flask.Request) -> flask.Response:
        endpoint, args = match(self.routes, request)
        if endpoint.startswith("catalog "):
            path = endpoint.removeprefix("catalog ")
            return catalog_admin.ROUTES[path][request.method](self, request)
        if endpoint.startswith("door "):
            return doors.ROUTES[endpoint.removeprefix("door ")][1](self, request, **args)
        return getattr(self, endpoint)(request, **args)

    # -- views: a job as JSON, with its URLs -------------------------------------------
    def job_json(self, request: flask.Request, job: Job, *, signed: bool = False) -> dict[str, Any]:
        """The job as the API shows it (JobView) with its `status_url`, and with signed
        download URLs on its outputs when `signed`."""
        view = JobView.of(job, status_url(base_url(request), job.id, self.jobs_path)).to_json()
        return self.services.signer.with_urls(view) if signed or self.sign_views else view

    # -- endpoints ----------------------------------------------------------------------
    def healthz(self, request: flask.Request) -> flask.Response:
        return json_response({"ok": True}, 200)

    def submit(self, request: flask.Request) -> flask.Response:
        caller = self.caller(request)  # before the body is read: no identity, no work
        body = self.read_json(request)
        key = idempotency_key(request)
        result = submission.submit(
            self.services,
            body,
            caller=caller.id,
            idempotency_key=key,
        )
        view = self.job_json(request, result.job)
        status = 202 if result.created else 200
        return json_response(view, status, {"Location": view["status_url"]})

    def get_job(self, request: flask.Request, job_id: str) -> flask.Response:
        job = submission.get_job(self.services, job_id, self.caller(request))
        return json_response(self.job_json(request, job, signed=True), 200)

    def cancel_job(self, request: flask.Request, job_id: str) -> flask.Response:
        job = submission.cancel_job(self.services, job_id, self.caller(request))
        return json_response(self.job_json(request, job), 200)

    def output_redirect(self, request: flask.Request, job_id: str, n: int) -> flask.Response:
        """302 to a freshly signed URL of output `n` (issue 16): the caller's own job
        only, like every read (another caller's is the same 404 as a missing one)."""
        job = submission.get_job(self.services, job_id, self.caller(request))
        output = job.output(n)
        if output is None:
            raise NotFound(f"job {job_id} has no output {n}")
        signed = self.services.signer.sign(output.uri)
        if signed is None:
            raise NotFound("signed URLs are off in this deployment (IMAGEGEN_URL_SIGNER=off)")
        response = flask.redirect(signed[0], code=302)
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- batches (issue 29) -------------------------------------------------------------
    def batch_url(self, request: flask.Request, batch_id: str) -> str:
        return batch_url(base_url(request), batch_id, self.batches_path)

    def submit_batch(self, request: flask.Request) -> flask.Response:
        """A JSON `{"requests": [...]}` or JSONL body; 202 with every rejected line."""
        caller = self.caller(request)  # before the body is read: no identity, no work
        limit = self.services.settings.batch_max_bytes
        try:
            raw = read_body(request, limit)
        except PayloadTooLarge:
            raise too_large(limit) from None
        result = batches.submit_batch(
            self.services,
            bytes(raw),
            request.content_type or "",
            caller=caller.id,
            idempotency_key=idempotency_key(request),
        )
        url = self.batch_url(request, result.batch.id)
        view = SubmittedBatchView.of(result.batch, result.rejected, url).to_json()
        return json_response(view, 202 if result.created else 200, {"Location": url})

    def get_batch(self, request: flask.Request, batch_id: str) -> flask.Response:
        """The batch and a page of its ended items (`?limit=` 1-1000, `?after=<line>`)."""
        batch = batches.get_batch(self.services, batch_id, self.caller(request))
        limit = query_int(request, "limit", 100, 1, MAX_BATCH_PAGE)
        after = query_int(request, "after", 0, 0, 10**9)
        records = batches.batch_items(self.services, batch_id, limit, after)
        view = BatchView.of(batch, self.batch_url(request, batch_id)).with_items(records, limit)
        return json_response(view.to_json(), 200)

    def cancel_batch(self, request: flask.Request, batch_id: str) -> flask.Response:
        """202: marked; the next sweep cancels its Vertex jobs and ends what never ran."""
        batch = batches.cancel_batch(self.services, batch_id, self.caller(request))
        return json_response(BatchView.of(batch, self.batch_url(request, batch_id)).to_json(), 202)

    def list_batches(self, request: flask.Request) -> flask.Response:
        """The caller's batches, newest first (`?limit=` 1-100, `?before=<created_at>`)."""
        caller = self.caller(request)
        limit = query_int(request, "limit", 20, 1, 100)
        before = query_time(request, "before")
        found = batches.batches_of(self.services, caller, limit + 1, before)
        page = [BatchView.of(b, self.batch_url(request, b.id)).to_json() for b in found[:limit]]
        more = len(found) > limit and page
        return json_response(
            {"batches": page, "next_before": page[-1]["created_at"] if more else None}, 200
        )

    def usage(self, request: flask.Request) -> flask.Response:
        """`?day=YYYY-MM-DD` (default today, UTC) or `?month=YYYY-MM`, `?caller=`."""
        asker = self.caller(request)
        caller = submission.usage_caller(asker, request.args.get("caller") or None)
        period, start, end = usage_period(request.args.get("day"), request.args.get("month"))
        report = submission.usage(self.services, caller=caller, start=start, end=end)
        return json_response({**period, **report}, 200)

    def openapi(self, request: flask.Request) -> flask.Response:
        # imported here: building the schemas costs submit's cold start ~28 ms
        # (`python -X importtime`), and few requests ask for the document
        from imagegen.openapi import document

        return json_response(document(), 200)


def usage_period(
    day: str | None, month: str | None
) -> tuple[dict[str, str], dt.datetime, dt.datetime]:
    """The usage report's period from the query string: ({day|month}, start, end), UTC.
    A period that would end past 9999-12-31 (`month=9999-12`) is a 400 like a malformed
    one: its end overflows Python's datetime."""
    try:
        if month:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
            end = (start + dt.timedelta(days=32)).replace(day=1)
            return {"month": month}, start, end
        day = day or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
        start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
        return {"day": day}, start, start + dt.timedelta(days=1)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            "bad period",
            details=[
                {
                    "field": "month" if month else "day",
                    "message": "use YYYY-MM-DD for day, YYYY-MM for month, ending by 9999-12-31",
                }
            ],
        ) from None
