"""Splitting a finished Vertex batch job into its items, and settling the batch (issue 29).

The output (`predictions.jsonl`, possibly several files) is read as a stream: each line's
images go straight to `gs://<outputs>/jobs/<item job id>/<n>.<ext>` (services/batch_items.py)
and as soon as every Vertex request of an item has its line the item ends, once, as an
ordinary job record. Nothing of the output is held but the items whose images are still
partly unread (an item of several images whose lines are apart).

Exactly once, whatever happens: an item ends by creating its job and its entry in the
batch's item index in one write, which fails if either exists. A sweep killed halfway
leaves some items ended and some not; the next one reads the output again, skips the ended
lines (their images are not written again) and ends the rest. Image names are derived from
the item's job id and the image's index, so an image written twice is the same object.
Items with no complete line when the output is read to its end (Vertex failed midway, a
line was cut short, the job was cancelled or expired) end failed (or cancelled) with the
reason, so every item of a batch ends.

`refresh` brings the batch's counts, cost and state up to date from its index; the change
that makes it terminal raises `batch.completed` into the batch's outbox, gives back the
unspent part of its budget (adapters/batches_firestore.py) and is published after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imagegen.domain.batch import Batch, Group, ItemState, LineKey
from imagegen.domain.batch_view import batch_event
from imagegen.domain.job import utcnow
from imagegen.domain.job_values import PendingEvent
from imagegen.logs import get_logger
from imagegen.services.batch_items import (
    Discard,
    Ending,
    ItemImage,
    ItemPlan,
    Progress,
    end_item,
    load_plan,
    outcome,
)
from imagegen.services.bounded_pool import BoundedPool

if TYPE_CHECKING:
    from imagegen.bootstrap import Services
    from imagegen.domain.catalog import ModelSpec
    from imagegen.domain.generation import ImageSink

log = get_logger("imagegen.batch_results")

# While a long output is split, the batch's counts are brought up to date this often.
PROGRESS_EVERY = 1000
# Threads that store images and end items while the output is read, and the image bytes
# they may hold at once (a 4K image is ~50 MB: one at a time past this bound).
SPLIT_THREADS = 8
SPLIT_HELD_BYTES = 64 * 1024 * 1024


def items_uri(group: Group) -> str:
    """The group's items as submitted (`<group>/items.jsonl`, beside its Vertex input)."""
    return group.input_uri.rsplit("/", 1)[0] + "/items.jsonl"


@dataclass
class Split:
    """One run of a group's split: its plan, what ended, and what its lines brought."""

    services: Services
    batch: Batch
    group: Group
    spec: ModelSpec | None
    plan: dict[int, ItemPlan]
    ended: set[int]
    uploads: BoundedPool
    ends: BoundedPool
    partial: dict[int, Progress] = field(default_factory=dict)
    started: int = 0
    deadline: float = float("inf")  # time.monotonic() past which this run stops reading

    def open_image(self, key: LineKey, mime_type: str) -> ImageSink:
        item = self.plan.get(key.line)
        if item is None or key.line in self.ended or self.spec is None:
            return Discard()
        image = ItemImage(
            self.services, self.batch, self.spec, item, key.image, mime_type, self.uploads
        )
        self.partial.setdefault(key.line, Progress()).images.append(image)
        return image

    def finish(self, line: int, progress: Progress, ending: Ending | None = None) -> None:
        """End an item on the pool's threads once its images are stored."""
        item = self.plan[line]
        self.ends.submit(self._end, item, progress, ending)
        self.ended.add(line)
        if (len(self.ended) - self.started) % PROGRESS_EVERY == 0:
            refresh(self.services, self.batch.id)

    def _end(self, item: ItemPlan, progress: Progress, ending: Ending | None) -> None:
        location = self.group.location
        end_item(
            self.services,
            self.batch,
            item,
            outcome(self.services, self.spec, item, progress, location, ending),
        )

    def read(self, uri: str, start: int = 0) -> bool:
        """Every line of one output file from `start`, each counted to its item. False:
        the run's time is up; the file is left at a line boundary where every item before
        it has ended (the group's `resume`), for the next sweep to go on from."""
        chunks = self.services.storage.read_chunks(uri, start)
        for line in self.services.vertex_batch.read_results(chunks, self.open_image, start):
            key = line.key
            if key is not None and key.line in self.plan and key.line not in self.ended:
                progress = self.partial.setdefault(key.line, Progress())
                progress.add(line, key.image)
                if len(progress.seen) >= key.images:
                    self.finish(key.line, self.partial.pop(key.line))
            elif key is None:
                log.warning(
                    "batch output line with no item",
                    extra={"batch_id": self.batch.id, "problem": line.problem},
                )
            if time.monotonic() > self.deadline and not self.partial:
                self.checkpoint(uri, line.end)
                return False
        return True

    def checkpoint(self, uri: str, offset: int) -> None:
        """Wait for every item begun to end, then note where the next run starts."""
        self.ends.drain()
        self.uploads.drain()
        resume = self.group.model_copy(update={"resume": {"uri": uri, "offset": offset}})
        self.services.batches.change(self.batch.id, lambda b: b.with_group(resume))
        log.info(
            "batch split paused; the next sweep goes on",
            extra={"batch_id": self.batch.id, "group": self.group.id, "offset": offset},
        )

    def rest(self) -> None:
        """End every item the output left without a complete result, with the reason."""
        reason = _why_missing(self.batch, self.group)
        for line, item in self.plan.items():
            if line in self.ended:
                continue
            progress = self.partial.pop(line, Progress())
            missing = item.req.number_of_images - len(progress.seen)
            progress.errors.append(f"{missing} image(s): {reason.message}")
            self.finish(line, progress, reason)


