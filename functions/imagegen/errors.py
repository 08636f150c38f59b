"""The error hierarchy. Entry points map these to HTTP statuses (one table in http_api) or
to "ack" versus "raise for redelivery" (events): nothing else decides that."""

from __future__ import annotations

import datetime as dt
import inspect
from typing import Any


class ImagegenError(Exception):
    """Base of every error the service raises on purpose. A subclass names its `code` and
    `http_status` in its class line, and declares what else it carries as annotated class
    attributes: those are the keywords its constructor takes, required where the
    annotation has no default."""

    code = "internal"
    http_status = 500

    def __init_subclass__(cls, code: str = "", http_status: int = 0, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.code = code or cls.code
        cls.http_status = http_status or cls.http_status

    def __init__(
        self, message: str, *, details: list[dict[str, Any]] | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        declared = _declared(type(self))
        for name, value in fields.items():
            if name not in declared:
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)
        missing = [name for name in declared if not hasattr(self, name)]
        if missing:
            raise TypeError(f"{type(self).__name__} needs {', '.join(missing)}")

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


def _declared(cls: type) -> list[str]:
    """The fields a subclass declares (annotated class attributes), base classes first."""
    names = [n for klass in reversed(cls.__mro__[:-2]) for n in inspect.get_annotations(klass)]
    return [n for n in dict.fromkeys(names) if n not in ("code", "http_status")]


class InvalidRequest(ImagegenError, code="invalid_request", http_status=400):
    """The request breaks a rule; `details` has an entry per bad field."""


class Forbidden(ImagegenError, code="forbidden", http_status=403):
    """The caller may not do this (another caller's usage)."""


class NotFound(ImagegenError, code="not_found", http_status=404):
    """No such thing, or not the caller's (the same answer either way)."""


class MethodNotAllowed(ImagegenError, code="method_not_allowed", http_status=405):
    """The path exists; the method does not."""


class Conflict(ImagegenError, code="conflict", http_status=409):
    """The state forbids it (cancel a running job; a key reused with another body)."""


class PayloadTooLarge(ImagegenError, code="payload_too_large", http_status=413):
    """The body is over the limit."""


class UnsupportedMediaType(ImagegenError, code="unsupported_media_type", http_status=415):
    """The body is not JSON."""


class Unavailable(ImagegenError, code="unavailable", http_status=503):
    """A dependency (Pub/Sub, Firestore) failed; the caller may retry the same request."""


class RetryableUpstream(ImagegenError, code="upstream_retryable", http_status=503):
    """Vertex (or another upstream) failed in a way a later attempt can fix: 429, 5xx,
    timeouts. `retry_after` is the server-given delay in seconds, when there was one (the
    Retry-After header or a 429's RetryInfo). A quota error also says which quota
    (`quota_scope`: a `domain.quota_hints.QuotaScope` value) and, where known, when it
    resets (`resets_at`)."""

    status: int | None = None
    retry_after: float | None = None
    quota: bool = False
    quota_scope: str | None = None
    resets_at: dt.datetime | None = None


class FinalUpstream(ImagegenError, code="upstream_final", http_status=502):
    """Vertex refused in a way no retry fixes (400, 403, 404 of a resource)."""

    status: int | None = None
    # the model is not served in that location: another location may serve it
    not_served: bool = False


class QuotaExhausted(ImagegenError, code="quota_exhausted", http_status=429):
    """A Vertex AI quota that no retry fixes before the job's deadline (a per-day quota) is
    spent; it resets at `resets_at`. `scope` is the quota's (domain.quota_hints.QuotaScope)."""

    resets_at: dt.datetime
    scope: str

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"]["scope"] = self.scope
        body["error"]["resets_at"] = self.resets_at.isoformat().replace("+00:00", "Z")
        return body


class ReferenceNotFound(FinalUpstream, code="reference_not_found"):
    """A gs:// input of the job does not exist: Vertex answers it 404 NOT_FOUND, like a
    model that is gone, but no other location or retry can help (issue 31)."""


class Blocked(ImagegenError, code="blocked", http_status=422):
    """The model's safety filters refused the prompt or every image."""


class RateLimited(ImagegenError, code="rate_limited", http_status=429):
    """Too many requests this minute; `retry_after` seconds until the next window."""

    retry_after: int


class BudgetExceeded(ImagegenError, code="budget_exceeded", http_status=429):
    """The day's budget would be exceeded; it resets at `reset_at` (UTC midnight)."""

    reset_at: dt.datetime
    retry_after: int

    def to_json(self) -> dict[str, Any]:
        body = super().to_json()
        body["error"]["reset_at"] = self.reset_at.isoformat().replace("+00:00", "Z")
        return body


class JobStillRunning(ImagegenError, code="job_still_running", http_status=504):
    """A synchronous front door (issue 28) stopped waiting; the job goes on. `job_id` and
    `status_url` say where to read it."""

    job_id: str
    status_url: str
