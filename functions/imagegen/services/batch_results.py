"""Splitting a finished Vertex batch job into its items (issue 29).

The output (`predictions.jsonl`, possibly several files) is read as a stream: each line's
images go straight to `gs://<outputs>/jobs/<item job id>/<n>.<ext>` with their provenance
spliced in (as the worker stores an online job's), and as soon as every Vertex request of
an item has its line the item ends, once, through `end_item`. Nothing of the output is
held but the items whose images are still partly unread (an item of several images whose
lines are apart).

Exactly once, whatever happens: an item ends by creating its record in the batch's item
index, which fails if it exists (adapters/batches_firestore.py). A sweep killed halfway
leaves some items ended and some not; the next one reads the output again, skips the ended
lines (their images are not written again) and ends the rest. Image names are derived from
the item's job id and the image's index, so an image written twice is the same object.
Items with no complete line when the output is read to its end (Vertex failed midway, a
line was cut short, the job was cancelled or expired) end failed (or cancelled) with the
reason, so every item of a batch ends.

THE SEAM FOR PHASE B: `end_item` records the item in the batch's index only. Issue 26
turns the job into an aggregate with transition methods; phase B makes `end_item` also
create the item's ordinary job record (terminal, with these outputs, readable at
`/v1/jobs/{id}`) in the same write, from the record built here (`_record`), which already
holds everything a job record needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagegen.domain.batch import (
    Batch,
    Group,
    ItemState,
    LineKey,
    PredictionLine,
    item_job_id,
    item_outcome,
    priced_size,
)
from imagegen.domain.batch_facts import BATCH_PRICE_FACTOR
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.job import utcnow
from imagegen.domain.request import JobRequest, extension
from imagegen.logs import get_logger
from imagegen.media import ImageStream
from imagegen.services.bounded_pool import BoundedPool

if TYPE_CHECKING:
    from imagegen.bootstrap import Services
    from imagegen.domain.generation import ImageSink

log = get_logger("imagegen.batch_results")

# While a long output is split, the batch's counts are brought up to date this often.
PROGRESS_EVERY = 1000
# Threads that upload images and end items while the output is read, and the image bytes
# they may hold at once (a 4K image is ~50 MB: one at a time past this bound).
SPLIT_THREADS = 8
SPLIT_HELD_BYTES = 64 * 1024 * 1024


@dataclass
class ItemPlan:
    """One item of a group, as submitted (the group's `items.jsonl`)."""

    line: int
    job_id: str
    request: dict[str, Any]
    req: JobRequest
    warnings: list[str]


@dataclass
class Progress:
    """What an item's lines brought so far."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)


def load_plan(services: Services, batch: Batch, group: Group) -> dict[int, ItemPlan]:
    """The group's items by line, read back from `items.jsonl` (streamed)."""
    uri = group.input_uri.rsplit("/", 1)[0] + "/items.jsonl"
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
                )
    if pending.strip():
        raise ValueError(f"{uri} ends inside a line")
    return plan


def end_item(services: Services, batch: Batch, record: dict[str, Any]) -> bool:
    """End one item, once (False: it had ended before). Phase B: also its job record."""
    return services.batches.end_item(batch.id, record["line"], record)


def split_group(services: Services, batch: Batch, group: Group) -> Batch:
    """End every item of a group whose Vertex job has ended: from its output, else with
    the reason there is none. Safe to run again; returns the batch with fresh counts.

    The output is read on this thread; images are uploaded and items ended on a few others
    (SPLIT_THREADS each, at most SPLIT_HELD_BYTES of images held): an item ends only once
    its images are stored, and an upload or an end that fails fails the split (the next
    sweep runs it again)."""
    spec = services.catalog.get(group.model)
    plan = load_plan(services, batch, group)
    ended = services.batches.ended_lines(batch.id) & set(plan)
    partial: dict[int, Progress] = {}
    images: dict[int, list[ItemImage]] = {}
    uploads = BoundedPool(SPLIT_THREADS, SPLIT_HELD_BYTES, "batch-upload")
    ends = BoundedPool(SPLIT_THREADS, 0, "batch-end")
    started = len(ended)

    def open_image(key: LineKey, mime_type: str) -> ImageSink:
        item = plan.get(key.line)
        if item is None or key.line in ended or spec is None:
            return _Discard()
        image = ItemImage(services, batch, group, spec, item, key.image, mime_type, uploads)
        images.setdefault(key.line, []).append(image)
        return image

    def finish(line: int, record: dict[str, Any]) -> None:
        stored = images.pop(line, [])
        ends.submit(_end_when_stored, services, batch, record, stored)
        ended.add(line)
        if (len(ended) - started) % PROGRESS_EVERY == 0:
            refresh(services, batch.id)

    try:
        for uri in _output_files(services, group):
            read = services.vertex_batch.read_results(services.storage.read_chunks(uri), open_image)
            for line in read:
                key = line.key
                if key is None or key.line not in plan or key.line in ended:
                    if key is None:
                        log.warning(
                            "batch output line with no item",
                            extra={
                                "batch_id": batch.id,
                                "group": group.id,
                                "problem": line.problem,
                            },
                        )
                    continue
                progress = partial.setdefault(key.line, Progress())
                _add(progress, line, key.image)
                if len(progress.seen) < key.images:
                    continue
                del partial[key.line]
                finish(key.line, _record(batch, group, spec, plan[key.line], progress))
        reason = _why_missing(batch, group)
        for line, item in plan.items():
            if line in ended:
                continue
            progress = partial.pop(line, Progress())
            missing = item.req.number_of_images - len(progress.seen)
            progress.errors.append(f"{missing} image(s): {reason['message']}")
            finish(line, _record(batch, group, spec, item, progress, missing_reason=reason))
        ends.drain()
        uploads.drain()
    finally:
        ends.close()
        uploads.close()
    done = len(ended) - started
    log.info(
        "batch group split",
        extra={
            "batch_id": batch.id,
            "group": group.id,
            "vertex_state": group.vertex_state,
            "items_ended": done,
        },
    )
    split = group.model_copy(update={"split": True, "finished_at": utcnow()})
    services.batches.change(batch.id, lambda b: b.with_group(split))
    return refresh(services, batch.id)


