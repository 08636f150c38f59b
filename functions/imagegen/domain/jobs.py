"""Job states and the rules for moving between them. Pure: the job store applies these inside
Firestore transactions, so every transition is checked the same way everywhere."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Any


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({State.SUCCEEDED, State.BLOCKED, State.FAILED, State.CANCELLED})

_ALLOWED: dict[State, frozenset[State]] = {
    State.QUEUED: frozenset({State.RUNNING, State.CANCELLED, State.FAILED}),
    # running -> queued: handing the job back for a redelivery after a retryable fault
    State.RUNNING: frozenset({State.QUEUED, State.SUCCEEDED, State.BLOCKED, State.FAILED}),
}


class TransitionError(Exception):
    """A transition the state machine forbids (the caller decides whether that is a no-op)."""


def check_transition(current: str, target: State) -> None:
    if target not in _ALLOWED.get(State(current), frozenset()):
        raise TransitionError(f"{current} -> {target} is not allowed")


def is_terminal(state: str) -> bool:
    return State(state) in TERMINAL


def new_job_id() -> str:
    """Random, URL-safe, sortable enough for humans to read in logs."""
    return secrets.token_hex(12)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    MISSING = "missing"
    TERMINAL = "terminal"
    LEASED = "leased"  # another delivery holds a fresh lease


def decide_claim(job: dict[str, Any] | None, now: dt.datetime) -> ClaimOutcome:
    """Whether a delivery may run this job now: the heart of at-least-once safety."""
    if job is None:
        return ClaimOutcome.MISSING
    state = job["state"]
    if is_terminal(state):
        return ClaimOutcome.TERMINAL
    if state == State.RUNNING:
        lease = job.get("lease_expires_at")
        if lease is not None and lease > now:
            return ClaimOutcome.LEASED
    return ClaimOutcome.CLAIMED


PUBLIC_FIELDS = (
    "id",
    "state",
    "request",
    "model",
    "region",
    "outputs",
    "blocked_images",
    "error",
    "warnings",
    "text",
    "thoughts",
    "parent_job_id",
    "enhanced_prompt",
    "served_by",
    "attempts",
    "estimated_cost_usd",
    "cost_usd",
    "images_produced",
    "usage",
    "source",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "webhook_deliveries",  # every webhook attempt (time, status): issue 16
)


def public_view(job: dict[str, Any]) -> dict[str, Any]:
    """The job as `GET /v1/jobs/{id}` shows it: no leases, fingerprints or callers' keys."""
    view = {key: job[key] for key in PUBLIC_FIELDS if key in job and job[key] is not None}
    view["status"] = view.get("state")
    for key, value in view.items():
        if isinstance(value, dt.datetime):
            view[key] = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return view
