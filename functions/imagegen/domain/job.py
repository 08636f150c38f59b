"""The job, as an aggregate: its states, its typed fields, and every change of its life as a
method (`submitted`, `claim`, `progress`, `finish`, `requeue`, `fail`, `cancel`, `paced`,
`park`, `queued_again`; `batch_item` for an item of a batch that Vertex ran inside the batch's
job, issue 29).

A change returns the new `Job` (the old one is never modified). A change of state also
raises the job event it causes: the entry is appended to the job's outbox
(`pending_events`, written in the same transaction as the state) and named by the new
job's `raised`, which the job store publishes once the transaction has committed (the
transactional outbox of docs/events.md). A change that does not apply returns None: a
stale worker fenced off by the attempt number, a job that is already terminal, a running
job under a live lease.

Pure: the job store runs a change inside a Firestore transaction
(`JobStore.transact(job_id, Job -> Job | None)`) and maps documents to jobs at its edge
(adapters/job_documents.py); what the API shows of a job is `JobView` (domain/job_view.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, JsonValue, PrivateAttr

from imagegen.domain.document_size import document_bytes, fits_in_document
from imagegen.domain.job_values import (
    READ,
    BlockedImage,
    Charges,
    DeliveryRecord,
    JobError,
    Output,
    PendingEvent,
    ServedBy,
    Turn,
    UploadSource,
    Value,
    cost_of,
)
from imagegen.domain.request import ValidatedRequest
from imagegen.errors import Conflict

DEADLINE_EXCEEDED = "the job passed its overall deadline without finishing"


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


class Results(Value):
    """What an attempt produced: the result fields of a job, and of the `Outcome` that sets
    them."""

    outputs: list[Output] | None = None
    blocked_images: list[BlockedImage] | None = None
    error: JobError | None = None
    text: list[str] | None = None
    thoughts: list[str] | None = None
    enhanced_prompt: str | None = None
    usage: dict[str, int] | None = None
    # the candidate's groundingMetadata (Google Search grounding, issue 28): Vertex's JSON
    # object as it came, handed back to a native caller as it is (native/vertex_reply.py)
    grounding_metadata: dict[str, JsonValue] | None = None
    served_by: ServedBy | None = None
    cost_usd: float | None = None
    images_produced: int | None = None


class Outcome(Results):
    """How an attempt ends the job: its terminal state and the result fields it sets (a
    field left unset keeps the job's value). The worker computes one and commits it with
    `Job.finish`; an `error` of None clears what an earlier attempt recorded."""

    state: State
    warnings: list[str] | None = None
    conversation: list[Turn] | None = None

    def result_fields(self) -> dict[str, Any]:
        """The job fields this outcome sets, typed, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set - {"state"}}