def _end_when_stored(
    services: Services, batch: Batch, record: dict[str, Any], images: list[ItemImage]
) -> None:
    """End an item once every image of it is stored (an upload's error is raised here)."""
    for image in images:
        image.stored()
    end_item(services, batch, record)


def end_group_unrun(
    services: Services, batch: Batch, group: Group, state: str, error: dict[str, Any]
) -> Batch:
    """End every item of a group whose Vertex job never ran (refused at create, or the
    batch was cancelled first): `failed` or `cancelled`, with `error`."""
    plan = load_plan(services, batch, group)
    ended = services.batches.ended_lines(batch.id)
    spec = services.catalog.get(group.model)
    for line, item in plan.items():
        if line in ended:
            continue
        forced = (ItemState(state), error)
        record = _record(batch, group, spec, item, Progress(), forced=forced)
        end_item(services, batch, record)
    split = group.model_copy(update={"split": True, "finished_at": utcnow()})
    services.batches.change(batch.id, lambda b: b.with_group(split))
    return refresh(services, batch.id)


def refresh(services: Services, batch_id: str) -> Batch:
    """Bring the batch's counts and cost up to date from its item index, and its state
    from its counts (terminal once every item has ended)."""
    ended, cost = services.batches.tally(batch_id)

    def update(batch: Batch) -> Batch:
        counts = batch.counts.model_copy(update=ended)
        fresh = batch.model_copy(update={"counts": counts, "cost_usd": cost})
        state = fresh.settled_state()
        changes: dict[str, Any] = {"state": state}
        if fresh.model_copy(update=changes).terminal:
            changes["finished_at"] = utcnow()
            log.info(
                f"batch {state.value}",
                extra={"batch_id": batch.id, "state": state.value, **counts.model_dump()},
            )
        return fresh.model_copy(update=changes)

    return services.batches.change(batch_id, update)


def _output_files(services: Services, group: Group) -> list[str]:
    if not group.output_dir:
        return []
    prefix = group.output_dir.rstrip("/") + "/"
    return [uri for uri in services.storage.list(prefix) if uri.endswith(".jsonl")]


def _add(progress: Progress, line: PredictionLine, image: int) -> None:
    progress.seen.add(image)
    if line.problem:
        progress.errors.append(f"image {image}: the result could not be read: {line.problem}")
        return
    generation = line.generation
    if line.status or generation is None:
        progress.errors.append(f"image {image}: {line.status or 'no response'}")
        return
    for picture in generation.images:
        if picture.output is not None:
            progress.outputs.append(picture.output)
            if picture.output.get("warning"):
                progress.warnings.append(picture.output.pop("warning"))
    progress.blocked.extend(generation.blocked)
    progress.text.extend(generation.text)
    for name, value in generation.usage.items():
        progress.usage[name] = progress.usage.get(name, 0) + value


def _why_missing(batch: Batch, group: Group) -> dict[str, str]:
    if (batch.error or {}).get("code") == "deadline_exceeded" or batch.overdue(utcnow()):
        return {"code": "deadline_exceeded", "message": "the batch passed its deadline"}
    if batch.cancel_requested:
        return {"code": "cancelled", "message": "the batch was cancelled before it ran"}
    vertex = (group.error or {}).get("message") or group.vertex_state or "no output"
    return {"code": "no_result", "message": f"Vertex wrote no result for it ({vertex})"}


