"""Publishing job events: right after each committed transition, and again by the sweeper
for transitions whose publish was lost (a crash or a Pub/Sub outage between the commit and
the publish). Events are published at least once with a stable id; docs/events.md."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol

from imagegen import ports
from imagegen.config import Settings
from imagegen.domain.job import Job
from imagegen.domain.job_events import cloud_event
from imagegen.domain.job_values import PendingEvent
from imagegen.logs import get_logger

log = get_logger("imagegen.events")


class Publishing(Protocol):
    """What publishing job events needs of `bootstrap.Services` (named here, so the job
    store's announcer, which bootstrap wires, does not lead back to bootstrap)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def event_topic(self) -> ports.EventTopic: ...

    @property
    def event_log(self) -> ports.EventLog: ...


def source(services: Publishing) -> str:
    return f"//imagegen/projects/{services.settings.project}/jobs"


def announce(services: Publishing, job: Job, entry: PendingEvent) -> bool:
    """Publish one transition's event and clear it from the job's outbox. Never raises:
    the transition is committed already, and the sweeper retries what is left."""
    try:
        event = cloud_event(job, entry, source(services))
        services.event_topic.publish(event)
    except Exception as exc:
        log.warning(
            "job event not published; the sweeper will retry",
            extra={"job_id": job.id, "event_id": entry.id, "error": str(exc)},
        )
        return False
    try:
        services.event_log.mark_published(job.id, entry)
    except Exception as exc:  # published but still marked: a re-publish with the same id
        log.warning(
            "job event published but not marked",
            extra={"job_id": job.id, "event_id": entry.id, "error": str(exc)},
        )
    log.info(
        "job event published",
        # `event_state`, not `state`: the job_events log metric counts the transition's
        # own line once (terraform/monitoring.tf); this line must not count it twice.
        extra={"job_id": job.id, "event_id": entry.id, "event_state": entry.state},
    )
    return True


def republish_pending(
    services: Publishing,
    now: dt.datetime,
    min_age_seconds: float = 30.0,
    budget_seconds: float = 20.0,
) -> dict[str, int]:
    """Publish outbox entries older than `min_age_seconds` (younger ones are probably being
    published by the function that made the transition), oldest first per job; clear the
    `events_pending` flag of jobs whose outbox is empty."""
    counts = {"events_republished": 0, "events_failed": 0, "events_settled": 0}
    cutoff = now - dt.timedelta(seconds=min_age_seconds)
    budget_end = time.monotonic() + budget_seconds
    done: set[str] = set()  # published this run: never twice, even if the mark failed
    while time.monotonic() < budget_end:
        progress = 0
        for job, update_time in services.event_log.flagged():
            entries = sorted(job.pending_events or [], key=lambda entry: entry.sequence)
            if not entries:
                settled = services.event_log.settle(job.id, update_time)
                counts["events_settled"] += settled
                progress += settled
                continue
            for entry in entries:
                if entry.time > cutoff or entry.id in done:
                    continue
                done.add(entry.id)
                if announce(services, job, entry):
                    counts["events_republished"] += 1
                    progress += 1
                else:
                    counts["events_failed"] += 1
        if not progress:  # what is left is young, or failing: the next sweep retries
            break
    return counts
