"""Webhook deliveries: the request field, the per-event delivery record and its retry
schedule. Pure; adapters/events_firestore.py keeps one record document per event.

Retrying for a day cannot rest on Pub/Sub alone: a subscription redelivers at most 100
times with at most 600 s between tries (under 17 hours). So the schedule lives in the
delivery record: a failed attempt sets `next_attempt_at` and the message is acknowledged;
the sweeper re-publishes due deliveries to the `webhook-retries` topic. A delivery is
dead-lettered once an attempt fails after the retry window (default 24 h) has passed, so it
is retried for at least that long.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

# A job's states, as event names (domain/job.State; kept apart so this module stays a leaf).
EventName = Literal["queued", "running", "succeeded", "blocked", "failed", "cancelled"]
ALL_EVENTS = get_args(EventName)
PENDING, DELIVERED, FAILED, DEAD_LETTERED = "pending", "delivered", "failed", "dead_lettered"


class WebhookSpec(BaseModel):
    """`"webhook": {"url": "https://…", "events": [...]}` on a job request."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(min_length=8, max_length=2048)
    events: list[EventName] | None = Field(default=None, min_length=1, max_length=len(ALL_EVENTS))

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not carry a user name or password")
        try:
            parts.port  # noqa: B018 - `:99999` or `:abc` raises only when read
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from None
        return url

    @field_validator("events")
    @classmethod
    def _events(cls, events: list[str] | None) -> list[str] | None:
        return list(dict.fromkeys(events)) if events else events


@dataclass(frozen=True)
class RetryPolicy:
    min_backoff: float = 30.0
    max_backoff: float = 3600.0
    window: float = 24 * 3600.0  # keep retrying at least this long after the first attempt
    lease: float = 60.0  # an attempt in flight holds the delivery this long

    def delay(self, failures: int) -> float:
        """Exponential with full jitter in its upper half: 30 s, 1 min, 2 min, ... 1 h."""
        ceiling = min(self.max_backoff, self.min_backoff * 2 ** max(0, failures - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Delivery:
    event_id: str
    type: str
    status: str = PENDING
    attempts: list[dict[str, Any]] = field(default_factory=list)
    first_attempt_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    error: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delivery:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "status": self.status,
            "attempts": list(self.attempts),
            "first_attempt_at": self.first_attempt_at,
            "next_attempt_at": self.next_attempt_at,
            "error": self.error,
        }


def open_attempt(
    delivery: Delivery | None, event_id: str, event_type: str, now: dt.datetime, lease: float
) -> tuple[Delivery | None, str]:
    """Claim one attempt: (record to write, "attempt"), or (None, the reason to skip:
    "delivered", "failed", "dead_lettered", "not_due"). The claim pushes
    `next_attempt_at` out by the lease, so a duplicate delivery arriving meanwhile skips,
    and a crash mid-attempt is retried by the sweeper once the lease runs out."""
    if delivery is None:
        delivery = Delivery(event_id=event_id, type=event_type)
    elif delivery.status != PENDING:
        return None, delivery.status
    elif delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None, "not_due"
    claimed = replace(
        delivery,
        first_attempt_at=delivery.first_attempt_at or now,
        next_attempt_at=now + dt.timedelta(seconds=lease),
    )
    return claimed, "attempt"


def close_attempt(
    delivery: Delivery | None,
    now: dt.datetime,
    *,
    status: int | None,
    error: str | None,
    retryable: bool,
    policy: RetryPolicy,
) -> Delivery | None:
    """Record one attempt's outcome and decide what comes next."""
    if delivery is None or delivery.status != PENDING:
        return None
    attempt: dict[str, Any] = {"at": now, "status": status}
    if error:
        attempt["error"] = error[:300]
    attempts = [*delivery.attempts, attempt]
    if status is not None and 200 <= status < 300:
        return replace(delivery, attempts=attempts, status=DELIVERED, next_attempt_at=None)
    if not retryable:
        return replace(
            delivery, attempts=attempts, status=FAILED, next_attempt_at=None, error=error
        )
    first = delivery.first_attempt_at or now
    if (now - first).total_seconds() >= policy.window:
        return replace(
            delivery,
            attempts=attempts,
            status=DEAD_LETTERED,
            next_attempt_at=None,
            error=f"gave up after {len(attempts)} attempts over {policy.window:g} s: {error}",
        )
    failures = sum(1 for a in attempts if not (a["status"] and 200 <= a["status"] < 300))
    following = now + dt.timedelta(seconds=policy.delay(failures))
    return replace(delivery, attempts=attempts, next_attempt_at=following, error=error)


def retryable_status(status: int | None) -> bool:
    """5xx, 408, 429 and no answer at all (timeout, refused) are worth another try."""
    return status is None or status >= 500 or status in (408, 429)