def split_group(services: Services, batch: Batch, group: Group) -> Batch:
    """End every item of a group whose Vertex job has ended: from its output, else with
    the reason there is none. Safe to run again; returns the batch with fresh counts.

    The output is read on this thread; images are stored and items ended on a few others
    (SPLIT_THREADS each, at most SPLIT_HELD_BYTES of images held): an item ends only once
    its images are stored, and an upload or an end that fails fails the split (the next
    sweep runs it again)."""
    plan = load_plan(services, batch, items_uri(group))
    ended = services.batches.ended_lines(batch.id) & set(plan)
    uploads = BoundedPool(SPLIT_THREADS, SPLIT_HELD_BYTES, "batch-upload")
    ends = BoundedPool(SPLIT_THREADS, 0, "batch-end")
    spec = services.catalog.get(group.model)
    split = Split(services, batch, group, spec, plan, ended, uploads, ends)
    split.started = len(ended)
    split.deadline = time.monotonic() + services.settings.batch_split_seconds
    try:
        whole = all(split.read(uri, start) for uri, start in _unread(services, group))
        if whole:
            split.rest()
        ends.drain()
        uploads.drain()
    finally:
        ends.close()
        uploads.close()
    log.info(
        "batch group split" if whole else "batch group split in part",
        extra={
            "batch_id": batch.id,
            "group": group.id,
            "vertex_state": group.vertex_state,
            "items_ended": len(ended) - split.started,
        },
    )
    return _group_done(services, batch, group) if whole else refresh(services, batch.id)


def _unread(services: Services, group: Group) -> Iterator[tuple[str, int]]:
    """(output file, offset) still to read: from where an earlier run paused."""
    resume = group.resume or {}
    files = _output_files(services, group)
    if resume.get("uri") in files:
        files = files[files.index(resume["uri"]) :]
    for uri in files:
        yield uri, int(resume.get("offset") or 0) if uri == resume.get("uri") else 0


def end_group_unrun(
    services: Services, batch: Batch, group: Group, state: ItemState, error: dict[str, str]
) -> Batch:
    """End every item of a group whose Vertex job never ran (refused at create, or the
    batch was cancelled or given up first): `failed` or `cancelled`, with `error`."""
    end_unrun(services, batch, items_uri(group), group.model, group.location, state, error)
    return _group_done(services, batch, group)


def end_unrun(
    services: Services,
    batch: Batch,
    plan_uri: str,
    model: str,
    location: str,
    state: ItemState,
    error: dict[str, str],
) -> None:
    """End every item of a plan file that has not ended, without a result."""
    plan = load_plan(services, batch, plan_uri)
    ended = services.batches.ended_lines(batch.id)
    spec = services.catalog.get(model)
    ending = Ending(error["code"], error["message"], state)
    for line, item in plan.items():
        if line not in ended:
            result = outcome(services, spec, item, Progress(), location, ending)
            end_item(services, batch, item, result)


def _group_done(services: Services, batch: Batch, group: Group) -> Batch:
    split = group.model_copy(update={"split": True, "finished_at": utcnow()})
    services.batches.change(batch.id, lambda b: b.with_group(split))
    return refresh(services, batch.id)


def refresh(services: Services, batch_id: str) -> Batch:
    """Bring the batch's counts and cost up to date from its item index, and its state
    from its counts; publish `batch.completed` when this made it terminal."""
    ended, cost = services.batches.tally(batch_id)
    batch = services.batches.change(batch_id, lambda b: b.settle(ended, cost, utcnow()))
    for entry in batch.raised:
        log.info(
            f"batch {batch.state}",
            extra={"batch_id": batch.id, "state": batch.state, **batch.counts.model_dump()},
        )
        publish_event(services, batch, entry)
    return batch


def publish_event(services: Services, batch: Batch, entry: PendingEvent) -> bool:
    """Publish the batch's event and clear it from its outbox. Never raises: the change
    is committed already, and the sweep publishes what is left (`republish_batch_events`)."""
    if not services.settings.events_topic:
        return False
    source = f"//imagegen/projects/{services.settings.project}/batches"
    try:
        services.event_topic.publish(batch_event(batch, entry, source))
    except Exception as exc:
        log.warning(
            "batch event not published; the sweep will retry",
            extra={"batch_id": batch.id, "event_id": entry.id, "error": str(exc)},
        )
        return False
    services.batches.mark_published(batch.id, entry)
    log.info("batch event published", extra={"batch_id": batch.id, "event_id": entry.id})
    return True


def republish_batch_events(services: Services) -> int:
    """The sweep's share: publish every batch event a crash left in an outbox."""
    published = 0
    for batch in services.batches.flagged():
        for entry in batch.pending_events or []:
            published += publish_event(services, batch, entry)
        if not batch.pending_events:
            services.batches.mark_published(batch.id, None)
    return published


def _output_files(services: Services, group: Group) -> list[str]:
    if not group.output_dir:
        return []
    prefix = group.output_dir.rstrip("/") + "/"
    return [uri for uri in services.storage.list(prefix) if uri.endswith(".jsonl")]


def _why_missing(batch: Batch, group: Group) -> Ending:
    if (batch.error or {}).get("code") == "deadline_exceeded" or batch.overdue(utcnow()):
        return Ending("deadline_exceeded", "the batch passed its deadline")
    if batch.cancel_requested:
        return Ending("cancelled", "the batch was cancelled before it ran")
    vertex = (group.error or {}).get("message") or group.vertex_state or "no output"
    return Ending("no_result", f"Vertex wrote no result for it ({vertex})")
