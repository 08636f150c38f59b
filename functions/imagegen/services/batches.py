"""Submitting, reading and cancelling batches (issue 29): the path the HTTP API
(`POST /v1/batches`, phase B) and dropped `batches/*.jsonl` files (phase B) share.

Submit reads and checks every line (domain/batch_request.py), plans the batch (one group a
model and location whose items Vertex batches, the rest to fan out into ordinary jobs),
writes each group's Vertex input file and its items' requests under
`gs://<outputs>/batches/<id>/`, records the batch, and answers with the batch and every
rejected line. The Vertex jobs are started by the sweep's follow step
(services/batch_follow.py), at most IMAGEGEN_BATCH_MAX_VERTEX_JOBS of the deployment in
flight: so only the sweeper's account may create Vertex batch jobs (submit, the public
entry point, needs no Vertex role), and a batch waits at most one sweep interval to start,
nothing beside Vertex's own 24-hour turnaround.

Left to phase B (docs/batches.md): reserving the batch's estimate against the budgets at
submit (the usage counters live in the job store, which issue 26 is reshaping), an
Idempotency-Key for batches, and making the fan-out items' ordinary jobs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen.domain.batch import (
    REJECTIONS_KEPT,
    Batch,
    BatchState,
    Counts,
    Fanout,
    Group,
    LineKey,
    item_job_id,
    new_batch_id,
)
from imagegen.domain.batch_request import BatchItem, Rejection, parse_batch
from imagegen.domain.job import utcnow
from imagegen.domain.request import JobRequest
from imagegen.errors import FinalUpstream, NotFound, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.services.batch_results import end_group_unrun

if TYPE_CHECKING:
    from imagegen.auth import Caller
    from imagegen.bootstrap import Services

log = get_logger("imagegen.batches")

LABEL_GROUP = "imagegen-group"


@dataclass(frozen=True)
class SubmittedBatch:
    batch: Batch
    rejected: list[Rejection]

    def answer(self) -> dict[str, Any]:
        """The 202's body (the HTTP layer adds `status_url`)."""
        return {
            "id": self.batch.id,
            "status": self.batch.state,
            "items": self.batch.counts.total,
            "rejected": [r.to_json() for r in self.rejected],
            "estimated_cost_usd": self.batch.estimated_cost_usd,
        }


def submit_batch(
    services: Services,
    raw: bytes,
    content_type: str,
    *,
    caller: str = "anonymous",
    source: str = "http",
    upload: dict[str, str] | None = None,
) -> SubmittedBatch:
    """Check, plan, record and start a batch. InvalidRequest / PayloadTooLarge /
    UnsupportedMediaType (nothing written) when the batch as a whole is refused."""
    parsed = parse_batch(
        raw, content_type, services.catalog, services.policy, services.batch_limits
    )
    batch_id = new_batch_id()
    now = utcnow()
    bucket = services.settings.require("outputs_bucket")
    base = f"batches/{batch_id}"
    groups, fanout = _plan(services, batch_id, bucket, base, parsed.items)
    rejected = [r.to_json() for r in parsed.rejected]
    rejected_uri = None
    if len(rejected) > REJECTIONS_KEPT:
        rejected_uri = services.storage.write(
            bucket, f"{base}/rejected.json", json.dumps(rejected).encode(), "application/json"
        )
    batch = Batch(
        id=batch_id,
        state=BatchState.QUEUED,
        caller=caller,
        source=source,
        created_at=now,
        updated_at=now,
        deadline_at=now + dt.timedelta(seconds=services.settings.batch_deadline_seconds),
        upload=upload,
        webhook=parsed.webhook,
        labels=parsed.labels,
        groups=groups,
        fanout=fanout,
        counts=Counts(total=len(parsed.items)),
        estimated_cost_usd=parsed.estimated_cost_usd,
        rejected_count=len(rejected),
        rejected=rejected[:REJECTIONS_KEPT],
        rejected_uri=rejected_uri,
    )
    services.batches.create(batch)
    log.info(
        "batch queued",
        extra={
            "batch_id": batch_id,
            "caller": caller,
            "source": source,
            "items": len(parsed.items),
            "rejected": len(rejected),
            "groups": len(groups),
            "fanout": fanout.items if fanout else 0,
            "estimated_cost_usd": batch.estimated_cost_usd,
        },
    )
    return SubmittedBatch(batch, parsed.rejected)


def _plan(
    services: Services, batch_id: str, bucket: str, base: str, items: list[BatchItem]
) -> tuple[list[Group], Fanout | None]:
    """One group a model and location whose items Vertex batches: its Vertex input file
    (`<group>/input.jsonl`, a line a Vertex request) and its items' requests
    (`<group>/items.jsonl`, a line an item), written now. The other items' requests go to
    `fanout.jsonl` for ordinary jobs."""
    by_route: dict[tuple[str, str], list[BatchItem]] = {}
    others: list[BatchItem] = []
    for item in items:
        if item.batched:
            by_route.setdefault((item.model, item.location), []).append(item)
        else:
            others.append(item)
    groups = []
    for number, ((model, location), members) in enumerate(sorted(by_route.items())):
        group_id = f"g{number}"
        spec = services.catalog[model]
        lines = b"".join(_input_lines(services, spec, batch_id, members))
        input_uri = services.storage.write(
            bucket, f"{base}/{group_id}/input.jsonl", lines, "application/jsonl"
        )
        services.storage.write(
            bucket, f"{base}/{group_id}/items.jsonl", _requests(members), "application/jsonl"
        )
        groups.append(
            Group(
                id=group_id,
                model=model,
                location=location,
                items=len(members),
                lines=sum(item.images for item in members),
                input_uri=input_uri,
                output_prefix=f"gs://{bucket}/{base}/{group_id}/output",
                estimated_cost_usd=round(sum(i.estimated_cost_usd for i in members), 6),
            )
        )
    fanout = None
    if others:
        uri = services.storage.write(
            bucket, f"{base}/fanout.jsonl", _requests(others), "application/jsonl"
        )
        fanout = Fanout(uri=uri, items=len(others))
    return groups, fanout


