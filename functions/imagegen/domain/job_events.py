"""Job events: what a state change looks like on the `job-events` topic. Pure.

Every committed state change of a job appends one *pending event* to the job document in
the same Firestore write (a transactional outbox kept on the job itself: `Job`'s
transitions raise it, domain/job.py). After the commit
the event is published as a structured-mode CloudEvent (JSON) and its entry removed; the
sweeper re-publishes entries a crash left behind. The event id is fixed when the
transition commits (`<job id>-<sequence>`), so a re-publish carries the same id and
consumers dedupe on it. See docs/events.md.
"""

from __future__ import annotations

from typing import Any

from imagegen.domain.job import Job, State
from imagegen.domain.job_values import PendingEvent
from imagegen.domain.job_view import JobView, iso

SPEC_VERSION = "1.0"
TYPE_PREFIX = "com.imagegen.job.v1."
CONTENT_TYPE = "application/cloudevents+json"
TERMINAL_EVENTS = ("succeeded", "blocked", "failed", "cancelled")
ALL_EVENTS = tuple(state.value for state in State)


def event_type(state: str) -> str:
    return f"{TYPE_PREFIX}{state}"


def event_data(job: Job) -> dict[str, Any]:
    """The public view of the job (JobView), without inline reference image bytes (an event
    stays small: Pub/Sub push bodies and webhooks carry it; the bytes are on the job)."""
    view = JobView.of(job).to_json()
    view.pop("webhook_deliveries", None)  # bookkeeping of earlier events, not this one
    request = dict(view.get("request") or {})
    if request.get("reference_images"):
        request["reference_images"] = [
            {k: v for k, v in ref.items() if k != "data"}
            | ({"inline": True} if ref.get("data") else {})
            for ref in request["reference_images"]
        ]
        view["request"] = request
    return view


def cloud_event(job: Job, entry: PendingEvent, source: str) -> dict[str, Any]:
    """One structured-mode CloudEvent (spec 1.0) for one outbox entry."""
    return {
        "specversion": SPEC_VERSION,
        "id": entry.id,
        "source": source,
        "type": event_type(entry.state),
        "subject": job.id,
        "time": iso(entry.time),
        "datacontenttype": "application/json",
        "data": event_data(job),
    }


def wanted_events(webhook: dict[str, Any] | None) -> tuple[str, ...]:
    """The states a job's webhook asked for (default: the terminal ones)."""
    if not webhook:
        return ()
    return tuple(webhook.get("events") or TERMINAL_EVENTS)


def state_of_type(type_: str) -> str | None:
    return type_.removeprefix(TYPE_PREFIX) if type_.startswith(TYPE_PREFIX) else None