def _record(
    batch: Batch,
    group: Group,
    spec: ModelSpec | None,
    item: ItemPlan,
    progress: Progress,
    *,
    missing_reason: dict[str, str] | None = None,
    forced: tuple[ItemState, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """How an item ended, with everything its job record needs (phase B)."""
    outputs = sorted(progress.outputs, key=lambda o: o["index"])
    if forced is not None:
        state, error = forced
    else:
        state = item_outcome(len(outputs), len(progress.blocked), len(progress.errors))
        if state is ItemState.FAILED and missing_reason and missing_reason["code"] == "cancelled":
            state = ItemState.CANCELLED
        error = None
        if state is ItemState.BLOCKED:
            error = {"code": "blocked", "message": "; ".join(progress.blocked)}
        elif state in (ItemState.FAILED, ItemState.CANCELLED):
            code = (missing_reason or {}).get("code", "batch_item_failed")
            error = {"code": code, "message": "; ".join(progress.errors)}
        elif progress.errors:  # a success with some images missing: said, not hidden
            error = {"code": "partly_failed", "message": "; ".join(progress.errors)}
    # what the images cost as delivered, and their reference images (sent with each call)
    images_cost = sum(float(o.get("cost_usd") or 0.0) for o in outputs)
    per_input = spec.price_usd_per_input_image if spec is not None else 0.0
    inputs_cost = len(item.req.reference_images) * len(outputs) * per_input * BATCH_PRICE_FACTOR
    return {
        "line": item.line,
        "job_id": item.job_id,
        "batch_id": batch.id,
        "state": state.value,
        "model": group.model,
        "location": group.location,
        "request": item.request,
        "warnings": [*item.warnings, *progress.warnings],
        "outputs": outputs,
        "blocked_images": [{"reason": reason} for reason in progress.blocked],
        "error": error,
        "text": progress.text or None,
        "usage": progress.usage or None,
        "served_by": {"model": group.model, "location": group.location},
        "images_produced": len(outputs),
        "cost_usd": round(images_cost + inputs_cost, 6),
    }


class _Discard:
    """The sink of an image whose item has ended already (a re-run): not written again."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        return None

    def abort(self) -> None:
        pass


class ItemImage:
    """One image of an item, streamed to `jobs/<job id>/<n>.<ext>` of the outputs bucket
    with its provenance spliced in; `close` gives its output record, priced at the batch
    price of the size it came in, and finishes the upload on the pool's threads
    (`stored` waits for it)."""

    def __init__(
        self,
        services: Services,
        batch: Batch,
        group: Group,
        spec: ModelSpec,
        item: ItemPlan,
        index: int,
        mime_type: str,
        uploads: BoundedPool,
    ) -> None:
        self.spec, self.item, self.index, self.mime_type = spec, item, index, mime_type
        self._uploads = uploads
        self._done: Future | None = None
        req = item.req
        metadata = {
            "imagegen-job-id": item.job_id,
            "imagegen-batch-id": batch.id,
            "imagegen-model": group.model,
            "imagegen-region": group.location,
            "imagegen-prompt-sha256": hashlib.sha256(req.prompt.encode()).hexdigest(),
            "imagegen-watermark": "synthid",
        }
        if req.seed is not None:
            metadata["imagegen-seed"] = str(req.seed)
        bucket = services.settings.require("outputs_bucket")
        name = f"jobs/{item.job_id}/{index}.{extension(mime_type)}"
        self.uri = f"gs://{bucket}/{name}"
        self._upload = services.storage.open_upload(bucket, name, mime_type, metadata)
        self._stream = ImageStream(self._upload.write)

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> dict[str, Any]:
        self._stream.finish()
        held = self._stream.bytes_written
        self._done = self._uploads.submit(self._upload.close, weight=held)
        uri = self.uri
        width, height = self._stream.size or (0, 0)
        req = self.item.req
        size = req.image_size or self.spec.default_size
        priced, warning = priced_size(self.spec, size, req.aspect_ratio, width, height, self.index)
        output = {
            "uri": uri,
            "mime_type": self.mime_type,
            "index": self.index,
            "width": width,
            "height": height,
            "bytes": self._stream.bytes_written,
            "priced_size": priced,
            "model": self.spec.id,
            "cost_usd": round(self.spec.price(priced) * BATCH_PRICE_FACTOR, 6),
        }
        if warning:
            output["warning"] = warning  # moved to the item's warnings (_add)
        return output

    def stored(self) -> None:
        """Wait until the image is in the bucket; its upload's error, if it failed."""
        if self._done is not None:
            self._done.result()

    def abort(self) -> None:
        if self._done is not None:  # closed: let the upload end, then remove the object
            with contextlib.suppress(Exception):
                self._done.result()
        self._upload.abort()
