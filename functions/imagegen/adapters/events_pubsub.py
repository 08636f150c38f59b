"""Publishing job events (structured-mode CloudEvents) and webhook retries to Pub/Sub.

One Publish RPC per event, waiting for the server's id (the client's batching only adds latency):
a transition's outbox entry is removed only after the event is stored by Pub/Sub.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from google.cloud import pubsub_v1
from google.pubsub_v1.types import PubsubMessage

from imagegen.domain.job_events import CONTENT_TYPE
from imagegen.errors import Unavailable

if TYPE_CHECKING:
    from google.cloud import pubsub_v1


class EventTopic:
    def __init__(self, publisher: pubsub_v1.PublisherClient, topic_path: str) -> None:
        self._publisher = publisher
        self.topic = topic_path

    @classmethod
    def connect(cls, project: str, topic: str) -> EventTopic:

        publisher = pubsub_v1.PublisherClient()
        return cls(publisher, publisher.topic_path(project, topic))

    def publish(self, event: dict[str, Any], *, timeout: float = 10.0) -> str:
        """Publish one CloudEvent as JSON. The attributes let subscriptions filter
        (`attributes.state = "succeeded"`) and carry `job_id`, which the push conversion in
        functions-framework needs."""

        message = PubsubMessage(
            data=json.dumps(event, separators=(",", ":"), default=str).encode(),
            attributes={
                "content-type": CONTENT_TYPE,
                "job_id": str(event["subject"]),
                "event_id": str(event["id"]),
                "type": str(event["type"]),
            },
        )
        try:
            response = self._publisher.api.publish(
                topic=self.topic, messages=[message], timeout=timeout
            )
            return response.message_ids[0]
        except Exception as exc:  # the caller keeps the event for a later try
            raise Unavailable(f"could not publish event {event['id']}: {exc}") from exc
