"""Following batches: the scheduler's sweep steps every batch not ended yet (issue 29).

Vertex sends no completion signal for a batch prediction job (domain/batch_facts.py), so
each sweep, for every active batch:
- starts the Vertex jobs of groups that have none yet (at most
  IMAGEGEN_BATCH_MAX_VERTEX_JOBS of the deployment in flight; the rest wait their turn),
- makes the ordinary jobs of its fanned-out items (models Vertex does not batch) and ends
  the index entry of each one that has ended (services/batch_fanout.py),
- asks Vertex for each running job and splits the output of each one that has ended into
  its items (services/batch_results.py),
- carries out a cancel (`DELETE /v1/batches/{id}` only marks it): each running Vertex job
  is cancelled, groups that never started and queued fanned-out jobs end cancelled,
- gives up a batch past its deadline (its Vertex jobs cancelled, the items without a result
  failed `deadline_exceeded`),
- settles the batch's counts and state; `batch.completed` is published when it ends.
Every step is safe to repeat: a sweep killed anywhere leaves work the next one finishes,
and no item ends twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagegen.domain.batch import LABEL_BATCH, Batch, Group, ItemState
from imagegen.domain.job import utcnow
from imagegen.errors import FinalUpstream, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.services import batch_fanout
from imagegen.services.batch_results import (
    end_group_unrun,
    refresh,
    republish_batch_events,
    split_group,
)

if TYPE_CHECKING:
    import datetime as dt

    from imagegen.bootstrap import Services

log = get_logger("imagegen.batch_follow")

DEADLINE = {"code": "deadline_exceeded", "message": "the batch passed its deadline"}
CANCELLED = {"code": "cancelled", "message": "the batch was cancelled before it ran"}
LABEL_GROUP = "imagegen-group"


def follow(services: Services, now: dt.datetime | None = None) -> dict[str, int]:
    """Advance every active batch; a failure with one is logged and counted, and the next
    sweep tries again. Then publish batch events a crash left behind."""
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
    try:
        counts["batch_events_republished"] = republish_batch_events(services)
    except Exception:
        counts["batch_errors"] += 1
        log.exception("could not republish batch events")
    return counts


def _running(batch: Batch) -> int:
    return sum(1 for g in batch.groups if g.submitted and not g.vertex_done)


def vertex_room(services: Services, active: list[Batch]) -> int:
    """How many more Vertex batch jobs this deployment may start now."""
    running = sum(_running(batch) for batch in active)
    return max(0, services.settings.batch_max_vertex_jobs - running)


def advance(services: Services, batch: Batch, now: dt.datetime, room: int) -> Batch:
    """One step of one batch."""
    if batch.overdue(now) and batch.error is None:
        batch = services.batches.change(
            batch.id, lambda b: b.model_copy(update={"error": DEADLINE})
        )
        log.error("batch past its deadline; giving up", extra={"batch_id": batch.id})
    giving_up = batch.cancel_requested or batch.error is not None
    for group_id in [g.id for g in batch.groups]:
        batch = _advance_group(services, batch, batch.group(group_id), giving_up)
    batch = batch_fanout.advance(services, batch, giving_up)
    if not giving_up:
        batch = start_groups(services, batch, room)
    if not batch.terminal:
        batch = refresh(services, batch.id)  # queued -> running as its jobs start; the end
    return batch


def _advance_group(services: Services, batch: Batch, group: Group, giving_up: bool) -> Batch:
    if group.split:
        return batch
    if not group.submitted:
        if giving_up:  # it never went to Vertex: its items end now
            cancelled = batch.cancel_requested
            state = ItemState.CANCELLED if cancelled else ItemState.FAILED
            batch = end_group_unrun(
                services, batch, group, state, CANCELLED if cancelled else DEADLINE
            )
        return batch
    if not group.vertex_done:
        batch, group = _poll(services, batch, group, giving_up)
    if group.vertex_done:
        batch = split_group(services, batch, group)
    return batch


def _poll(services: Services, batch: Batch, group: Group, giving_up: bool) -> tuple[Batch, Group]:
    """Ask Vertex for the group's job; a job that cannot be read for good (Vertex's 404)
    counts as failed; a passing error leaves it for the next sweep. A batch being given up
    has its running job cancelled (asked again each sweep until Vertex says it stops)."""
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


def request_cancel(services: Services, batch: Batch, group: Group) -> None:
    """Cancel one Vertex job; one that ended meanwhile (Vertex's 400) is not an error."""
    assert group.vertex_job is not None
    try:
        services.vertex_batch.cancel(group.vertex_job)
        log.info(
            "Vertex batch job cancel asked",
            extra={"batch_id": batch.id, "group": group.id, "vertex_job": group.vertex_job},
        )
    except FinalUpstream as exc:
        log.info(
            "Vertex batch job not cancelled: it has ended",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )
    except RetryableUpstream as exc:  # the next sweep asks again
        log.warning(
            "Vertex batch job cancel failed; the next sweep asks again",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )


# --- starting the Vertex jobs ------------------------------------------------------------


def start_groups(services: Services, batch: Batch, room: int) -> Batch:
    """Start the Vertex job of every group that has none yet, `room` of them at most. A
    create that failed in a way a retry can fix (429, 5xx, and 403: permissions of a new
    deployment take minutes) is tried again by the next follow step; one Vertex refuses
    (400, 404) ends the group's items failed."""
    for group in batch.groups:
        if room <= 0:
            break
        if group.submitted or group.split:
            continue
        room -= 1
        batch = _start(services, batch, group)
    return batch


def _start(services: Services, batch: Batch, group: Group) -> Batch:
    ours = {LABEL_BATCH: batch.id, LABEL_GROUP: group.id}
    try:
        # a create that timed out may have made the job: find it rather than make a second
        job = services.vertex_batch.find(group.location, ours)
        if job is None:
            job = services.vertex_batch.create(
                group.model,
                group.location,
                group.input_uri,
                group.output_prefix,
                f"imagegen-{batch.id}-{group.id}",
                {**batch.labels, **ours},
            )
    except (RetryableUpstream, FinalUpstream) as exc:
        return _not_started(services, batch, group, exc)
    started = group.model_copy(
        update={
            "vertex_job": job.name,
            "vertex_state": job.state,
            "submitted_at": utcnow(),
            "submit_error": None,
        }
    )
    log.info(
        "Vertex batch job started",
        extra={
            "batch_id": batch.id,
            "group": group.id,
            "vertex_job": job.name,
            "model": group.model,
            "location": group.location,
            "lines": group.lines,
        },
    )
    return services.batches.change(batch.id, lambda b: b.with_group(started))


def _not_started(
    services: Services, batch: Batch, group: Group, exc: RetryableUpstream | FinalUpstream
) -> Batch:
    """A create that failed: tried again by the next sweep (429, 5xx, 403), or the group's
    items end failed (Vertex refused it: 400, 404)."""
    extra = {"batch_id": batch.id, "group": group.id, "error": exc.message}
    again = isinstance(exc, RetryableUpstream) or exc.status == 403
    if again:
        log.warning("Vertex batch job not started; the next sweep tries again", extra=extra)
        failed = group.model_copy(update={"submit_error": {"message": exc.message}})
        return services.batches.change(batch.id, lambda b: b.with_group(failed))
    log.error("Vertex refused the batch job; its items fail", extra=extra)
    error = {"code": "batch_refused", "message": exc.message}
    refused = group.model_copy(update={"error": error, "submit_error": error})
    batch = services.batches.change(batch.id, lambda b: b.with_group(refused))
    return end_group_unrun(services, batch, batch.group(group.id), ItemState.FAILED, error)
