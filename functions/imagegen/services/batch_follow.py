"""Following batches: the scheduler's sweep steps every batch not ended yet (issue 29).

Vertex sends no completion signal for a batch prediction job (domain/batch_facts.py), so
each sweep asks Vertex for the state of every running job of ours, splits the output of
each one that has ended into its items (services/batch_results.py), starts the jobs that
had no room yet (at most IMAGEGEN_BATCH_MAX_VERTEX_JOBS in flight), re-asks a cancel that
did not get through, and gives up a batch past its deadline (its Vertex jobs cancelled, the
items without a result failed `deadline_exceeded`). Every step is safe to repeat: a sweep
killed anywhere leaves work the next one finishes, and no item ends twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagegen.domain.batch import Batch, Group
from imagegen.domain.job import utcnow
from imagegen.errors import FinalUpstream, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.services.batch_results import end_group_unrun, refresh, split_group
from imagegen.services.batches import request_cancel, start_groups, vertex_room

if TYPE_CHECKING:
    import datetime as dt

    from imagegen.bootstrap import Services

log = get_logger("imagegen.batch_follow")

DEADLINE = {"code": "deadline_exceeded", "message": "the batch passed its deadline"}
CANCELLED = {"code": "cancelled", "message": "the batch was cancelled before it ran"}


def follow(services: Services, now: dt.datetime | None = None) -> dict[str, int]:
    """Advance every active batch; a failure with one is logged and counted, and the next
    sweep tries again."""
    now = now or utcnow()
    active = services.batches.active()
    room = vertex_room(services, active)
    counts = {"batches_followed": 0, "batch_errors": 0}
    for batch in active:
        try:
            before = _running(batch)
            batch = advance(services, batch, now, room)
            room = max(0, room - (_running(batch) - before))
            counts["batches_followed"] += 1
        except Exception:
            counts["batch_errors"] += 1
            log.exception("could not follow a batch", extra={"batch_id": batch.id})
    return counts


def _running(batch: Batch) -> int:
    return sum(1 for g in batch.groups if g.submitted and not g.vertex_done)


def advance(services: Services, batch: Batch, now: dt.datetime, room: int) -> Batch:
    """One step of one batch."""
    if batch.overdue(now) and batch.error is None:
        batch = services.batches.change(
            batch.id, lambda b: b.model_copy(update={"error": DEADLINE})
        )
        log.error("batch past its deadline; giving up", extra={"batch_id": batch.id})
    giving_up = batch.cancel_requested or batch.error is not None
    for group_id in [g.id for g in batch.groups]:
        group = batch.group(group_id)
        if group.split:
            continue
        if not group.submitted:
            if giving_up:
                reason = CANCELLED if batch.cancel_requested else DEADLINE
                state = "cancelled" if batch.cancel_requested else "failed"
                batch = end_group_unrun(services, batch, group, state, reason)
            continue
        if not group.vertex_done:
            batch, group = _poll(services, batch, group, giving_up)
        if group.vertex_done:
            batch = split_group(services, batch, group)
    if not giving_up:
        batch = start_groups(services, batch, room)
    if not batch.terminal:
        batch = refresh(services, batch.id)  # queued -> running as its jobs start
    return batch


def _poll(services: Services, batch: Batch, group: Group, giving_up: bool) -> tuple[Batch, Group]:
    """Ask Vertex for the group's job; a job that cannot be read for good (Vertex's 404)
    counts as failed; a passing error leaves it for the next sweep."""
    assert group.vertex_job is not None
    changes: dict[str, Any]
    try:
        job = services.vertex_batch.get(group.vertex_job)
    except RetryableUpstream as exc:
        log.warning(
            "Vertex batch job not read; the next sweep asks again",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )
        return batch, group
    except FinalUpstream as exc:
        changes = {"vertex_state": "JOB_STATE_FAILED", "error": {"message": exc.message}}
    else:
        changes = {"vertex_state": job.state, "output_dir": job.output_dir, "error": job.error}
        ending = group.model_copy(update=changes).vertex_done or job.state == "JOB_STATE_CANCELLING"
        if giving_up and not ending:
            request_cancel(services, batch, group)
    if changes["vertex_state"] != group.vertex_state:
        log.info(
            "Vertex batch job moved",
            extra={
                "batch_id": batch.id,
                "group": group.id,
                "vertex_job": group.vertex_job,
                "vertex_state": changes["vertex_state"],
            },
        )
    updated = group.model_copy(update=changes)
    batch = services.batches.change(batch.id, lambda b: b.with_group(updated))
    return batch, updated
