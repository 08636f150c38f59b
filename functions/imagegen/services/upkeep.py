"""The safety nets: dead letters end jobs whose deliveries ran out; the sweeper re-queues
jobs nobody is working on and fails those past their deadline. Together they make sure no
job stays non-terminal for ever."""

from __future__ import annotations

import datetime as dt
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.job import Job
from imagegen.domain.jobs import MAX_DOCUMENT_BYTES, State, document_bytes, utcnow
from imagegen.errors import Unavailable
from imagegen.logs import get_logger

log = get_logger("imagegen.upkeep")


def dead_letter(services: Services, job_id: str, delivery_attempts: int | None) -> bool:
    """Fail a job whose message exhausted its deliveries, keeping its last error."""
    job = services.jobs.get(job_id)
    if _paced(job, services.settings.max_attempts):
        # handed back for pacing until Pub/Sub gave up on the message: a fresh one, not a
        # failure (the job's deadline still ends it: the sweeper fails overdue jobs)
        services.queue.publish(job_id, paced="1")
        log.warning("dead letter of a paced job; re-published", extra={"job_id": job_id})
        return False
    last = (job.error if job else None) or {}
    tries = f" after {delivery_attempts} delivery attempts" if delivery_attempts else ""
    error = {
        "code": "delivery_exhausted",
        "message": f"gave up{tries}: {last.get('message', 'no error recorded')}",
    }
    changed = services.jobs.fail(job_id, error, respect_lease=True)
    if changed:
        message = "dead-lettered job failed"
    elif job is not None and job.state == State.RUNNING:
        message = "dead letter for a job a live worker holds; left to its lease"
    else:
        message = "dead letter for a finished job"
    log.error(
        message,
        extra={"job_id": job_id, "delivery_attempts": delivery_attempts}
        | ({"state": "failed"} if changed else {}),
    )
    return changed


def _paced(job: Job | None, max_attempts: int) -> bool:
    """Queued, handed back for pacing at least once (issue 18), and with attempts left:
    Pub/Sub's delivery count then mixes pacing with failures, so the job's own attempt
    count (the claim fails it past `max_attempts`) and its deadline decide, not the
    dead letter."""
    if not job or job.state != State.QUEUED or not job.paced_at:
        return False
    return job.attempts < max_attempts


def sweep(services: Services, now: dt.datetime | None = None) -> dict[str, Any]:
    """Re-publish queued jobs idle longer than the threshold and running jobs whose lease
    ran out; fail every non-terminal job past its deadline. Safe to run concurrently: each
    change is a transaction, and a duplicate publish is ignored by the worker's claim."""
    s = services.settings
    now = now or utcnow()
    idle_since = now - dt.timedelta(seconds=s.requeue_after_seconds)
    counts = {"republished": 0, "expired": 0, "errors": 0}
    stale = services.jobs.stale(State.QUEUED, idle_since)
    stale += services.jobs.stale(State.RUNNING, now - dt.timedelta(seconds=s.lease_seconds))
    for job in stale:
        job_id = job.id
        if job.overdue(now):
            if services.jobs.fail(job_id, job.deadline_error()):
                counts["expired"] += 1
                log.error("job expired", extra={"job_id": job_id, "state": "failed"})
            continue
        if job.state == State.RUNNING and job.leased(now):
            continue
        try:
            services.queue.publish(job_id, sweep="1")
            counts["republished"] += 1
            log.warning("re-published an idle job", extra={"job_id": job_id, "state": job.state})
        except Unavailable:
            counts["errors"] += 1
            log.exception("sweep could not re-publish", extra={"job_id": job_id})
    counts.update(_results_upkeep(services, now))
    counts.update(_batches_upkeep(services, now))
    log.info("sweep done", extra=counts)
    return counts


def finish_oversized(
    services: Services, job_id: str, attempt: int, job: Job, fields: dict[str, Any]
) -> str:
    """End a job whose finished document cannot be stored (over Firestore's 1 MiB): failed,
    once, with the reason. Handing it back would re-run it (each run a billable Vertex
    call) only to fail the same way. Its output objects are deleted and named in the
    error, and the Vertex spend stays on the job (cost_usd), so budgets stay true."""
    size = document_bytes(job.document_with(fields))
    uris = [o["uri"] for o in fields.get("outputs") or []]
    for uri in uris:
        try:
            services.storage.delete(uri)
        except Exception:  # the bucket's lifecycle rule removes it later
            log.warning("could not delete an output", extra={"job_id": job_id, "uri": uri})
    error = {
        "code": "result_too_large",
        "message": (
            f"the finished job takes {size:,} bytes to store, over the job store's "
            f"{MAX_DOCUMENT_BYTES:,}-byte document limit (long model text or conversation); "
            f"its {len(uris)} image(s) were deleted"
        ),
        "deleted_outputs": uris,
    }
    kept = {
        key: fields[key]
        for key in ("served_by", "cost_usd", "images_produced", "usage")
        if key in fields
    }
    finished = services.jobs.finish(
        job_id, attempt, State.FAILED, {**kept, "outputs": [], "error": error}
    )
    log.error("job result too large to store; failed", extra={"job_id": job_id, "bytes": size})
    return State.FAILED.value if finished else "superseded"


def _results_upkeep(services: Services, now: dt.datetime) -> dict[str, int]:
    """Issue 16: re-publish job events a crash left in the outbox, queue due webhook
    retries. Failures are logged and counted; the next sweep tries again."""
    if not services.settings.events_topic:
        return {}
    from imagegen.services import job_events, webhooks

    counts: dict[str, int] = {}
    for step in (job_events.republish_pending, webhooks.republish_due):
        try:
            counts.update(step(services, now))
        except Exception:
            counts["results_upkeep_errors"] = counts.get("results_upkeep_errors", 0) + 1
            log.exception(f"sweep step {step.__name__} failed")
    return counts


def _batches_upkeep(services: Services, now: dt.datetime) -> dict[str, int]:
    """Issue 29: follow every batch not ended yet (services/batch_follow.py)."""
    if not services.settings.batches_collection:
        return {}
    # imported here, not at the top: the batch modules add ~25 ms of CPU to the import of
    # upkeep (process time, 3 runs: 24-27 ms), which dead_letter imports too
    from imagegen.services.batch_follow import follow

    try:
        return follow(services, now)
    except Exception:  # the query itself failed: the next sweep tries again
        log.exception("sweep step follow (batches) failed")
        return {"batch_errors": 1}
