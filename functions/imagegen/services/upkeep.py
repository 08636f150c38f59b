"""The safety nets: dead letters end jobs whose deliveries ran out; the sweeper re-queues
jobs nobody is working on and fails those past their deadline. Together they make sure no
job stays non-terminal for ever."""

from __future__ import annotations

import datetime as dt
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.jobs import State, utcnow
from imagegen.errors import Unavailable
from imagegen.logs import get_logger

log = get_logger("imagegen.upkeep")


def dead_letter(services: Services, job_id: str, delivery_attempts: int | None) -> bool:
    """Fail a job whose message exhausted its deliveries, keeping its last error."""
    job = services.jobs.get(job_id)
    last = (job or {}).get("error") or {}
    tries = f" after {delivery_attempts} delivery attempts" if delivery_attempts else ""
    error = {
        "code": "delivery_exhausted",
        "message": f"gave up{tries}: {last.get('message', 'no error recorded')}",
    }
    changed = services.jobs.fail(job_id, error)
    log.error(
        "dead-lettered job failed" if changed else "dead letter for a finished job",
        extra={"job_id": job_id, "delivery_attempts": delivery_attempts},
    )
    return changed


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
        job_id = job["id"]
        deadline_at = job.get("deadline_at")
        if deadline_at is not None and deadline_at < now:
            if services.jobs.fail(
                job_id,
                {
                    "code": "deadline_exceeded",
                    "message": "the job passed its overall deadline without finishing",
                },
            ):
                counts["expired"] += 1
                log.error("job expired", extra={"job_id": job_id})
            continue
        if (
            job["state"] == State.RUNNING
            and job.get("lease_expires_at")
            and job["lease_expires_at"] > now
        ):
            continue
        try:
            services.queue.publish(job_id, sweep="1")
            counts["republished"] += 1
            log.warning("re-published an idle job", extra={"job_id": job_id, "state": job["state"]})
        except Unavailable:
            counts["errors"] += 1
            log.exception("sweep could not re-publish", extra={"job_id": job_id})
    counts.update(_results_upkeep(services, now))
    log.info("sweep done", extra=counts)
    return counts


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
