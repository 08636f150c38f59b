"""Publishing job events: right after each committed transition, and again by the sweeper
for transitions whose publish was lost (a crash or a Pub/Sub outage between the commit and
the publish). Events are published at least once with a stable id; docs/events.md."""

from __future__ import annotations

import datetime as dt
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.job_events import cloud_event
from imagegen.logs import get_logger

log = get_logger("imagegen.events")


def source(services: Services) -> str:
    return f"//imagegen/projects/{services.settings.project}/jobs"


def announce(services: Services, job: dict[str, Any], entry: dict[str, Any]) -> bool:
    """Publish one transition's event and clear it from the job's outbox. Never raises:
    the transition is committed already, and the sweeper retries what is left."""
    try:
        event = cloud_event(job, entry, source(services))
        services.event_topic.publish(event)
    except Exception as exc:
        log.warning(
            "job event not published; the sweeper will retry",
            extra={"job_id": job.get("id"), "event_id": entry.get("id"), "error": str(exc)},
        )
        return False
    try:
        services.event_log.mark_published(job["id"], entry)
    except Exception as exc:  # published but still marked: a re-publish with the same id
        log.warning(
            "job event published but not marked",
            extra={"job_id": job["id"], "event_id": entry["id"], "error": str(exc)},
        )
    log.info(
        "job event published",
        extra={"job_id": job["id"], "event_id": entry["id"], "state": entry["state"]},
    )
    return True


def republish_pending(
    services: Services, now: dt.datetime, min_age_seconds: float = 30.0
) -> dict[str, int]:
    """Publish outbox entries older than `min_age_seconds` (younger ones are probably being
    published by the function that made the transition), oldest first per job."""
    counts = {"events_republished": 0, "events_failed": 0}
    cutoff = now - dt.timedelta(seconds=min_age_seconds)
    for job in services.event_log.with_pending_events():
        entries = sorted(job.get("pending_events") or [], key=_sequence)
        for entry in entries:
            if entry["time"] > cutoff:
                continue
            if announce(services, job, entry):
                counts["events_republished"] += 1
            else:
                counts["events_failed"] += 1
    return counts


def _sequence(entry: dict[str, Any]) -> int:
    return int(str(entry["id"]).rsplit("-", 1)[-1])
