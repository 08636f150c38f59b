"""A batch's items on models Vertex does not batch (issue 29): ordinary jobs, paced like
every job (the queue, the worker's limiter), at the online price.

The follow step (services/batch_follow.py) makes them once — each job's id is the item's
derived id (`item_job_id`), so a sweep killed halfway makes the rest and never a second job —
and then, each sweep, ends the index entry of every one that has ended (its job record is
the job itself; the entry is created once, as a batched item's is). Their budget was
reserved with the batch's estimate at submit, so the jobs are created uncharged, and their
deadline is the batch's. A cancelled batch cancels its fanned-out jobs that are still
queued (running ones finish); one given up at its deadline leaves them to theirs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING

from imagegen.domain.batch import Batch, ItemState
from imagegen.domain.job import Job, State, utcnow
from imagegen.domain.request import ValidatedRequest, request_fingerprint
from imagegen.errors import Conflict, Unavailable
from imagegen.logs import get_logger
from imagegen.services.batch_items import (
    Ending,
    ItemPlan,
    Progress,
    end_item,
    index_record,
    load_plan,
    outcome,
)

if TYPE_CHECKING:
    from imagegen.bootstrap import Services

log = get_logger("imagegen.batch_fanout")


def advance(services: Services, batch: Batch, giving_up: bool) -> Batch:
    """Make the jobs (once), then end the index entry of each that has ended."""
    fanout = batch.fanout
    if fanout is None or fanout.settled:
        return batch
    plan = load_plan(services, batch, fanout.uri)
    ended = services.batches.ended_lines(batch.id)
    waiting = [item for line, item in sorted(plan.items()) if line not in ended]
    if not fanout.done and not giving_up:
        _make_jobs(services, batch, waiting)
        made = fanout.model_copy(update={"done": True})
        batch = services.batches.change(batch.id, lambda b: b.model_copy(update={"fanout": made}))
    left = sum(not _settle(services, batch, item, giving_up) for item in waiting)
    if left == 0:
        settled = fanout.model_copy(update={"done": True, "settled": True})
        batch = services.batches.change(
            batch.id, lambda b: b.model_copy(update={"fanout": settled})
        )
    return batch


def _make_jobs(services: Services, batch: Batch, items: list[ItemPlan]) -> None:
    """Create and queue each item's job (an existing one, made by an earlier run, is left
    as it is). A queue that cannot take its task leaves the job queued: the sweep queues it again
    (issue 27's sweeper asks whether its task waits)."""
    now = utcnow()
    deadline = batch.deadline_at or now + dt.timedelta(
        seconds=services.settings.job_deadline_seconds
    )
    seconds = max(1.0, (deadline - now).total_seconds())
    for item in items:
        spec = services.catalog.get(item.req.model or "")
        if spec is None:  # retired since submit: its job fails as any job of it would
            spec = services.catalog[services.catalog.default_model]
        validated = ValidatedRequest(item.req, spec, list(item.warnings), item.estimated_cost_usd)
        job = Job.submitted(
            item.job_id,
            validated,
            fingerprint=request_fingerprint(item.request),
            source="batch",
            caller=batch.caller,
            deadline_seconds=seconds,
            now=now,
            batch_id=batch.id,
        )
        created, _ = services.jobs.create(job)  # uncharged: the batch reserved its estimate
        if not created:
            continue
        try:
            services.queue.enqueue(services.queue.task_name(job.id, job.model), job.id)
        except Unavailable:
            log.warning(
                "fanned-out job not queued; the sweep queues it again", extra={"job_id": job.id}
            )
    log.info("batch items fanned out", extra={"batch_id": batch.id, "jobs": len(items)})


def _settle(services: Services, batch: Batch, item: ItemPlan, giving_up: bool) -> bool:
    """End the item's index entry if its job has ended (True: it has, now or before)."""
    job = services.jobs.get(item.job_id)
    if job is None:
        if not giving_up:
            return False  # being made (a sweep that stopped before creating it)
        cancelled = batch.cancel_requested
        why = (
            "the batch was cancelled before it ran"
            if cancelled
            else "the batch passed its deadline"
        )
        state = ItemState.CANCELLED if cancelled else ItemState.FAILED
        ending = Ending("cancelled" if cancelled else "deadline_exceeded", why, state)
        spec = services.catalog.get(item.req.model or "")
        result = outcome(services, spec, item, Progress(), item.req.region or "", ending)
        end_item(services, batch, item, result)
        return True
    if batch.cancel_requested and job.state == State.QUEUED:
        with contextlib.suppress(Conflict):  # it started meanwhile: it finishes
            cancelled_job = services.jobs.transact(job.id, lambda stored: stored.cancel(utcnow()))
            job = cancelled_job.after or job
    if not job.terminal:
        return False
    services.batches.end_item(batch.id, item.line, index_record(job, item.line), None)
    return True
