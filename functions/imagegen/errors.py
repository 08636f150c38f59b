"""The error hierarchy. Entry points map these to HTTP statuses (one table in http_api) or
to "ack" versus "raise for redelivery" (events): nothing else decides that."""

from __future__ import annotations

from typing import Any


class ImagegenError(Exception):
    """Base of every error the service raises on purpose."""

    code = "internal"
    http_status = 500

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return {"error": body}


class InvalidRequest(ImagegenError):
    code = "invalid_request"
    http_status = 400


class Forbidden(ImagegenError):
    code = "forbidden"
    http_status = 403


class NotFound(ImagegenError):
    code = "not_found"
    http_status = 404


class MethodNotAllowed(ImagegenError):
    code = "method_not_allowed"
    http_status = 405


class Conflict(ImagegenError):
    code = "conflict"
    http_status = 409


class PayloadTooLarge(ImagegenError):
    code = "payload_too_large"
    http_status = 413


class UnsupportedMediaType(ImagegenError):
    code = "unsupported_media_type"
    http_status = 415


class Unavailable(ImagegenError):
    """A dependency (Pub/Sub, Firestore) failed; the caller may retry the same request."""

    code = "unavailable"
    http_status = 503


class RetryableUpstream(ImagegenError):
    """Vertex (or another upstream) failed in a way a later attempt can fix: 429, 5xx,
    timeouts. `retry_after` is the server-given delay in seconds, when there was one."""

    code = "upstream_retryable"
    http_status = 503

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        quota: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.quota = quota


class FinalUpstream(ImagegenError):
    """Vertex refused in a way no retry fixes (400, 403, 404 of a resource)."""

    code = "upstream_final"
    http_status = 502

    def __init__(self, message: str, *, status: int | None = None, not_served: bool = False):
        super().__init__(message)
        self.status = status
        # the model is not served in that location: another location may serve it
        self.not_served = not_served


class Blocked(ImagegenError):
    """The model's safety filters refused the prompt or every image."""

    code = "blocked"
    http_status = 422


class RateLimited(ImagegenError):
    """Too many requests this minute; `retry_after` seconds until the next window."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExceeded(ImagegenError):
    """The day's budget would be exceeded; it resets at `reset_at` (UTC midnight)."""

    code = "budget_exceeded"
    http_status = 429

    def __init__(self, message: str, *, reset_at, retry_after: int) -> None:
        super().__init__(message)
        self.reset_at = reset_at
        self.retry_after = retry_after

    def to_json(self):
        body = super().to_json()
        body["error"]["reset_at"] = self.reset_at.isoformat().replace("+00:00", "Z")
        return body
