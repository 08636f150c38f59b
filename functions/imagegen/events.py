"""Reading the CloudEvents the functions receive. Pub/Sub messages arrive either as
Eventarc events or as raw push bodies that functions-framework converted; both carry
`data.message` with base64 `data` and `attributes`."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from imagegen.logs import get_logger

T = TypeVar("T")
log = get_logger("imagegen.main")  # the entry points' logger: these lines are theirs

PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
# The ids submit makes (and the HTTP API routes); anything else cannot name a job, and a
# `/` would even make a Firestore path of it.
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class BadEvent(ValueError):
    """An event no retry can make sense of: acknowledged and logged, never retried."""


@dataclass(frozen=True)
class JobMessage:
    job_id: str
    delivery_attempt: int | None


def decoded(event: Any, decode: Callable[[str, Any], T], what: str) -> T | None:
    """`decode(type, data)` of a CloudEvent, or None for an event no retry can make sense of
    (BadEvent): logged and acknowledged, never a 5xx that Pub/Sub would redeliver for days."""
    try:
        return decode(event["type"], event.data)
    except BadEvent as exc:
        log.error(f"unusable {what} acknowledged: {exc}", extra={"event_id": event["id"]})
        return None


def job_message(event_type: str, data: Any) -> JobMessage:
    if event_type != PUBSUB_EVENT:
        raise BadEvent(f"expected {PUBSUB_EVENT}, got {event_type}")
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise BadEvent("the event has no Pub/Sub message")
    message = data["message"]
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise BadEvent("the message's attributes are not a map")
    job_id = attributes.get("job_id")
    if not job_id and message.get("data"):
        try:
            job_id = json.loads(base64.b64decode(message["data"])).get("job_id")
        except (ValueError, AttributeError, TypeError) as exc:
            raise BadEvent(f"message data is not a job message: {exc}") from None
    if not job_id or not isinstance(job_id, str):
        raise BadEvent("the message names no job_id")
    if not JOB_ID.fullmatch(job_id):
        raise BadEvent(f"the message names no valid job id: {job_id[:140]!r}")
    # Push bodies converted by functions-framework keep only data and attributes; a
    # dead-lettered message carries its source's delivery count as an attribute.
    attempt = (
        data.get("deliveryAttempt")
        or message.get("deliveryAttempt")
        or attributes.get("CloudPubSubDeadLetterSourceDeliveryCount")
    )
    return JobMessage(job_id, _count(attempt))


def _count(value: Any) -> int | None:
    """A delivery count as sent, or None when it is missing or not a number (only logs
    and error messages use it)."""
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def decode_event(event_type: str, data: Any) -> dict[str, Any]:
    """The job CloudEvent inside a Pub/Sub push (structured mode: the message data is the
    event's JSON); BadEvent when it is not one."""
    if event_type != PUBSUB_EVENT:
        raise BadEvent(f"expected {PUBSUB_EVENT}, got {event_type}")
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or not message.get("data"):
        raise BadEvent("the event has no Pub/Sub message data")
    try:
        event = json.loads(base64.b64decode(message["data"]))
    except ValueError as exc:
        raise BadEvent(f"message data is not JSON: {exc}") from None
    if not isinstance(event, dict) or not {"id", "type", "subject"} <= event.keys():
        raise BadEvent("message data is not a job CloudEvent")
    return event
