"""Submitting, reading and cancelling jobs: the path shared by the HTTP API and uploads."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from imagegen.auth import Caller
from imagegen.bootstrap import Services
from imagegen.domain.document_size import MAX_SUBMIT_DOCUMENT_BYTES
from imagegen.domain.job import Job, State, new_job_id, utcnow
from imagegen.domain.quota import usage_report
from imagegen.domain.request import request_fingerprint, validate_request
from imagegen.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unavailable
from imagegen.logs import get_logger
from imagegen.native.vertex_request import NativeRequest
from imagegen.services import inputs
from imagegen.services.refine import resolve_parent

log = get_logger("imagegen.submit")


@dataclass(frozen=True)
class Submitted:
    job: Job
    created: bool  # False: an earlier request with the same idempotency key made it


def idempotency_id(scope: str, key: str) -> str:
    """The id of the record that maps (caller, Idempotency-Key) to its job, so retries of
    one request meet one job. Only the record's id is derived; the job id itself is random
    (a job id computed from a caller's email and key would be guessable)."""
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()


def submit(
    services: Services,
    body: Any,
    *,
    caller: str = "anonymous",
    idempotency_key: str | None = None,
    source: str = "http",
    upload: dict[str, str] | None = None,
    native: NativeRequest | None = None,
) -> Submitted:
    """Validate, record, queue. Invalid input raises InvalidRequest before anything is
    written; over a rate or budget limit raises RateLimited / BudgetExceeded (429) and
    writes nothing; a queue failure removes the record again and raises Unavailable (503),
    so a job is either queued or was never accepted. `native`: a Vertex-native request
    (issue 28) that `body` was taken from; the job keeps it to send as it is."""
    _note_retired_model(services, body)
    fingerprint = request_fingerprint(native.body if native is not None else body)
    validated = validate_request(body, services.catalog, services.policy)
    conversation_prefix = None
    if validated.request.parent_job_id:
        conversation_prefix, more_warnings = resolve_parent(
            services, validated, validated.request.parent_job_id, caller
        )
        validated.warnings.extend(more_warnings)
    job_id = new_job_id()
    validated, written = inputs.store_inline(services, validated, job_id)
    more: dict[str, Any] = {"upload": upload} if upload else {}  # its object, its answer
    if native is not None:  # its inline images now where the references were stored
        refs = [ref.model_dump(exclude_none=True) for ref in validated.request.reference_images]
        more["native_request"] = native.stored(refs)
    if conversation_prefix is not None:
        more["conversation"] = conversation_prefix
        more["parent_job_id"] = validated.request.parent_job_id
    if idempotency_key:
        more["idempotency_id"] = idempotency_id(caller, idempotency_key)
    job = Job.submitted(
        job_id,
        validated,
        fingerprint=fingerprint,
        source=source,
        caller=caller,
        deadline_seconds=services.settings.job_deadline_seconds,
        now=utcnow(),
        **more,
    )
    created, stored = _record(services, job, written)
    if not created:
        return _replay(stored, fingerprint, job_id)
    _queue(services, stored)
    log.info("job queued", extra=_queued_line(job))
    return Submitted(stored, created=True)


def _queued_line(job: Job) -> dict[str, Any]:
    """What the "job queued" log line carries."""
    return {
        "job_id": job.id,
        "model": job.model,
        "region": job.region,
        "source": job.source,
        "caller": job.caller,
        "state": State.QUEUED.value,
    }


def _record(services: Services, job: Job, written: list[str]) -> tuple[bool, Job]:
    """Store the job and charge its budget: (created, the stored job: an earlier one for a
    replay). The stored inputs of a job that is not created are removed again."""
    created = False
    try:
        check_document_size(job)
        created, stored = services.jobs.create(job, services.limits)
    finally:
        if not created:  # refused, over a limit, or a replay: its copies are not needed
            inputs.remove(services, written, job.id)
    return created, stored


def _replay(stored: Job, fingerprint: str, job_id: str) -> Submitted:
    """The answer to a request whose Idempotency-Key made a job before: that job, or
    Conflict (409) when the key came with another body."""
    if stored.fingerprint != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used with a different request body",
            details=[{"field": "Idempotency-Key", "message": f"belongs to job {job_id}"}],
        )
    log.info("idempotent replay", extra={"job_id": job_id})
    return Submitted(stored, created=False)


