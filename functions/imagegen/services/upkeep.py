"""The safety nets: dead letters end jobs whose deliveries ran out; the sweeper re-queues
jobs nobody is working on and fails those past their deadline. Together they make sure no
job stays non-terminal for ever."""

from __future__ import annotations

import datetime as dt
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.job import Job, State, utcnow
from imagegen.domain.job_values import JobError
from imagegen.errors import Unavailable
from imagegen.logs import get_logger
from imagegen.services import job_events, webhooks

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
    last = job.error.message if job and job.error else "no error recorded"
    tries = f" after {delivery_attempts} delivery attempts" if delivery_attempts else ""
    error = JobError(code="delivery_exhausted", message=f"gave up{tries}: {last}")
    changed = services.jobs.transact(
        job_id, lambda job: job.fail(error, utcnow(), respect_lease=True)
    ).changed
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
            if _expire(services, job):
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


def _expire(services: Services, job: Job) -> bool:
    """Fail a job past its deadline (unless it ended meanwhile)."""
    error = job.deadline_error()
    return services.jobs.transact(job.id, lambda stored: stored.fail(error, utcnow())).changed


def _results_upkeep(services: Services, now: dt.datetime) -> dict[str, int]:
    """Issue 16: re-publish job events a crash left in the outbox, queue due webhook
    retries. Failures are logged and counted; the next sweep tries again."""
    if not services.settings.events_topic:
        return {}
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
