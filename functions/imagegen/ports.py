"""The ports: what the services need from the outside world, as `typing.Protocol`s.

Services (`imagegen/services/`) and the HTTP edge talk to Firestore, Pub/Sub, Cloud Storage
and Vertex AI only through these; `bootstrap.Services` hands out an adapter for each
(`imagegen/adapters/`), typed by its port here. Each Protocol lists exactly the methods
the services call, no more (tests/unit/test_ports.py checks that every adapter satisfies
its port and that no service imports an adapter). The small values that cross a port
(`Claim`, `PublisherModelState`) live here too, so neither side depends on the other.

Arrows: entry points -> HTTP/events -> services -> ports <- adapters; the domain depends on
none of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, runtime_checkable

from imagegen.domain.job import ClaimOutcome, Job, State
from imagegen.domain.job_values import PendingEvent

if TYPE_CHECKING:
    from imagegen.domain.batch import Batch, OpenLineImage, PredictionLine
    from imagegen.domain.catalog import ModelSpec, Overlay
    from imagegen.domain.generation import Generation, ImageSink, OpenImage
    from imagegen.domain.quota import Limits
    from imagegen.domain.request import JobRequest
    from imagegen.domain.webhooks import Delivery


@dataclass(frozen=True)
class Transacted:
    """What `JobStore.transact` did: the job as the transaction read it (None: no such
    job) and as it committed it (None: the change did not apply, nothing was written)."""

    before: Job | None
    after: Job | None

    @property
    def changed(self) -> bool:
        return self.after is not None


@dataclass(frozen=True)
class Claim:
    """What a worker's claim of a job came to: the outcome, the job as it is now, and the
    attempt number the claim fences its later writes with."""

    outcome: ClaimOutcome
    job: Job | None
    attempt: int = 0

    @classmethod
    def of(cls, done: Transacted) -> Claim:
        """The claim a `transact(job_id, lambda job: job.claim(...))` came to: claimed, or
        why not (`Job.claim` declines only a terminal job or one under a live lease)."""
        if done.after is not None:
            return cls(ClaimOutcome.CLAIMED, done.after, done.after.attempts)
        if done.before is None:
            return cls(ClaimOutcome.MISSING, None)
        outcome = ClaimOutcome.TERMINAL if done.before.terminal else ClaimOutcome.LEASED
        return cls(outcome, done.before)


@dataclass(frozen=True)
class PublisherModelState:
    """What Model Garden says about a publisher model today."""

    model: str
    found: bool
    launch_stage: str | None = None  # GA, PUBLIC_PREVIEW, ... (None when not found)
    version_id: str | None = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "launch_stage": self.launch_stage,
            "version_id": self.version_id,
            "message": self.message,
        }


@dataclass(frozen=True)
class VertexBatchJob:
    """A Vertex `BatchPredictionJob` as the batch service needs it (issue 29)."""

    name: str  # projects/<p>/locations/<l>/batchPredictionJobs/<id>
    state: str  # JOB_STATE_*
    output_dir: str | None = None  # outputInfo.gcsOutputDirectory
    error: dict[str, Any] | None = None  # {code, message} of a failed or cancelled job
    counts: dict[str, int] = field(default_factory=dict)  # completionStats

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "output_dir": self.output_dir,
            "error": self.error,
            "counts": self.counts,
        }


@runtime_checkable
class JobStore(Protocol):
    """Jobs as aggregates: read one, create one, change one in a transaction (`change` is
    one of the Job's transitions; the store writes what changed, publishes the event it
    raised, and gives back unspent budget when the job ends). The rest are reads, and the
    withdrawal of a job that was never queued."""

    def get(self, job_id: str) -> Job | None: ...

    def create(self, job: Job, limits: Limits | None = None) -> tuple[bool, Job]: ...

    def transact(self, job_id: str, change: Callable[[Job], Job | None]) -> Transacted: ...

    def delete(self, job_id: str) -> None: ...

    def stale(self, state: State, updated_before: dt.datetime, limit: int = 500) -> list[Job]: ...

    def between(
        self, start: dt.datetime, end: dt.datetime, caller: str | None = None
    ) -> list[Job]: ...

    def of_caller(
        self, caller: str, limit: int, before: dt.datetime | None = None
    ) -> list[Job]: ...


@runtime_checkable
class JobQueue(Protocol):
    """Hands a job to a worker, at least once and not before `not_before`, as a named task
    of its model's queue; raises Unavailable when it cannot. `waiting`: the task has not
    been delivered yet (the sweeper does not queue a job waiting its turn again)."""

    def task_name(self, job_id: str, model: str, *, fresh: bool = False) -> str: ...

    def enqueue(
        self,
        task: str,
        job_id: str,
        *,
        not_before: dt.datetime | None = None,
        timeout: float | None = None,
    ) -> str: ...

    def waiting(self, task: str) -> bool: ...


@runtime_checkable
class ObjectStore(Protocol):
    """Objects named by gs:// URIs: outputs, stored inputs, uploads and their answers."""

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> str: ...

    def open_upload(
        self,
        bucket: str,
        name: str,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> ImageSink: ...

    def read(self, uri: str, max_bytes: int) -> bytes: ...

    def open_read(self, uri: str) -> BinaryIO: ...

    def read_chunks(self, uri: str, start: int = 0) -> Iterator[bytes]: ...

    def list(self, prefix_uri: str) -> list[str]: ...

    def generation(self, uri: str) -> str | None: ...

    def delete(self, uri: str) -> None: ...


@runtime_checkable
class ImageModel(Protocol):
    """Generates a job's images in one location; raises Retryable/FinalUpstream/Blocked."""

    def generate(
        self,
        spec: ModelSpec,
        req: JobRequest,
        location: str,
        labels: dict[str, str] | None = None,
        timeout: float | None = None,
        history: list[dict] | None = None,
        on_reply: Callable[[Generation], None] | None = None,
        on_image: OpenImage | None = None,
        native: tuple[dict, str] | None = None,
    ) -> Generation: ...


@runtime_checkable
class BatchInput(Protocol):
    """The lines of a Vertex batch job's input file (issue 29): written at submit, apart
    from the Vertex client, which submit neither imports nor may call."""

    def input_line(self, spec: ModelSpec, req: JobRequest, labels: dict[str, str]) -> bytes: ...


@runtime_checkable
class BatchModel(Protocol):
    """Vertex AI batch prediction (issue 29): the jobs that run a batch's requests, and the
    output lines they write. Raises Retryable/FinalUpstream like ImageModel."""

    def create(
        self,
        model: str,
        location: str,
        input_uri: str,
        output_prefix: str,
        display_name: str,
        labels: dict[str, str],
    ) -> VertexBatchJob: ...

    def find(self, location: str, labels: dict[str, str]) -> VertexBatchJob | None: ...

    def get(self, name: str) -> VertexBatchJob: ...

    def cancel(self, name: str) -> None: ...

    def read_results(
        self, chunks: Iterable[bytes], open_image: OpenLineImage, start: int = 0
    ) -> Iterator[PredictionLine]: ...


@runtime_checkable
class BatchStore(Protocol):
    """Batches, their item index and their outbox (issue 29): each item ends exactly once,
    with its job record; a batch's estimate is charged at create and refunded in part at
    its end."""

    def create(self, batch: Batch, limits: Limits | None = None) -> tuple[bool, Batch]: ...

    def keyed(self, idempotency_id: str) -> Batch | None: ...

    def get(self, batch_id: str) -> Batch | None: ...

    def change(self, batch_id: str, edit: Callable[[Batch], Batch | None]) -> Batch: ...

    def active(self, limit: int = 100) -> list[Batch]: ...

    def of_caller(
        self, caller: str, limit: int, before: dt.datetime | None = None
    ) -> list[Batch]: ...

    def flagged(self, limit: int = 100) -> list[Batch]: ...

    def mark_published(self, batch_id: str, entry: PendingEvent | None) -> None: ...

    def end_item(
        self, batch_id: str, line: int, record: dict[str, Any], job: Job | None
    ) -> bool: ...

    def ended_lines(self, batch_id: str) -> set[int]: ...

    def items(self, batch_id: str, limit: int, after: int = 0) -> list[dict[str, Any]]: ...

    def tally(self, batch_id: str) -> tuple[dict[str, int], float]: ...


@runtime_checkable
class ModelRegistry(Protocol):
    """What the model's publisher says about it, and what it publishes (the daily check)."""

    def publisher_model(self, model_id: str, location: str) -> PublisherModelState: ...

    def publisher_models(self, location: str) -> list[PublisherModelState]: ...


@runtime_checkable
class EventTopic(Protocol):
    """A topic of job events (CloudEvents); returns the message id."""

    def publish(self, event: dict[str, Any], *, timeout: float = 10.0) -> str: ...


@runtime_checkable
class EventLog(Protocol):
    """The job events' outbox and the webhook deliveries' records."""

    def get(self, job_id: str) -> Job | None: ...

    def mark_published(self, job_id: str, entry: PendingEvent) -> None: ...

    def flagged(self, limit: int = 500) -> list[tuple[Job, Any]]: ...

    def settle(self, job_id: str, update_time: Any) -> bool: ...

    def due_webhooks(self, now: dt.datetime, limit: int = 200) -> list[dict[str, Any]]: ...

    def begin_attempt(
        self, job_id: str, event: tuple[str, str, str], lease: float
    ) -> tuple[str, str | None]: ...

    def finish_attempt(
        self, job_id: str, event_id: str, close: Callable[[Delivery, dt.datetime], Any]
    ) -> Delivery | None: ...


@runtime_checkable
class Limiter(Protocol):
    """Paces Vertex calls per model and location across every worker instance."""

    def paced(self, model: str, location: str) -> bool: ...

    def acquire(self, model: str, location: str, count: int, max_wait: float) -> float | None: ...

    def throttled(
        self, model: str, location: str, resets_at: dt.datetime | None = None
    ) -> bool: ...

    def blocked_until(self, model: str, location: str) -> dt.datetime | None: ...


@runtime_checkable
class CatalogStore(Protocol):
    """The catalog overlay, retirement claims and what was observed of each model."""

    def read(self) -> dict[str, Any]: ...

    def change(
        self, who: str, what: str, edit: Callable[[Overlay], Overlay | None]
    ) -> tuple[bool, dict[str, Any]]: ...

    def claim_retirement(self, model_id: str) -> tuple[bool, dt.datetime | None]: ...

    def record_not_found(self, model_id: str, location: str, message: str) -> None: ...

    def record_check(self, model_id: str, result: dict[str, Any]) -> None: ...

    def observations(self, model_id: str) -> dict[str, Any]: ...

    def all_observations(self) -> dict[str, dict[str, Any]]: ...

    def record_discovered(self, model_id: str, facts: dict[str, Any]) -> bool: ...

    def mark_discovered(self, model_id: str, fields: dict[str, Any]) -> None: ...

    def discovered(self) -> dict[str, dict[str, Any]]: ...


@runtime_checkable
class Signer(Protocol):
    """Signed download URLs for stored outputs (None: signing is off, or not gs://)."""

    def sign(self, uri: str, now: dt.datetime | None = None) -> tuple[str, dt.datetime] | None: ...

    def with_urls(self, view: dict[str, Any]) -> dict[str, Any]: ...
