"""The jobs queue: one Pub/Sub message per job, carrying only the job id (Eventarc and push
bodies are capped at 512 KB; the job document holds the rest)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from imagegen.errors import Unavailable

if TYPE_CHECKING:
    from google.cloud import pubsub_v1


class JobQueue:
    def __init__(self, publisher: pubsub_v1.PublisherClient, topic_path: str) -> None:
        self._publisher = publisher
        self._topic = topic_path

    @classmethod
    def connect(cls, project: str, topic: str) -> JobQueue:
        from google.cloud import pubsub_v1

        # Submit waits for each publish before answering, so batching would only add
        # latency: send every message at once.
        batch = pubsub_v1.types.BatchSettings(max_messages=1, max_latency=0.0)
        publisher = pubsub_v1.PublisherClient(batch_settings=batch)
        return cls(publisher, publisher.topic_path(project, topic))

    def publish(self, job_id: str, *, timeout: float = 10.0, **attributes: str) -> str:
        """Publish and wait for the server's ack; Unavailable if it does not come."""
        data = json.dumps({"job_id": job_id}).encode()
        try:
            future = self._publisher.publish(self._topic, data, job_id=job_id, **attributes)
            return future.result(timeout=timeout)
        except Exception as exc:  # any publish failure means the job was not queued
            raise Unavailable(f"could not queue job {job_id}: {exc}") from exc
