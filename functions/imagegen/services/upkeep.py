"""The safety nets: the sweeper queues again the jobs nobody is working on and fails those
past their deadline; dead letters (of the Pub/Sub path before issue 27) end jobs whose
deliveries ran out. Together they make sure no job stays non-terminal for ever.

A job waits for its turn as a Cloud Tasks task (issue 27), behind a backlog that may take
longer than the sweeper's idle threshold: the sweeper asks whether the job's task still
waits (`JobQueue.waiting`) before it makes another, so a backlog is not delivered twice;
a job parked until a quota resets is left alone until then."""

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
        # handed back for pacing until Pub/Sub gave up on the message: not a failure; the
        # sweeper gives the queued job a task (and its deadline still ends it)
        log.warning("dead letter of a paced job; left to the sweeper", extra={"job_id": job_id})
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


# Pages of stale jobs one sweep reads per state: jobs waiting in a backlog or parked are
# skipped, and must not hide the ones behind them for ever.
SWEEP_PAGES = 4


def sweep(services: Services, now: dt.datetime | None = None) -> dict[str, Any]:
    """Queue again the queued jobs idle longer than the threshold whose task no longer
    waits, and the running jobs whose lease ran out; fail every non-terminal job past its
    deadline. Safe to run concurrently: each change is a transaction, and a duplicate
    task is ignored by the worker's claim."""
    s = services.settings
    now = now or utcnow()
    idle_since = now - dt.timedelta(seconds=s.requeue_after_seconds)
    counts = {"republished": 0, "waiting": 0, "expired": 0, "errors": 0}
    stale = _stale(services, State.QUEUED, idle_since)
    stale += _stale(services, State.RUNNING, now - dt.timedelta(seconds=s.lease_seconds))
    for job in stale:
        if job.overdue(now):
            if _expire(services, job):
                counts["expired"] += 1
                log.error("job expired", extra={"job_id": job.id, "state": "failed"})
            continue
        if job.state == State.RUNNING and job.leased(now):
            continue
        try:
            counts[_queue_again(services, job, now)] += 1
        except Unavailable:
            counts["errors"] += 1
            log.exception("sweep could not queue a job again", extra={"job_id": job.id})
    counts.update(_results_upkeep(services, now))
    counts.update(_batches_upkeep(services, now))
    log.info("sweep done", extra=counts)
    return counts


def _stale(services: Services, state: State, before: dt.datetime) -> list[Job]:
    """Up to SWEEP_PAGES pages of jobs in `state` untouched since `before`, oldest first."""
    found: list[Job] = []
    for _ in range(SWEEP_PAGES):
        page = services.jobs.stale(state, before)
        found += page
        if len(page) < 500 or page[-1].updated_at is None:
            break
        before = page[-1].updated_at
    return found


def _queue_again(services: Services, job: Job, now: dt.datetime) -> str:
    """Give the job a fresh task unless its task still waits (a backlog) or it is parked
    until later: "republished", or "waiting"."""
    if job.state == State.QUEUED:
        if job.parked_until is not None and job.parked_until > now:
            return "waiting"
        task = job.task or services.queue.task_name(job.id, job.model)
        if services.queue.waiting(task):
            return "waiting"
    task = services.queue.task_name(job.id, job.model, fresh=True)
    services.queue.enqueue(task, job.id)
    services.jobs.transact(job.id, lambda stored: stored.queued_again(task, utcnow()))
    log.warning("queued an idle job again", extra={"job_id": job.id, "state": job.state})
    return "republished"


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
