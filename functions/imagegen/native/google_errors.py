"""Errors in the shape Google's APIs answer them (Vertex AI's REST API, and so google-genai's
`errors.APIError` and google-api-core's exceptions read them): `{"error": {"code", "message",
"status", "details"}}`, with `google.rpc.BadRequest` field violations for a bad field and
`google.rpc.ErrorInfo` for what a machine should know (the job of a request that is still
running). https://cloud.google.com/apis/design/errors (read 2026-12-06)."""

from __future__ import annotations

from typing import Any

from imagegen.errors import ImagegenError

# HTTP status -> google.rpc.Code name (https://cloud.google.com/apis/design/errors#handling_errors)
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN = "imagegen"


def body(
    code: int,
    message: str,
    *,
    violations: list[dict[str, Any]] | None = None,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": STATUS.get(code, "UNKNOWN"),
    }
    details: list[dict[str, Any]] = []
    if violations:
        details.append(
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [
                    {"field": str(v.get("field", "")), "description": str(v.get("message", ""))}
                    for v in violations
                ],
            }
        )
    if reason:
        details.append(
            {"@type": ERROR_INFO, "reason": reason, "domain": DOMAIN, "metadata": metadata or {}}
        )
    if details:
        error["details"] = details
    return {"error": error}


def of(exc: ImagegenError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of one of our errors, in Google's shape."""
    code = exc.http_status
    if code == 422:  # our "blocked" has no HTTP twin at Google: a refused argument
        code = 400
    reason = exc.code.upper()
    metadata = {
        name: str(getattr(exc, name)) for name in ("job_id", "status_url") if hasattr(exc, name)
    }
    return code, body(
        code, exc.message, violations=exc.details or None, reason=reason, metadata=metadata
    )
