"""The items of a batch and how each ends (issue 29): its images stored like any job's, its
end recorded once as an ordinary job record and an entry in the batch's item index.

An item ends by `end_item`: its job (`Job.batch_item`, terminal, readable at
`/v1/jobs/{id}`, with its outputs, blocked reasons, error, usage and cost at the batch
price) and its index entry (`batches/<id>/items/<line>`) are created in one Firestore write,
which fails if either exists (adapters/batches_firestore.py), so an item ends exactly once
whatever re-runs the split; the job's event is published after the commit, as every job's
is (services/job_events.py).

Images go up byte for byte as Vertex sent them (`ItemImage`), with our provenance in the
object's metadata, and their Content Credentials read back from the stored object — the
online worker's own record of an output (services/outputs.py).
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagegen.domain.batch import Batch, ItemState, PredictionLine, item_job_id, item_outcome
from imagegen.domain.batch_facts import BATCH_PRICE_FACTOR
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.job import Job, Outcome, State, utcnow
from imagegen.domain.job_values import BlockedImage, JobError, Output, ServedBy, cost_of
from imagegen.domain.job_view import iso
from imagegen.domain.provenance import credentials_warning, object_metadata
from imagegen.domain.request import JobRequest, extension
from imagegen.media import ImageStream
from imagegen.services.bounded_pool import BoundedPool
from imagegen.services.job_events import announce
from imagegen.services.outputs import output_record, read_credentials

if TYPE_CHECKING:
    from imagegen.bootstrap import Services


@dataclass
class ItemPlan:
    """One item as submitted (a line of its group's `items.jsonl`, or of `fanout.jsonl`)."""

    line: int
    job_id: str
    request: dict[str, Any]
    req: JobRequest
    warnings: list[str]
    estimated_cost_usd: float = 0.0

    def entry(self) -> bytes:
        """Its line in `items.jsonl` / `fanout.jsonl` (what `load_plan` reads back)."""
        body = {
            "line": self.line,
            "request": self.request,
            "warnings": self.warnings,
            "estimated_cost_usd": self.estimated_cost_usd,
        }
        return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def load_plan(services: Services, batch: Batch, uri: str) -> dict[int, ItemPlan]:
    """The items of a plan file by line, read back as a stream."""
    plan: dict[int, ItemPlan] = {}
    pending = b""
    for chunk in services.storage.read_chunks(uri):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            if raw.strip():
                entry = json.loads(raw)
                line = int(entry["line"])
                plan[line] = ItemPlan(
                    line=line,
                    job_id=item_job_id(batch.id, line),
                    request=entry["request"],
                    req=JobRequest.model_validate(entry["request"]),
                    warnings=list(entry.get("warnings") or []),
                    estimated_cost_usd=float(entry.get("estimated_cost_usd") or 0.0),
                )
    if pending.strip():
        raise ValueError(f"{uri} ends inside a line")
    return plan


# --- an item's images --------------------------------------------------------------------


class ItemImage:
    """One image of an item, streamed to `jobs/<job id>/<n>.<ext>` of the outputs bucket as
    its bytes arrive, unchanged, with its provenance in the object's metadata. `close`
    hands the rest (finishing the upload, reading its Content Credentials back, its output
    record at the batch price) to the pool's threads; `output` waits for it."""

    def __init__(
        self,
        services: Services,
        batch: Batch,
        spec: ModelSpec,
        item: ItemPlan,
        index: int,
        mime_type: str,
        pool: BoundedPool,
    ) -> None:
        self.services, self.spec, self.item = services, spec, item
        self.index, self.mime_type = index, mime_type
        self.aborted = False
        self._pool = pool
        self._done: Future[Output] | None = None
        metadata = object_metadata(
            job_id=item.job_id,
            model_requested=item.req.model_requested or spec.id,
            model=spec.id,
            location=item.req.region or spec.default_location,
            request=item.request,
            prompt=item.req.prompt,
            created_at=iso(batch.created_at) if batch.created_at else "",
            seed=item.req.seed,
        )
        metadata["imagegen-batch-id"] = batch.id
        bucket = services.settings.require("outputs_bucket")
        name = f"jobs/{item.job_id}/{index}.{extension(mime_type)}"
        self._upload = services.storage.open_upload(bucket, name, mime_type, metadata)
        self._stream = ImageStream(self._upload.write)

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> None:
        self._stream.finish()
        self._done = self._pool.submit(self._finish, weight=self._stream.bytes_written)

    def _finish(self) -> Output:
        uri = self._upload.close()
        width, height = self._stream.size or (0, 0)
        size = self.item.req.image_size or self.spec.default_size
        priced, _ = self.spec.priced_as(size, self.item.req.aspect_ratio, width, height, self.index)
        credentials = read_credentials(self.services, self.item.job_id, uri, self.mime_type)
        return output_record(
            self.spec,
            self._stream,
            uri=uri,
            mime_type=self.mime_type,
            index=self.index,
            priced_size=priced,
            credentials=credentials,
            price_factor=BATCH_PRICE_FACTOR,
        )

    def output(self) -> Output:
        """The stored image's record, once it is stored (an upload's error is raised)."""
        assert self._done is not None, "an image is stored only once closed"
        return self._done.result()

    def abort(self) -> None:
        self.aborted = True
        if self._done is not None:  # closed: let the upload end, then remove the object
            with contextlib.suppress(Exception):
                self._done.result()
        self._upload.abort()


class Discard:
    """The sink of an image whose item has ended already (a re-run): not written again."""

    aborted = True

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        return None

    def abort(self) -> None:
        pass


# --- what an item's lines brought ---------------------------------------------------------


@dataclass
class Progress:
    """What an item's output lines brought so far."""

    images: list[ItemImage] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def add(self, line: PredictionLine, image: int) -> None:
        self.seen.add(image)
        if line.problem:
            self.errors.append(f"image {image}: the result could not be read: {line.problem}")
            return
        generation = line.generation
        if line.status or generation is None:
            self.errors.append(f"image {image}: {line.status or 'no response'}")
            return
        self.blocked.extend(generation.blocked)
        self.text.extend(generation.text)
        for name, value in generation.usage.items():
            self.usage[name] = self.usage.get(name, 0) + value


@dataclass(frozen=True)
class Ending:
    """Why an item ends without (all of) its results: `code` and `message`, and the state
    it forces (None: decided by what its lines brought)."""

    code: str
    message: str
    state: ItemState | None = None

    def error(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def outcome(
    services: Services, spec: ModelSpec | None, item: ItemPlan, progress: Progress,
    location: str, ending: Ending | None = None,
) -> Outcome:  # fmt: skip
    """How an item ends, as the worker ends a job: its stored images (waited for), the
    images blocked or failed, its warnings, its cost at the batch price."""
    outputs = sorted(
        (image.output() for image in progress.images if not image.aborted),
        key=lambda o: o.index or 0,
    )
    warnings = [*item.warnings, *_warnings(services, spec, item, outputs)]
    state = ItemState(ending.state) if ending and ending.state else None
    if state is None:
        state = item_outcome(len(outputs), len(progress.blocked), len(progress.errors))
        if state is ItemState.FAILED and ending and ending.code == "cancelled":
            state = ItemState.CANCELLED
    error = _error(state, progress, ending)
    per_input = spec.price_usd_per_input_image if spec is not None else 0.0
    inputs = len(item.req.reference_images) * len(outputs) * per_input * BATCH_PRICE_FACTOR
    model = spec.id if spec is not None else str(item.request.get("model") or "")
    return Outcome(
        state=State(state.value),
        outputs=outputs,
        blocked_images=[BlockedImage(reason=reason) for reason in progress.blocked],
        error=error,
        text=progress.text or None,
        usage=progress.usage or None,
        served_by=ServedBy(model=model, location=location),
        images_produced=len(outputs),
        cost_usd=round(cost_of(outputs) + inputs, 6),
        warnings=warnings,
    )


def _warnings(
    services: Services, spec: ModelSpec | None, item: ItemPlan, outputs: list[Output]
) -> list[str]:
    """A size other than asked (priced as delivered), missing or invalid credentials."""
    if spec is None:
        return []
    found = []
    size = item.req.image_size or spec.default_size
    for output in outputs:
        width, height, index = output.width or 0, output.height or 0, output.index or 0
        _, warning = spec.priced_as(size, item.req.aspect_ratio, width, height, index)
        found.append(warning)
        if services.settings.verify_content_credentials:
            carries = spec.c2pa_content_credentials
            found.append(credentials_warning(carries, output.content_credentials, index, spec.id))
    return [warning for warning in found if warning]


def _error(state: ItemState, progress: Progress, ending: Ending | None) -> JobError | None:
    if ending is not None and ending.state is not None:
        return JobError(code=ending.code, message=ending.message)
    if state is ItemState.BLOCKED:
        return JobError(code="blocked", message="; ".join(progress.blocked))
    if state in (ItemState.FAILED, ItemState.CANCELLED):
        code = ending.code if ending else "batch_item_failed"
        return JobError(code=code, message="; ".join(progress.errors))
    if progress.errors:  # a success with some images missing: said, not hidden
        return JobError(code="partly_failed", message="; ".join(progress.errors))
    return None


# --- ending it -------------------------------------------------------------------------------


def end_item(services: Services, batch: Batch, item: ItemPlan, result: Outcome) -> bool:
    """End one item, once: its job record and its index entry in one write (False: it had
    ended before, and nothing was written). Its job's event is published after."""
    job = Job.batch_item(
        item.job_id,
        batch_id=batch.id,
        request=item.request,
        caller=batch.caller,
        estimated_cost_usd=item.estimated_cost_usd,
        created_at=batch.created_at or utcnow(),
        outcome=result,
        now=utcnow(),
    )
    created = services.batches.end_item(batch.id, item.line, index_record(job, item.line), job)
    if created and services.settings.events_topic:
        for entry in job.raised:
            announce(services, job, entry)
    return created


def index_record(job: Job, line: int) -> dict[str, Any]:
    """An ended item's entry in the batch's index: what the batch's counts, cost, item
    pages and the upload's answer read without reading every job."""
    return {
        "line": line,
        "job_id": job.id,
        "batch_id": job.batch_id,
        "state": job.state,
        "cost_usd": round(job.actual_cost_usd, 6),
        "outputs": [output.uri for output in job.outputs or []],
        "error": job.error.model_dump(include={"code", "message"}) if job.error else None,
    }