def _queue(services: Services, job: Job) -> None:
    """Hand the job to a worker: its first task, named by its id, in its model's queue
    (issue 27); when the queue is down, withdraw it (Unavailable, 503)."""
    job_id = job.id
    try:
        services.queue.enqueue(services.queue.task_name(job_id, job.model), job_id)
    except Unavailable:
        log.error("publish failed; withdrawing the job", extra={"job_id": job_id})
        try:  # the cancel gives back any budget it reserved
            services.jobs.transact(job_id, lambda job: job.cancel(utcnow()))
            services.jobs.delete(job_id)
        except Exception:
            # The sweeper queues again a queued job whose task is not waiting.
            log.exception(
                "could not withdraw job; the sweeper will queue it", extra={"job_id": job_id}
            )
        raise


def check_document_size(job: Job) -> None:
    """Refuse (400, nothing charged) a job whose document would leave too little room for
    its results: a refine chain grows every turn, and Firestore stores at most 1 MiB."""
    size = job.stored_bytes
    if size <= MAX_SUBMIT_DOCUMENT_BYTES:
        return
    if job.conversation:
        field = "parent_job_id"
        message = (
            f"the conversation is too long to continue ({size:,} bytes stored; at most "
            f"{MAX_SUBMIT_DOCUMENT_BYTES:,}): start a new job with its last image as a reference"
        )
    else:
        field = "body"
        message = (
            f"the request takes {size:,} bytes to store; at most {MAX_SUBMIT_DOCUMENT_BYTES:,}"
        )
    raise InvalidRequest(message, details=[{"field": field, "message": message}])


def _note_retired_model(services: Services, body: Any) -> None:
    """Log `retired_model_requested` when a request names a model Google has shut down,
    refused or routed alike: operators can count them (terraform/monitoring.tf) and tell
    callers. (`model_retired` is the lifecycle autopilot's one line per retirement.)"""
    model = body.get("model") if isinstance(body, dict) else None
    retired = services.catalog.retired_model(model) if isinstance(model, str) else None
    if retired is not None:
        log.warning(
            "retired_model_requested",
            extra={
                "code": "retired_model_requested",
                "model": model,
                "retirement_date": retired.shutdown_date.isoformat(),
                "replacement": retired.replacement,
                "policy": services.settings.retired_models,
            },
        )


def get_job(services: Services, job_id: str, caller: Caller, *, change: bool = False) -> Job:
    """The caller's own job (any job for an admin; see Caller.may_see). Another caller's
    job is a 404 with the same answer as a missing one, so nobody learns that it exists."""
    job = services.jobs.get(job_id)
    if job is None or not caller.may_see(job.caller, change=change):
        raise NotFound(f"no job {job_id}")
    return job


def cancel_job(services: Services, job_id: str, caller: Caller) -> Job:
    """Cancel the caller's queued job (Conflict, 409, once it runs or has ended)."""
    get_job(services, job_id, caller, change=True)  # the owner never changes
    job = services.jobs.transact(job_id, lambda stored: stored.cancel(utcnow())).after
    if job is None:  # withdrawn meanwhile
        raise NotFound(f"no job {job_id}")
    log.info("job cancelled", extra={"job_id": job_id, "caller": caller.id, "state": "cancelled"})
    return job


def models(services: Services) -> list[dict[str, Any]]:
    """The catalog as `GET /v1/models` shows it."""
    today = utcnow().date()
    out = []
    for spec in services.catalog:
        entry = spec.model_dump(mode="json", exclude={"sizes"})
        entry["aspect_ratios"] = spec.aspect_ratios
        entry["image_sizes"] = {
            size: {ratio: f"{w}x{h}" for ratio, (w, h) in table.items()}
            for size, table in spec.sizes.items()
        }
        entry["retired"] = spec.retired(today)
        # Vertex AI's retirement notice of a model it still serves (None: none announced)
        entry["deprecation"] = spec.deprecation(today)
        entry["default"] = spec.id == services.catalog.default_model
        out.append(entry)
    # Names Google shut down, with what serves them now (routed or refused by setting).
    for old in services.catalog.retired_models():
        entry = old.model_dump(mode="json")
        entry.update(retired=True, default=False, routing=services.settings.retired_models)
        out.append(entry)
    return out


def usage_caller(asker: Caller | None, caller: str | None) -> str | None:
    """Whose usage `asker` may read: their own unless an admin (Forbidden otherwise); None
    (an in-process call: tests, tools) may read anyone's, and everyone's with no caller."""
    if asker is not None and not asker.admin:
        if caller not in (None, asker.id):
            raise Forbidden("only admins may read another caller's usage")
        return asker.id
    return caller


def usage(
    services: Services, *, caller: str | None, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """Images, jobs and dollars of the jobs created in [start, end), overall, per caller and
    per model; one caller's only when `caller` is set (see usage_caller)."""
    jobs = services.jobs.between(start, end, caller)
    return {"caller": caller, **usage_report(jobs)}
