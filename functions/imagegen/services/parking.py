"""Parking a job until a spent Vertex AI quota resets (issue 27): the job stays queued and a
task of its model's queue, scheduled at the reset, delivers it then. Nothing delivers it in
between — no redelivery every few minutes, no instance waiting — and the queue's rate
spreads the parked jobs out when they all come due at once.

The job records the task (`Job.park`) before the task is made: should Cloud Tasks then
refuse it (Unavailable), the delivery is answered 503, the job's current task is tried
again and parks the job anew; the sweeper leaves a parked job alone until its time and
then looks for its task (services/upkeep.py), so a lost one is made again.
"""

from __future__ import annotations

import datetime as dt

from imagegen.bootstrap import Services
from imagegen.domain.job import Job, utcnow
from imagegen.domain.job_values import JobError
from imagegen.domain.quota_hints import iso
from imagegen.logs import get_logger

log = get_logger("imagegen.generate")

PARKED = "parked"


def park(
    services: Services,
    job: Job,
    until: dt.datetime,
    *,
    reason: str,
    attempt: int | None = None,
    error: JobError | None = None,
) -> str:
    """Park `job` until `until`: a queued job before its claim (`attempt` None), or the
    running `attempt` that met the spent quota (back to queued with `error`). Returns
    "parked", or "superseded" when the attempt lost the job; Unavailable when Cloud Tasks
    does not take the task."""
    task = services.queue.task_name(job.id, job.model, fresh=True)
    done = services.jobs.transact(
        job.id, lambda stored: stored.park(until, task, utcnow(), attempt, error)
    )
    if not done.changed:
        return "superseded"
    services.queue.enqueue(task, job.id, not_before=until)
    log.warning(
        "job parked until its quota resets",
        extra={"job_id": job.id, "parked_until": iso(until), "reason": reason, "task": task},
    )
    return PARKED
