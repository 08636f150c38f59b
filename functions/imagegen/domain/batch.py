"""A batch: many job requests submitted at once and run through Vertex AI batch prediction
(issue 29). Pure: the batch store (adapters/batches_firestore.py) turns documents into
`Batch`es and back; the services follow each Vertex job and split its results into items.

A batch holds its items in groups, one per model and location whose items Vertex batches
(one `BatchPredictionJob` each, at the batch price), plus the items that fan out into
ordinary paced jobs (models Vertex does not batch). An item is one line of what was
submitted (one job request, `number_of_images` Vertex requests); it ends exactly once, in
the batch's item index, as succeeded, blocked, failed or cancelled, and the batch's state
and counts follow from its items.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

from imagegen.domain.batch_facts import RUNNING_VERTEX_STATES, TERMINAL_VERTEX_STATES
from imagegen.domain.generation import Generation, ImageSink
from imagegen.domain.job_values import Charges, PendingEvent


class BatchState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_BATCH_STATES = frozenset(
    {
        BatchState.SUCCEEDED,
        BatchState.PARTIALLY_SUCCEEDED,
        BatchState.FAILED,
        BatchState.CANCELLED,
    }
)


class ItemState(StrEnum):
    """How one item ended (the job states an item's job record ends in)."""

    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Counts(BaseModel):
    """The batch's items by outcome; `pending` is every item not ended yet."""

    model_config = ConfigDict(extra="allow")

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pending(self) -> int:
        return max(0, self.total - self.ended)

    @property
    def ended(self) -> int:
        return self.succeeded + self.failed + self.blocked + self.cancelled

    def plus(self, state: ItemState) -> Counts:
        """The counts with one more item ended in `state`."""
        return self.model_copy(update={state.value: getattr(self, state.value) + 1})


class Group(BaseModel):
    """The items of one model in one location: one Vertex `BatchPredictionJob`."""

    model_config = ConfigDict(extra="allow")

    id: str  # "g0", "g1", ...: names its input and output under the batch's prefix
    model: str
    location: str
    items: int  # request lines
    lines: int  # Vertex requests (an item asks for number_of_images of them)
    input_uri: str
    output_prefix: str
    estimated_cost_usd: float = 0.0
    vertex_job: str | None = None  # projects/../locations/../batchPredictionJobs/<n>
    vertex_state: str | None = None  # JOB_STATE_*
    output_dir: str | None = None  # outputInfo.gcsOutputDirectory
    error: dict[str, Any] | None = None  # the Vertex job's own error, when it failed whole
    submit_error: dict[str, Any] | None = None  # why the last create call failed
    split: bool = False  # every item of the group has ended
    # where a split that ran out of time goes on: {"uri": output file, "offset": bytes}
    # (every item of the lines before it has ended)
    resume: dict[str, Any] | None = None
    submitted_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def submitted(self) -> bool:
        return self.vertex_job is not None

    @property
    def vertex_done(self) -> bool:
        return self.vertex_state in TERMINAL_VERTEX_STATES

    @property
    def started(self) -> bool:
        return self.vertex_state in RUNNING_VERTEX_STATES or self.vertex_done


class Fanout(BaseModel):
    """The items whose model Vertex does not batch: ordinary jobs, made by the follow step."""

    model_config = ConfigDict(extra="allow")

    uri: str  # JSONL of {"line", "request"}: the validated requests
    items: int
    done: bool = False  # every one has its job
    settled: bool = False  # every one has ended (its entry is in the item index)


class Batch(BaseModel):
    """A batch as the batch store holds it. Unknown fields are kept (a newer version's)."""

    model_config = ConfigDict(extra="allow", use_enum_values=True)

    id: str
    state: BatchState
    caller: str = "anonymous"
    source: str = "http"  # http | upload
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    deadline_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    upload: dict[str, Any] | None = None  # the dropped file and its answer's name
    webhook: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    groups: list[Group] = Field(default_factory=list)
    fanout: Fanout | None = None
    counts: Counts = Field(default_factory=Counts)
    estimated_cost_usd: float = 0.0
    cost_usd: float = 0.0
    rejected_count: int = 0
    rejected: list[dict[str, Any]] = Field(default_factory=list)  # the first REJECTIONS_KEPT
    rejected_uri: str | None = None  # every rejection, as JSON
    cancel_requested: bool = False
    error: dict[str, Any] | None = None
    # the budget reserved at submit (the batch's estimate), given back in part at its end
    charged: Charges | None = None
    # an Idempotency-Key's record (its id) and the body it came with (a replay's check)
    idempotency_id: str | None = None
    fingerprint: str | None = None
    # the outbox of the batch's event (`batch.completed`), as a job keeps its own
    pending_events: list[PendingEvent] | None = None
    events_pending: bool | None = None

    # the outbox entry the change that made this batch raised (not stored)
    _raised: tuple[PendingEvent, ...] = PrivateAttr(default=())

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Batch:
        return cls.model_validate(document)

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    @property
    def terminal(self) -> bool:
        return BatchState(self.state) in TERMINAL_BATCH_STATES

    @property
    def raised(self) -> tuple[PendingEvent, ...]:
        """The event the change that made this batch raised (published after commit)."""
        return self._raised

    @property
    def refund_usd(self) -> float:
        """What to give back to the budget counters once the batch has ended: what was
        reserved at submit beyond what its items cost (never negative)."""
        reserved = self.charged.usd if self.charged else 0.0
        return max(0.0, round(reserved - self.cost_usd, 6))

    def settle(self, ended: dict[str, int], cost_usd: float, now: dt.datetime) -> Batch:
        """The batch with its items' counts and cost (the index's tally) and the state they
        make. The change that makes it terminal raises `batch.completed` (its id
        `<batch id>-completed`: once, however often this runs) into the outbox."""
        counts = self.counts.model_copy(update=ended)
        fresh = self.model_copy(update={"counts": counts, "cost_usd": round(cost_usd, 6)})
        state = fresh.settled_state()
        fresh = fresh.model_copy(update={"state": state.value})
        fresh._raised = ()
        if not fresh.terminal or self.terminal:
            return fresh
        entry = PendingEvent(id=f"{self.id}-completed", state=state.value, time=now)
        done = fresh.model_copy(
            update={
                "finished_at": now,
                "pending_events": [*(self.pending_events or []), entry],
                "events_pending": True,
            }
        )
        done._raised = (entry,)
        return done

    def overdue(self, now: dt.datetime) -> bool:
        return self.deadline_at is not None and now > self.deadline_at

    def group(self, group_id: str) -> Group:
        return next(g for g in self.groups if g.id == group_id)

    def with_group(self, group: Group) -> Batch:
        groups = [group if g.id == group.id else g for g in self.groups]
        return self.model_copy(update={"groups": groups})

    def settled_state(self) -> BatchState:
        """The state the items make: terminal once every item has ended."""
        counts = self.counts
        if counts.total and counts.pending == 0:
            if self.cancel_requested:
                return BatchState.CANCELLED
            if counts.succeeded == counts.total:
                return BatchState.SUCCEEDED
            if counts.succeeded == 0:
                return BatchState.FAILED
            return BatchState.PARTIALLY_SUCCEEDED
        fanned = self.fanout is not None and self.fanout.done
        if counts.ended or fanned or any(g.started for g in self.groups):
            return BatchState.RUNNING
        return BatchState.QUEUED


# The rejections a batch document keeps itself (the rest are in `rejected_uri`): a
# Firestore document holds at most 1 MiB.
REJECTIONS_KEPT = 50

# The labels each Vertex request carries: its output line's echo of the request names its
# item (the output's order and extra fields are not documented: domain/batch_facts.py).
# `imagegen-job` is the label an online call of the job carries too (services/worker.py).
LABEL_BATCH = "imagegen-batch"
LABEL_ITEM = "imagegen-item"
LABEL_IMAGE = "imagegen-image"
LABEL_IMAGES = "imagegen-images"
LABEL_JOB = "imagegen-job"


@dataclass(frozen=True)
class LineKey:
    """Which item, and which of its images, one Vertex request (one input line) is."""

    line: int  # the item's line in what was submitted
    image: int  # 0-based, of `images`
    images: int
    job_id: str  # the item's job (item_job_id)

    def labels(self, batch_id: str) -> dict[str, str]:
        return {
            LABEL_BATCH: batch_id,
            LABEL_ITEM: str(self.line),
            LABEL_IMAGE: str(self.image),
            LABEL_IMAGES: str(self.images),
            LABEL_JOB: self.job_id,
        }

    @classmethod
    def from_labels(cls, labels: Any) -> LineKey | None:
        """The key an output line's echoed request carries; None if it has none (not a
        request of ours, or labels Vertex did not echo)."""
        if not isinstance(labels, dict):
            return None
        try:
            key = cls(
                line=int(labels[LABEL_ITEM]),
                image=int(labels[LABEL_IMAGE]),
                images=int(labels[LABEL_IMAGES]),
                job_id=str(labels[LABEL_JOB]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if key.line < 1 or not 0 <= key.image < key.images:
            return None
        return key


# Opens the sink of one image of one batch output line, given the line's key and the
# image's MIME type (the reader calls it; the split names the object after the item).
OpenLineImage = Callable[[LineKey, str], ImageSink]


@dataclass
class PredictionLine:
    """One line of a Vertex batch output, read: whose it is and what it holds. `status` is
    Vertex's error text for a request that failed (empty on success); `problem` says why a
    line could not be read at all (cut short, not JSON); `generation` is the response, its
    images already written to the sinks the reader was given."""

    key: LineKey | None
    status: str = ""
    generation: Generation | None = None
    problem: str | None = None
    end: int = 0  # bytes of the file read through this line (a resume starts there)


def new_batch_id() -> str:
    """Random like a job id, with a prefix so the two are not mistaken for each other."""
    return f"b{secrets.token_hex(12)}"


def item_job_id(batch_id: str, line: int) -> str:
    """The job id of a batch's item: derived, so splitting the results again (a sweep
    killed halfway) meets the same job and makes no second one; unguessable, because the
    batch id is random and only its owner knows it."""
    return hashlib.sha256(f"{batch_id}\x00item\x00{line}".encode()).hexdigest()[:24]


def item_key(line: int) -> str:
    """The item index's document id of a line: zero-padded, so the index reads in order."""
    return f"{line:06d}"


def item_outcome(images: int, blocked: int, failed: int) -> ItemState:
    """An item's state from its Vertex requests' outcomes, as the worker ends a job: any
    image makes it a success (with the rest listed as blocked or failed); else blocked when
    every request was refused on safety grounds; else failed."""
    if images:
        return ItemState.SUCCEEDED
    if blocked and not failed:
        return ItemState.BLOCKED
    return ItemState.FAILED
