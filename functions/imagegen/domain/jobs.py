"""Job states and the rules for moving between them. Pure: the job store applies these inside
Firestore transactions, so every transition is checked the same way everywhere."""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagegen.domain.job import Job


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


def decide_claim(job: Job | None, now: dt.datetime) -> ClaimOutcome:
    """Whether a delivery may run this job now: the heart of at-least-once safety."""
    if job is None:
        return ClaimOutcome.MISSING
    if is_terminal(job.state):
        return ClaimOutcome.TERMINAL
    if job.state == State.RUNNING and job.leased(now):
        return ClaimOutcome.LEASED
    return ClaimOutcome.CLAIMED


# Firestore stores at most 1 MiB (1,048,576 bytes) a document
# (https://cloud.google.com/firestore/quotas, read 2026-11-25). Submit keeps a job's
# document within half of that, so its results (outputs, text, thoughts, the conversation's
# new turns) have the other half; the worker checks the finished document against the
# whole limit, less a margin for what this estimate leaves out (the document's name).
MAX_DOCUMENT_BYTES = 1_048_576
MAX_SUBMIT_DOCUMENT_BYTES = 512 * 1024
DOCUMENT_MARGIN_BYTES = 2048


def document_bytes(value: Any) -> int:
    """A document's stored size by Firestore's rules (https://cloud.google.com/firestore/
    docs/storage-size, read 2026-11-25): a string is its UTF-8 bytes + 1, so is a field
    name; numbers, timestamps 8; booleans and null 1; arrays and maps the sum of their
    parts; plus 32 bytes a document. Iterative, so any depth is safe."""
    total = 32
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item.encode("utf-8", "surrogatepass")) + 1
        elif isinstance(item, bytes):
            total += len(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                total += len(str(key).encode("utf-8", "surrogatepass")) + 1
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif item is None or isinstance(item, bool):
            total += 1
        else:  # int, float, datetime
            total += 8
    return total


def fits_in_document(document: dict[str, Any]) -> bool:
    return document_bytes(document) <= MAX_DOCUMENT_BYTES - DOCUMENT_MARGIN_BYTES