class Job(Results):
    """A job as the job store holds it. Strict: an unknown field is refused. A stored
    document is read with `from_document` (tolerant: fields of another version are left
    out here and kept in the document)."""

    model_config = ConfigDict(use_enum_values=True)

    id: str
    state: State
    # the request as validated and stored (JSON): shown as stored, re-read by the worker
    request: dict[str, JsonValue] = Field(default_factory=dict)
    model: str = ""
    region: str | None = None
    warnings: list[str] = Field(default_factory=list)
    estimated_cost_usd: float = 0.0
    attempts: int = 0
    source: str = "http"
    caller: str = "anonymous"
    fingerprint: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    deadline_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    lease_expires_at: dt.datetime | None = None
    paced_at: dt.datetime | None = None
    # issue 27: the Cloud Tasks task that delivers it next when it is not its first (named by
    # the job id: adapters/queue_tasks.py), and until when it is parked (a spent quota)
    task: str | None = None
    parked_until: dt.datetime | None = None
    # multi-turn (refine) and keys
    conversation: list[Turn] | None = None
    parent_job_id: str | None = None
    idempotency_id: str | None = None
    upload: UploadSource | None = None  # the upload that made the job (its answer's name)
    # a Vertex-native request as sent (issue 28; JSON text, inline images in storage): the
    # worker sends it as it is (native/vertex_request.py)
    native_request: str | None = None
    # the batch it is an item of (issue 29): made by `batch_item`, or a fanned-out item
    batch_id: str | None = None
    charged: Charges | None = None  # the budget reserved at submit
    # the outbox of job events (docs/events.md)
    event_sequence: int | None = None
    pending_events: list[PendingEvent] | None = None
    events_pending: bool | None = None
    # results: those of `Results`, and what a running attempt has so far
    partial_outputs: list[Output] | None = None
    partial_blocked: list[str] | None = None
    partial_warnings: list[str] | None = None
    webhook_deliveries: dict[str, DeliveryRecord] | None = None

    # the outbox entry the change that made this job raised (not stored: see the module)
    _raised: tuple[PendingEvent, ...] = PrivateAttr(default=())

    # --- reading and writing ------------------------------------------------------------

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Job:
        """A stored document (any version's): fields this version does not know are left
        out; a known field with a wrong value is still an error."""
        return cls.model_validate(document, context=READ)

    def to_document(self) -> dict[str, Any]:
        """The document of a new job: what is set, nothing empty."""
        return self.model_dump(by_alias=True, exclude_none=True)

    @property
    def raised(self) -> tuple[PendingEvent, ...]:
        """The job events the change that made this job raised (published after commit)."""
        return self._raised

    # --- rules ----------------------------------------------------------------------------

    @property
    def terminal(self) -> bool:
        return State(self.state) in TERMINAL

    def leased(self, now: dt.datetime) -> bool:
        """A worker holds it under a lease that has not run out."""
        return self.lease_expires_at is not None and self.lease_expires_at > now

    def overdue(self, now: dt.datetime) -> bool:
        """Past its overall deadline (IMAGEGEN_JOB_DEADLINE_SECONDS after submit)."""
        return self.deadline_at is not None and now > self.deadline_at

    def deadline_error(self) -> JobError:
        """The error an overdue job ends with, wherever it is noticed (worker, sweeper)."""
        return JobError(code="deadline_exceeded", message=DEADLINE_EXCEEDED)

    def holds(self, attempt: int) -> bool:
        """Running under `attempt`: the fence of a worker's writes (a reclaimed job has a
        newer attempt, and the stale worker's writes are refused)."""
        return self.state == State.RUNNING and self.attempts == attempt

    def output(self, index: int) -> Output | None:
        """Output `index` (its recorded index; an output without one counts by its place)."""
        for place, output in enumerate(self.outputs or []):
            if (output.index if output.index is not None else place) == index:
                return output
        return None

    @property
    def served_model(self) -> str:
        """The model that made the images: the one that answered (a fallback, a retired
        name's replacement) or, before that, the one asked for."""
        return str((self.served_by.model if self.served_by else "") or self.model or "")

    @property
    def actual_cost_usd(self) -> float:
        """What the job cost at Vertex: its images priced as delivered, else its recorded cost."""
        if self.cost_usd is not None:
            return float(self.cost_usd)
        return cost_of(self.outputs or [])

    @property
    def refund_usd(self) -> float:
        """What to give back to the budget counters once the job is terminal: the
        reservation made at submit beyond what the job really cost (never negative)."""
        reserved = self.charged.usd if self.charged else 0.0
        return max(0.0, round(reserved - self.actual_cost_usd, 6))

    @property
    def charged_counters(self) -> list[str]:
        return list(self.charged.counters) if self.charged else []

    @property
    def stored_bytes(self) -> int:
        """The size of this job's document by Firestore's rules (domain/document_size.py)."""
        return document_bytes(self.model_dump(by_alias=True, exclude_unset=True))

    def fits(self) -> bool:
        """Whether this job can be stored (a finished job may not: result_too_large)."""
        return fits_in_document(self.model_dump(by_alias=True, exclude_unset=True))

    # --- its life ---------------------------------------------------------------------------

    @classmethod
    def submitted(
        cls,
        job_id: str,
        validated: ValidatedRequest,
        *,
        fingerprint: str,
        source: str,
        caller: str,
        deadline_seconds: float,
        now: dt.datetime,
        **more: Any,
    ) -> Job:
        """A queued job for a validated request, with its first outbox entry (`queued`).
        `more`: other Job fields (the upload that made it, the conversation it continues,
        its idempotency record's id)."""
        request = validated.request
        entry = PendingEvent(id=f"{job_id}-1", state=State.QUEUED.value, time=now)
        job = cls(
            id=job_id,
            state=State.QUEUED,
            request=validated.to_json(),
            model=request.model or "",
            region=request.region,
            warnings=validated.warnings,
            estimated_cost_usd=validated.estimated_cost_usd,
            attempts=0,
            source=source,
            caller=caller,
            fingerprint=fingerprint,
            created_at=now,
            updated_at=now,
            deadline_at=now + dt.timedelta(seconds=deadline_seconds),
            event_sequence=1,
            pending_events=[entry],
            events_pending=True,
            **more,
        )
        job._raised = (entry,)
        return job

    @classmethod
    def batch_item(
        cls,
        job_id: str,
        *,
        batch_id: str,
        request: dict[str, JsonValue],
        caller: str,
        estimated_cost_usd: float,
        created_at: dt.datetime,
        outcome: Outcome,
        now: dt.datetime,
    ) -> Job:
        """An item of a batch that ended with its batch result (issue 29): it never ran on
        its own (Vertex ran its requests inside the batch's job), so it is made terminal,
        its result the outcome's, and raises the one event of its end (`<id>-1`). Created
        once, with the item's entry in the batch's index (adapters/batches_firestore.py).
        Not charged: the batch reserved its estimate at submit."""
        state = State(outcome.state)
        if state not in TERMINAL:
            raise TransitionError(f"a batch item ends terminal, not {state}")
        entry = PendingEvent(id=f"{job_id}-1", state=state.value, time=now)
        fields = outcome.result_fields()
        region = request.get("region")
        job = cls(
            id=job_id,
            state=state,
            request=request,
            model=str(request.get("model") or ""),
            region=region if isinstance(region, str) else None,
            estimated_cost_usd=estimated_cost_usd,
            attempts=1,
            source="batch",
            caller=caller,
            created_at=created_at,
            updated_at=now,
            finished_at=now,
            batch_id=batch_id,
            event_sequence=1,
            pending_events=[entry],
            events_pending=True,
            **{"warnings": [], **fields},
        )
        job._raised = (entry,)
        return job

    def claim(self, now: dt.datetime, lease_seconds: float) -> Job | None:
        """running, attempt + 1, under a lease; None when this delivery may not run it
        (missing, terminal, or leased by another: `decide_claim`)."""
        if decide_claim(self, now) is not ClaimOutcome.CLAIMED:
            return None
        return self._moved(
            State.RUNNING,
            now,
            attempts=self.attempts + 1,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            started_at=self.started_at or now,
        )

    def progress(
        self,
        attempt: int,
        now: dt.datetime,
        *,
        outputs: list[Output],
        blocked: list[str],
        warnings: list[str],
    ) -> Job | None:
        """Record what a running attempt has so far (images already stored), so a retry or a
        redelivery asks only for the missing ones; None if the attempt lost the job."""
        if not self.holds(attempt):
            return None
        return self._changed(
            now, partial_outputs=outputs, partial_blocked=blocked, partial_warnings=warnings
        )

    def finish(self, attempt: int, outcome: Outcome, now: dt.datetime) -> Job | None:
        """End a running attempt with its outcome; None if the attempt lost the job. What
        the attempt kept on the way (`partial_*`) is in the outcome now, and cleared."""
        if not self.holds(attempt):
            return None
        check_transition(self.state, State(outcome.state))
        return self._moved(
            State(outcome.state),
            now,
            **outcome.result_fields(),
            finished_at=now,
            lease_expires_at=None,
            partial_outputs=None,
            partial_blocked=None,
            partial_warnings=None,
        )

    def requeue(self, attempt: int, error: JobError, now: dt.datetime) -> Job | None:
        """Hand a running attempt back for redelivery after a retryable fault."""
        if not self.holds(attempt):
            return None
        return self._moved(State.QUEUED, now, error=error, lease_expires_at=None)

    def fail(self, error: JobError, now: dt.datetime, *, respect_lease: bool = False) -> Job | None:
        """Fail a job in any non-terminal state (dead letters, deadlines), keeping the error
        it had as `last_error`; None when it is terminal already. `respect_lease`: leave a
        running job alone while its lease is fresh (a live worker holds it and will end it;
        if it dies, the sweeper re-queues it once the lease lapses)."""
        if self.terminal:
            return None
        if respect_lease and decide_claim(self, now) is ClaimOutcome.LEASED:
            return None
        if self.error is not None:
            error = error.model_copy(update={"last_error": self.error})
        return self._moved(State.FAILED, now, error=error, finished_at=now, lease_expires_at=None)

    def cancel(self, now: dt.datetime) -> Job:
        """cancelled; Conflict (409) unless the job is queued."""
        try:
            check_transition(self.state, State.CANCELLED)
        except TransitionError:
            raise Conflict(
                f"job {self.id} is {self.state}; only a queued job can be cancelled"
            ) from None
        return self._moved(State.CANCELLED, now, finished_at=now)

    def park(
        self,
        until: dt.datetime,
        task: str,
        now: dt.datetime,
        attempt: int | None = None,
        error: JobError | None = None,
    ) -> Job | None:
        """Wait, queued, for a spent Vertex AI quota to reset (issue 27): the task that
        delivers it at `until` is `task`. A queued job parks before its claim (no attempt
        spent, no transition); a running `attempt` that met the spent quota goes back to
        queued with the quota's `error`. None when the attempt lost the job, or when the
        job is neither."""
        if attempt is not None:
            if not self.holds(attempt):
                return None
            moved = self._moved(State.QUEUED, now, error=error, lease_expires_at=None)
            return moved._with(parked_until=until, task=task)
        if self.state != State.QUEUED:
            return None
        return self._changed(now, parked_until=until, task=task)

    def queued_again(self, task: str, now: dt.datetime) -> Job | None:
        """The sweeper gave the job a fresh task (its last one is gone, or its worker's
        lease ran out); None when it has ended meanwhile. No transition."""
        if self.terminal:
            return None
        return self._changed(now, task=task, parked_until=None)

    def paced(self, now: dt.datetime) -> Job:
        """Note that a delivery went back for pacing (issue 18), so a dead letter
        re-publishes the job instead of failing it. No transition: it stays queued, its
        attempts and `updated_at` (what the sweeper's idle query reads) untouched."""
        return self._with(paced_at=now)

    # --- how a change is made -------------------------------------------------------------

    def _with(self, **fields: Any) -> Job:
        job = self.model_copy(update=fields)
        job._raised = ()
        return job

    def _changed(self, now: dt.datetime, **fields: Any) -> Job:
        """A change that keeps the state: no event."""
        return self._with(**fields, updated_at=now)

    def _moved(self, state: State, now: dt.datetime, **fields: Any) -> Job:
        """A change of state: the outbox entry it raises is appended in the same write."""
        sequence = (self.event_sequence or 1) + 1
        entry = PendingEvent(id=f"{self.id}-{sequence}", state=state.value, time=now)
        job = self._with(
            **fields,
            state=state.value,
            updated_at=now,
            event_sequence=sequence,
            pending_events=[*(self.pending_events or []), entry],
            events_pending=True,
        )
        job._raised = (entry,)
        return job
