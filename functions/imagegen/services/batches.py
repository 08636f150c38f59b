"""Submitting, reading and cancelling batches (issue 29): the path `POST /v1/batches` and
dropped `batches/*.jsonl` files share.

Submit reads and checks every line (domain/batch_request.py), plans the batch (one group a
model and location whose items Vertex batches, the rest to fan out into ordinary jobs),
writes each group's Vertex input file and its items' requests under
`gs://<outputs>/batches/<id>/`, and records the batch — reserving its estimate against the
caller's and the deployment's daily budgets in the same write, as a job does — and answers
with the batch and every rejected line. An Idempotency-Key (or a dropped file's
bucket/name#generation) maps to one batch; the same key with another body is a 409.

Everything that talks to Vertex is the sweep's (services/batch_follow.py): starting the
Vertex jobs, following them, splitting their results, making the fanned-out jobs, and
carrying out a cancel. So the public entry point needs no Vertex role and imports no Vertex
client, and a batch waits at most one sweep interval to start or to stop, nothing beside
Vertex's own 24-hour turnaround.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
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
from imagegen.errors import Conflict, NotFound
from imagegen.logs import get_logger

if TYPE_CHECKING:
    from imagegen.auth import Caller
    from imagegen.bootstrap import Services

log = get_logger("imagegen.batches")


@dataclass(frozen=True)
class SubmittedBatch:
    batch: Batch
    rejected: list[dict[str, Any]]  # every rejected line: {line, error}
    created: bool = True  # False: an earlier request with the same key made it


def batch_idempotency_id(caller: str, key: str) -> str:
    """The id of the record that maps (caller, Idempotency-Key) to a batch: its own scope,
    so a key used for a job and for a batch means two things."""
    return hashlib.sha256(f"{caller}\x00batch\x00{key}".encode()).hexdigest()


def fingerprint(raw: bytes, content_type: str) -> str:
    """What a replay with the same key must match: the body as sent, and its type."""
    kind = content_type.split(";")[0].strip().lower()
    return hashlib.sha256(kind.encode() + b"\x00" + bytes(raw)).hexdigest()


def submit_batch(
    services: Services,
    raw: bytes,
    content_type: str,
    *,
    caller: str = "anonymous",
    idempotency_key: str | None = None,
    source: str = "http",
    upload: dict[str, str] | None = None,
) -> SubmittedBatch:
    """Check, plan and record a batch. InvalidRequest / PayloadTooLarge /
    UnsupportedMediaType when the batch as a whole is refused, RateLimited /
    BudgetExceeded over a limit: nothing is written then."""
    key_id = batch_idempotency_id(caller, idempotency_key) if idempotency_key else None
    printed = fingerprint(raw, content_type)
    if key_id is not None:  # a replay reads its batch, and writes nothing
        earlier = services.batches.keyed(key_id)
        if earlier is not None:
            return _replay(earlier, printed)
    parsed = parse_batch(
        raw, content_type, services.catalog, services.policy, services.batch_limits
    )
    batch_id, now = new_batch_id(), utcnow()
    bucket = services.settings.require("outputs_bucket")
    base = f"batches/{batch_id}"
    rejected = [r.to_json() for r in parsed.rejected]
    written: list[str] = []
    try:
        groups, fanout = _plan(services, batch_id, bucket, base, parsed.items, written)
        rejected_uri = _rejections(services, bucket, base, rejected, written)
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
            idempotency_id=key_id,
            fingerprint=printed,
        )
        created, stored = services.batches.create(batch, services.limits)
    except BaseException:
        _remove(services, written)  # over a limit, or the store failed: nothing stays
        raise
    if not created:  # a racing request with the same key made it first
        _remove(services, written)
        return _replay(stored, printed)
    _log_queued(stored, parsed.rejected, len(groups))
    return SubmittedBatch(stored, rejected)


def _replay(batch: Batch, printed: str) -> SubmittedBatch:
    if batch.fingerprint != printed:
        raise Conflict(
            "this Idempotency-Key was used with a different batch",
            details=[{"field": "Idempotency-Key", "message": f"belongs to batch {batch.id}"}],
        )
    log.info("idempotent replay", extra={"batch_id": batch.id})
    return SubmittedBatch(batch, list(batch.rejected), created=False)


def _log_queued(batch: Batch, rejected: list[Rejection], groups: int) -> None:
    log.info(
        "batch queued",
        extra={
            "batch_id": batch.id,
            "caller": batch.caller,
            "source": batch.source,
            "items": batch.counts.total,
            "rejected": len(rejected),
            "groups": groups,
            "fanout": batch.fanout.items if batch.fanout else 0,
            "estimated_cost_usd": batch.estimated_cost_usd,
        },
    )


def _remove(services: Services, written: list[str]) -> None:
    for uri in written:
        try:
            services.storage.delete(uri)
        except Exception:  # best effort: the bucket's lifecycle rule removes batches/ later
            log.warning("could not remove a batch file", extra={"uri": uri})


def _rejections(
    services: Services, bucket: str, base: str, rejected: list[dict[str, Any]], written: list[str]
) -> str | None:
    """Every rejection in `rejected.json` when the batch document cannot keep them all."""
    if len(rejected) <= REJECTIONS_KEPT:
        return None
    data = json.dumps(rejected).encode()
    uri = services.storage.write(bucket, f"{base}/rejected.json", data, "application/json")
    written.append(uri)
    return uri


def _plan(
    services: Services,
    batch_id: str,
    bucket: str,
    base: str,
    items: list[BatchItem],
    written: list[str],
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
        prefix = f"{base}/{group_id}"
        input_uri = services.storage.write(
            bucket, f"{prefix}/input.jsonl", lines, "application/jsonl"
        )
        written.append(input_uri)
        written.append(
            services.storage.write(
                bucket, f"{prefix}/items.jsonl", _requests(batch_id, members), "application/jsonl"
            )
        )
        groups.append(
            Group(
                id=group_id,
                model=model,
                location=location,
                items=len(members),
                lines=sum(item.images for item in members),
                input_uri=input_uri,
                output_prefix=f"gs://{bucket}/{prefix}/output",
                estimated_cost_usd=round(sum(i.estimated_cost_usd for i in members), 6),
            )
        )
    fanout = None
    if others:
        uri = services.storage.write(
            bucket, f"{base}/fanout.jsonl", _requests(batch_id, others), "application/jsonl"
        )
        written.append(uri)
        fanout = Fanout(uri=uri, items=len(others))
    return groups, fanout


def _input_lines(services: Services, spec: Any, batch_id: str, members: list[BatchItem]):
    for item in members:
        req = JobRequest.model_validate(item.request)
        job_id = item_job_id(batch_id, item.line)
        for image in range(item.images):
            key = LineKey(item.line, image, item.images, job_id)
            yield services.batch_input.input_line(spec, req, key.labels(batch_id))


def _requests(batch_id: str, members: list[BatchItem]) -> bytes:
    """The items' lines of `items.jsonl` / `fanout.jsonl` (services/batch_items.ItemPlan)."""
    return b"".join(
        json.dumps(
            {
                "line": item.line,
                "request": item.request,
                "warnings": list(item.warnings),
                "estimated_cost_usd": item.estimated_cost_usd,
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
        for item in members
    )


# --- reading and cancelling --------------------------------------------------------------


def get_batch(services: Services, batch_id: str, caller: Caller, *, change: bool = False) -> Batch:
    """The caller's own batch (any for an admin; an upload's for everyone to read); another
    caller's is a 404 like a missing one, as for jobs."""
    batch = services.batches.get(batch_id)
    if batch is None or not caller.may_see(batch.caller, change=change):
        raise NotFound(f"no batch {batch_id}")
    return batch


def batch_items(
    services: Services, batch_id: str, limit: int = 100, after: int = 0
) -> list[dict[str, Any]]:
    """A page of the batch's ended items in line order (the caller checked by get_batch)."""
    return services.batches.items(batch_id, limit, after)


def cancel_batch(services: Services, batch_id: str, caller: Caller) -> Batch:
    """Ask for the batch to stop: marked here, carried out by the next sweep (it cancels
    each running Vertex job; Vertex stops asynchronously and still writes the rows it
    finished, whose items succeed and are billed; the rest end cancelled, and the items
    that never went to Vertex at once). A batch that has ended is a 409."""
    get_batch(services, batch_id, caller, change=True)

    def mark(batch: Batch) -> Batch | None:
        return (
            None if batch.cancel_requested else batch.model_copy(update={"cancel_requested": True})
        )

    batch = services.batches.change(batch_id, mark)
    if batch.terminal:
        raise Conflict(
            f"batch {batch_id} is {batch.state}; only a batch not ended can be cancelled"
        )
    log.info("batch cancel requested", extra={"batch_id": batch_id, "caller": caller.id})
    return batch


def batches_of(
    services: Services, caller: Caller, limit: int = 20, before: dt.datetime | None = None
) -> list[Batch]:
    """The caller's own batches, newest first (the studio's list)."""
    return services.batches.of_caller(caller.id, limit, before)
