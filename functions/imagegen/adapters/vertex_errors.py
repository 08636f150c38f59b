"""Vertex AI's error answers -> our errors: which are retryable, which final, and what a 429
says about the quota it hit (issue 27).

google-api-core builds the exception from the REST body (`from_http_response`) and keeps the
`google.rpc.Status` details as the JSON dicts they arrived as (`exc.details`); each known
detail is read here through its own message of googleapis-common-protos
(`google.rpc.error_details_pb2`: RetryInfo, QuotaFailure, ErrorInfo) with protobuf's
`json_format`, so Duration strings ("53s", "1.5s") and field names are read by the library
that defines them. What the hint means is decided in `domain.quota_hints`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.api_core import exceptions as gexc
from google.protobuf import json_format
from google.rpc import error_details_pb2

from imagegen.domain.quota_hints import QuotaHint, QuotaLimit, hint
from imagegen.errors import Blocked, FinalUpstream, RetryableUpstream

PROMPT_REFUSAL = "Responsible AI"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_TYPE = "type.googleapis.com/google.rpc."


def _detail(raw: dict[str, Any], message):
    """One `details[]` entry read into its proto message; None if it does not parse."""
    fields = {k: v for k, v in raw.items() if k != "@type"}
    try:
        return json_format.ParseDict(fields, message, ignore_unknown_fields=True)
    except json_format.ParseError:
        return None


def quota_hint(exc: gexc.GoogleAPICallError, now: dt.datetime | None = None) -> QuotaHint:
    """What a 429 carries: RetryInfo's delay and the quotas QuotaFailure and ErrorInfo name."""
    now = now or dt.datetime.now(dt.UTC)
    retry_delay: float | None = None
    limits: list[QuotaLimit] = []
    for raw in exc.details or ():
        if not isinstance(raw, dict):
            continue  # a gRPC transport hands protos; ours is REST
        kind = str(raw.get("@type", ""))
        if kind == f"{_TYPE}RetryInfo":
            info = _detail(raw, error_details_pb2.RetryInfo())
            if info is not None and info.HasField("retry_delay"):
                retry_delay = max(0.0, info.retry_delay.ToTimedelta().total_seconds())
        elif kind == f"{_TYPE}QuotaFailure":
            failure = _detail(raw, error_details_pb2.QuotaFailure())
            for v in failure.violations if failure is not None else ():
                value = v.quota_value if v.quota_value else None
                limits.append(QuotaLimit(v.quota_id, v.quota_metric, value, v.description))
        elif kind == f"{_TYPE}ErrorInfo":
            info = _detail(raw, error_details_pb2.ErrorInfo())
            meta = dict(info.metadata) if info is not None else {}
            if meta.get("quota_limit") or meta.get("quota_metric"):
                value = meta.get("quota_limit_value", "")
                limits.append(
                    QuotaLimit(
                        meta.get("quota_limit", ""),
                        meta.get("quota_metric", ""),
                        int(value) if value.isdigit() else None,
                    )
                )
    return hint(str(exc.message or ""), retry_delay, limits, now)


def _retry_after(exc) -> float | None:
    """The Retry-After header, in seconds (Vertex has not been seen sending one)."""
    response = getattr(exc, "response", None)
    header = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


def classify(exc, model: str, location: str) -> Exception:
    """429/5xx/timeouts are retryable; 400/403/404 are final (404 = not served here). A 429
    carries its quota hint: the scope, the longer of Retry-After and RetryInfo as
    `retry_after`, and the reset where known; its message says which quota in words."""
    status = exc.code if isinstance(exc.code, int) else None
    message = f"{model} in {location}: HTTP {status}: {exc.message}"
    if isinstance(exc, gexc.ResourceExhausted | gexc.TooManyRequests) or status == 429:
        found = quota_hint(exc)
        delays = [d for d in (_retry_after(exc), found.retry_delay) if d is not None]
        return RetryableUpstream(
            f"{message} ({found.wording})",
            status=429,
            retry_after=max(delays) if delays else None,
            quota=True,
            quota_scope=found.scope.value,
            resets_at=found.resets_at,
        )
    if isinstance(exc, gexc.DeadlineExceeded) or (status in RETRYABLE_STATUS):
        return RetryableUpstream(message, status=status, retry_after=_retry_after(exc))
    if isinstance(exc, gexc.ServerError):
        return RetryableUpstream(message, status=status)
    if status == 400 and PROMPT_REFUSAL in str(exc.message):
        # A refusal citing Google's Responsible AI practices is a safety block, not a
        # broken request.
        return Blocked(f"prompt blocked: {exc.message}")
    return FinalUpstream(message, status=status, not_served=status == 404)
