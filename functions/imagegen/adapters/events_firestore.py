"""The job document's event bookkeeping: the outbox of unpublished transitions
(`pending_events`) and the webhook delivery log (`webhook_deliveries`, with the exact
bodies to re-send in `webhook_bodies`). Each change is a small write or a transaction on
the job document, separate from the state machine in jobs_firestore."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from imagegen.domain.webhooks import Delivery, open_attempt

if TYPE_CHECKING:
    from google.cloud import firestore


class EventLog:
    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    @classmethod
    def connect(cls, project: str, database: str, collection: str) -> EventLog:
        from google.cloud import firestore

        return cls(firestore.Client(project=project, database=database), collection)

    def _ref(self, job_id: str):
        return self._collection.document(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        snap = self._ref(job_id).get()
        return snap.to_dict() if snap.exists else None

    # --- outbox ----------------------------------------------------------------------------

    def mark_published(self, job_id: str, entry: dict[str, Any]) -> None:
        """Remove a published event from the job's outbox, and clear `events_pending` when
        it was the last (one transaction: a transition committing meanwhile adds its own
        entry and sets the flag again). A deleted job: nothing to do."""
        from google.cloud import firestore

        ref = self._ref(job_id)

        @firestore.transactional
        def run(txn):
            snap = ref.get(transaction=txn)
            if not snap.exists:
                return
            pending = [
                e for e in snap.to_dict().get("pending_events") or [] if e.get("id") != entry["id"]
            ]
            txn.update(ref, {"pending_events": pending, "events_pending": bool(pending)})

        run(self._client.transaction(max_attempts=5))

    def with_pending_events(self, limit: int = 200) -> list[dict[str, Any]]:
        """Jobs whose outbox is not empty (a crash between commit and publish). A boolean
        flag, not `pending_events != []`: Firestore indexes array fields for array-contains
        only, so an inequality on the array would need an extra index."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("events_pending", "==", True))
        return [snap.to_dict() for snap in query.limit(limit).stream()]

    # --- webhook deliveries ----------------------------------------------------------------

    def due_webhooks(self, now: dt.datetime, limit: int = 200) -> list[dict[str, Any]]:
        """Jobs with a webhook delivery whose next attempt is due."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("webhook_retry_at", "<=", now))
            .order_by("webhook_retry_at")
            .limit(limit)
        )
        return [snap.to_dict() for snap in query.stream()]

    def update_delivery(self, job_id: str, event_id: str, change) -> Any:
        """Run `change(delivery | None, job, now) -> (delivery | None, body | None, result)`
        in a transaction on the job; a returned delivery is written back with the job's
        earliest pending retry time (`webhook_retry_at`, what the sweeper queries)."""
        from google.cloud import firestore

        ref = self._ref(job_id)

        @firestore.transactional
        def run(txn):
            snap = ref.get(transaction=txn)
            if not snap.exists:
                return change(None, None, dt.datetime.now(dt.UTC))[2]
            job = snap.to_dict()
            now = dt.datetime.now(dt.UTC)
            deliveries = dict(job.get("webhook_deliveries") or {})
            current = deliveries.get(event_id)
            updated, body, result = change(
                Delivery.from_json(current) if current else None, job, now
            )
            if updated is not None:
                deliveries[event_id] = updated.to_json()
                fields: dict[str, Any] = {
                    "webhook_deliveries": deliveries,
                    "webhook_retry_at": _earliest(deliveries),
                }
                if body is not None:
                    fields[f"webhook_bodies.`{event_id}`"] = body
                txn.update(ref, fields)
            return result

        return run(self._client.transaction(max_attempts=5))

    def begin_attempt(self, job_id: str, event: tuple[str, str, str], lease: float):
        """Claim the next attempt of one delivery (see domain.webhooks.open_attempt)."""
        return self.update_delivery(
            job_id,
            event[0],
            lambda delivery, job, now: open_attempt(delivery, job, event, now, lease),
        )


def _earliest(deliveries: dict[str, Any]) -> dt.datetime | None:
    due = [
        d.get("next_attempt_at")
        for d in deliveries.values()
        if d.get("status") == "pending" and d.get("next_attempt_at") is not None
    ]
    return min(due) if due else None
