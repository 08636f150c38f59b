"""The HTTP API of the `submit` function: routing, body limits, callers, and the one table
that maps errors to status codes. Everything else is delegated to services.submission."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import flask

from imagegen import catalog_admin, logs
from imagegen.adapters.signer import with_urls
from imagegen.auth import Caller, Unauthenticated
from imagegen.bootstrap import Services
from imagegen.domain import bounded_json
from imagegen.errors import (
    BudgetExceeded,
    ImagegenError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    UnsupportedMediaType,
)
from imagegen.services import submission

log = logs.get_logger("imagegen.http")

JOB_PATH = re.compile(r"^/v1/jobs/(?P<job_id>[A-Za-z0-9_-]{1,128})$")
# Seconds a caller should wait after a 503 (Pub/Sub or Firestore unavailable): nothing
# was accepted, so the same request (same Idempotency-Key) can simply be sent again.
RETRY_AFTER_UNAVAILABLE = 5
OUTPUT_PATH = re.compile(r"^/v1/jobs/(?P<job_id>[A-Za-z0-9_-]{1,128})/outputs/(?P<n>\d{1,3})$")


def _json(body: Any, status: int, headers: dict[str, str] | None = None) -> flask.Response:
    response = flask.Response(
        json.dumps(body, default=str), status=status, mimetype="application/json"
    )
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _error(exc: ImagegenError, headers: dict[str, str] | None = None) -> flask.Response:
    return _json(exc.to_json(), exc.http_status, headers)


def _base_url(request: flask.Request) -> str:
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme)
    return f"{scheme}://{request.host}"


def _read_json(request: flask.Request, limit: int, max_depth: int) -> Any:
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


class Api:
    def __init__(self, services: Services, trust_caller_header: bool | None = None) -> None:
        """`trust_caller_header` overrides the setting (tests of the local stack's mode)."""
        self.services = services
        self.auth = services.auth
        if trust_caller_header is not None:
            import dataclasses

            self.auth = dataclasses.replace(self.auth, trust_caller_header=trust_caller_header)

    def caller(self, request: flask.Request) -> Caller:
        """The verified caller (401 without one); see imagegen.auth."""
        return self.auth.caller(request.headers, _base_url(request))

    def handle(self, request: flask.Request) -> flask.Response:
        logs.set_trace(request.headers.get("X-Cloud-Trace-Context"), self.services.settings.project)
        try:
            return self._route(request)
        except (RateLimited, BudgetExceeded) as exc:
            log.warning("request refused", extra={"error": exc.message, "path": request.path})
            return _error(exc, {"Retry-After": str(exc.retry_after)})
        except Unauthenticated as exc:
            log.warning("unauthenticated", extra={"error": exc.message, "path": request.path})
            return _error(exc, {"WWW-Authenticate": 'Bearer realm="imagegen"'})
        except Unavailable as exc:
            log.error("request failed", extra={"error": exc.message, "path": request.path})
            return _error(exc, {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)})
        except ImagegenError as exc:
            if exc.http_status >= 500:
                log.error("request failed", extra={"error": exc.message, "path": request.path})
            return _error(exc)
        except Exception:
            log.exception("unhandled error", extra={"path": request.path})
            return _json({"error": {"code": "internal", "message": "internal error"}}, 500)

    def _route(self, request: flask.Request) -> flask.Response:
        path = request.path.rstrip("/") or "/"
        routes: dict[str, dict[str, Callable[[], flask.Response]]] = {
            "/healthz": {"GET": lambda: _json({"ok": True}, 200)},
            "/v1/jobs": {"POST": lambda: self._submit(request)},
            "/v1/models": {
                "GET": lambda: _json(
                    {
                        "models": submission.models(self.services),
                        "default": self.services.catalog.default_model,
                    },
                    200,
                )
            },
            "/v1/openapi.json": {"GET": lambda: _json(self._openapi(), 200)},
            "/v1/usage": {
                "GET": lambda: _json(
                    submission.usage(
                        self.services,
                        caller=request.args.get("caller") or None,
                        day=request.args.get("day"),
                        month=request.args.get("month"),
                        asker=self.caller(request),
                    ),
                    200,
                )
            },
        }
        routes.update(catalog_admin.routes(self, request))  # live catalog (issue 17)
        match = JOB_PATH.match(path)
        if match:
            job_id = match["job_id"]
            methods = {
                "GET": lambda: _json(
                    with_urls(
                        self.services.signer,
                        submission.view(
                            submission.get_job(self.services, job_id, self.caller(request)),
                            _base_url(request),
                        ),
                    ),
                    200,
                ),
                "DELETE": lambda: _json(
                    submission.view(
                        submission.cancel_job(self.services, job_id, self.caller(request)),
                        _base_url(request),
                    ),
                    200,
                ),
            }
        elif OUTPUT_PATH.match(path):
            output = OUTPUT_PATH.match(path)
            assert output is not None
            methods = {
                "GET": lambda: self._output_redirect(request, output["job_id"], int(output["n"]))
            }
        elif path in routes:
            methods = routes[path]
        else:
            raise NotFound(f"no route {request.method} {request.path}")
        if request.method not in methods:
            allowed = ", ".join(sorted(methods))
            return _error(
                MethodNotAllowed(f"{request.method} is not allowed here; use {allowed}"),
                {"Allow": allowed},
            )
        return methods[request.method]()

    def _submit(self, request: flask.Request) -> flask.Response:
        caller = self.caller(request)  # before the body is read: no identity, no work
        settings = self.services.settings
        body = _read_json(request, settings.max_body_bytes, settings.max_json_depth)
        key = idempotency_key(request)
        result = submission.submit(
            self.services,
            body,
            caller=caller.id,
            idempotency_key=key,
        )
        view = submission.view(result.job, _base_url(request))
        status = 202 if result.created else 200
        return _json(view, status, {"Location": view["status_url"]})

    def _output_redirect(self, request: flask.Request, job_id: str, index: int) -> flask.Response:
        """302 to a freshly signed URL of output `index` (issue 16): the caller's own job
        only, like every read (another caller's is the same 404 as a missing one)."""
        job = submission.get_job(self.services, job_id, self.caller(request))
        outputs = {o.get("index", n): o for n, o in enumerate(job.get("outputs") or [])}
        if index not in outputs:
            raise NotFound(f"job {job_id} has no output {index}")
        signed = self.services.signer.sign(str(outputs[index].get("uri") or ""))
        if signed is None:
            raise NotFound("signed URLs are off in this deployment (IMAGEGEN_URL_SIGNER=off)")
        response = flask.redirect(signed[0], code=302)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _openapi(self) -> dict[str, Any]:
        from imagegen.openapi import document

        return document()