def _input_lines(
    services: Services, spec: Any, batch_id: str, members: list[BatchItem]
) -> Iterable[bytes]:
    for item in members:
        req = JobRequest.model_validate(item.request)
        job_id = item_job_id(batch_id, item.line)
        for image in range(item.images):
            key = LineKey(item.line, image, item.images, job_id)
            yield services.vertex_batch.input_line(spec, req, key.labels(batch_id))


def _requests(members: list[BatchItem]) -> bytes:
    return b"".join(
        json.dumps(
            {"line": item.line, "request": item.request, "warnings": list(item.warnings)},
            separators=(",", ":"),
        ).encode()
        + b"\n"
        for item in members
    )


# --- starting the Vertex jobs ------------------------------------------------------------


def vertex_room(services: Services, active: list[Batch] | None = None) -> int:
    """How many more Vertex batch jobs this deployment may start now."""
    active = services.batches.active() if active is None else active
    running = sum(1 for b in active for g in b.groups if g.submitted and not g.vertex_done)
    return max(0, services.settings.batch_max_vertex_jobs - running)


def start_groups(services: Services, batch: Batch, room: int) -> Batch:
    """Start the Vertex job of every group that has none yet, `room` of them at most. A
    create that failed in a way a retry can fix (429, 5xx, and 403: permissions of a new
    deployment take minutes) is tried again by the next follow step; one Vertex refuses
    (400, 404) ends the group's items failed."""
    if batch.cancel_requested:
        return batch
    for group in batch.groups:
        if room <= 0:
            break
        if group.submitted or group.split:
            continue
        room -= 1
        batch = _start(services, batch, group)
    return batch


def _start(services: Services, batch: Batch, group: Group) -> Batch:
    ours = {"imagegen-batch": batch.id, LABEL_GROUP: group.id}
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
    except RetryableUpstream as exc:
        log.warning(
            "Vertex batch job not started; the next sweep tries again",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )
        failed = group.model_copy(update={"submit_error": {"message": exc.message}})
        return services.batches.change(batch.id, lambda b: b.with_group(failed))
    except FinalUpstream as exc:
        if exc.status == 403:  # the deployment's permissions (new grants take minutes)
            log.error(
                "Vertex batch job not started: permission denied; the next sweep tries again",
                extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
            )
            denied = group.model_copy(update={"submit_error": {"message": exc.message}})
            return services.batches.change(batch.id, lambda b: b.with_group(denied))
        log.error(
            "Vertex refused the batch job; its items fail",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )
        error = {"code": "batch_refused", "message": exc.message}
        refused = group.model_copy(update={"error": error, "submit_error": error})
        batch = services.batches.change(batch.id, lambda b: b.with_group(refused))
        return end_group_unrun(services, batch, batch.group(group.id), "failed", error)
    now = utcnow()
    started = group.model_copy(
        update={
            "vertex_job": job.name,
            "vertex_state": job.state,
            "submitted_at": now,
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


# --- reading and cancelling --------------------------------------------------------------


def get_batch(services: Services, batch_id: str, caller: Caller, *, change: bool = False) -> Batch:
    """The caller's own batch (any for an admin); another caller's is a 404 like a
    missing one, as for jobs."""
    batch = services.batches.get(batch_id)
    if batch is None or not caller.may_see(batch.caller, change=change):
        raise NotFound(f"no batch {batch_id}")
    return batch


def batch_items(
    services: Services, batch_id: str, caller: Caller, limit: int = 100, after: int = 0
) -> list[dict[str, Any]]:
    """A page of the batch's ended items: line, job id, state (the paged list of GET)."""
    get_batch(services, batch_id, caller)
    return [
        {k: record.get(k) for k in ("line", "job_id", "state", "cost_usd")}
        for record in services.batches.items(batch_id, limit, after)
    ]


def cancel_batch(services: Services, batch_id: str, caller: Caller) -> Batch:
    """Ask every Vertex job of the batch to stop. Cancelling is asynchronous at Vertex: the
    follow step splits what each job finished (those items are billed and kept) and ends
    the rest cancelled; the batch ends `cancelled`."""
    get_batch(services, batch_id, caller, change=True)

    def mark(batch: Batch) -> Batch | None:
        if batch.cancel_requested:
            return None
        return batch.model_copy(update={"cancel_requested": True})

    batch = services.batches.change(batch_id, mark)
    if batch.terminal:
        return batch
    for group in batch.groups:
        if group.submitted and not group.vertex_done:
            request_cancel(services, batch, group)
    log.info("batch cancel requested", extra={"batch_id": batch_id, "caller": caller.id})
    return batch


def request_cancel(services: Services, batch: Batch, group: Group) -> None:
    """Cancel one Vertex job; one that ended meanwhile (Vertex's 400) is not an error."""
    assert group.vertex_job is not None
    try:
        services.vertex_batch.cancel(group.vertex_job)
    except FinalUpstream as exc:
        log.info(
            "Vertex batch job not cancelled: it has ended",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )
    except RetryableUpstream as exc:  # the follow step asks again
        log.warning(
            "Vertex batch job cancel failed; the next sweep asks again",
            extra={"batch_id": batch.id, "group": group.id, "error": exc.message},
        )
