"""The job document's event bookkeeping: the outbox of unpublished transitions
(`pending_events`) and the webhook delivery log (`webhook_deliveries`, with the exact
bodies to re-send in `webhook_bodies`). Each change is a small write or a transaction on
the job document, separate from the state machine in jobs_firestore."""

from __future__ import annotations

import contextlib
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
        """Remove a published event from the job's outbox: one write, no read, so the hot
        path pays little (the `events_pending` flag is cleared later by the sweeper, see
        `settle`). A deleted job: nothing to do."""
        from google.api_core.exceptions import NotFound
        from google.cloud import firestore

        with contextlib.suppress(NotFound):
            self._ref(job_id).update({"pending_events": firestore.ArrayRemove([entry])})

    def flagged(self, limit: int = 500) -> list[tuple[dict[str, Any], Any]]:
        """(job, update time) of jobs flagged `events_pending`: a boolean, not
        `pending_events != []`, because Firestore indexes array fields for array-contains
        only, so an inequality on the array would need an index of its own."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("events_pending", "==", True))
        return [(snap.to_dict(), snap.update_time) for snap in query.limit(limit).stream()]

    def settle(self, job_id: str, update_time: Any) -> bool:
        """Clear the flag of a job whose outbox was empty at `update_time`, unless it was
        written since (a new transition sets the flag again in its own write)."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        unchanged = self._client.write_option(last_update_time=update_time)
        try:
            self._ref(job_id).update({"events_pending": False}, option=unchanged)
        except (FailedPrecondition, NotFound):
            return False
        return True

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
