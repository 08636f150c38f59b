"""Event bookkeeping in Firestore.

- The outbox of unpublished transitions lives on the job (`pending_events`, written in the
  transition's own write by jobs_firestore); this removes published entries and lets the
  sweeper find what is left. Job documents are read through the job store's own mapping
  (adapters/job_documents.py).
- Webhook deliveries live in their own documents, `<webhooks collection>/<event id>`
  (the record, the exact body to re-send, the job id), so claiming and recording attempts
  never lock the job document the worker's transitions need (seen on the emulator:
  duplicated deliveries holding the job's lock made the worker's writes time out). After
  each attempt the record is mirrored onto the job (`webhook_deliveries.<event id>`, a
  plain write) so GET /v1/jobs/{id} shows every attempt."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions
from google.api_core.exceptions import FailedPrecondition, NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from imagegen.adapters import job_documents
from imagegen.adapters.firestore_retry import contention
from imagegen.domain.job import Job
from imagegen.domain.job_values import PendingEvent
from imagegen.domain.webhooks import Delivery, open_attempt

if TYPE_CHECKING:
    from google.cloud import firestore


class EventLog:
    def __init__(
        self, client: firestore.Client, collection: str, webhooks: str = "webhook_deliveries"
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._webhooks = client.collection(webhooks)

    def _ref(self, job_id: str):
        return self._collection.document(job_id)

    def get(self, job_id: str) -> Job | None:
        snap = self._ref(job_id).get()
        return job_documents.read(snap.to_dict()) if snap.exists else None

    # --- outbox ----------------------------------------------------------------------------

    def mark_published(self, job_id: str, entry: PendingEvent) -> None:
        """Remove a published event from the job's outbox: one write, no read, so the hot
        path pays little (the `events_pending` flag is cleared later by the sweeper, see
        `settle`). A deleted job: nothing to do."""

        stored = job_documents.entry(entry)
        remove = {job_documents.OUTBOX: firestore.ArrayRemove([stored])}
        with contextlib.suppress(NotFound):
            _contended(lambda: self._ref(job_id).update(remove))

    def flagged(self, limit: int = 500) -> list[tuple[Job, Any]]:
        """(job, update time) of jobs flagged `events_pending`: a boolean, not
        `pending_events != []`, because Firestore indexes array fields for array-contains
        only, so an inequality on the array would need an index of its own."""

        query = self._collection.where(filter=FieldFilter("events_pending", "==", True))
        return [
            (job_documents.read(snap.to_dict()), snap.update_time)
            for snap in query.limit(limit).stream()
        ]

    def settle(self, job_id: str, update_time: Any) -> bool:
        """Clear the flag of a job whose outbox was empty at `update_time`, unless it was
        written since (a new transition sets the flag again in its own write)."""

        unchanged = self._client.write_option(last_update_time=update_time)
        try:
            self._ref(job_id).update({"events_pending": False}, option=unchanged)
        except (FailedPrecondition, NotFound):
            return False
        return True

    # --- webhook deliveries ----------------------------------------------------------------

    def due_webhooks(self, now: dt.datetime, limit: int = 200) -> list[dict[str, Any]]:
        """Delivery documents whose next attempt is due (pending ones only carry a time)."""

        query = (
            self._webhooks.where(filter=FieldFilter("next_attempt_at", "<=", now))
            .order_by("next_attempt_at")
            .limit(limit)
        )
        return [snap.to_dict() for snap in query.stream()]

    def begin_attempt(
        self, job_id: str, event: tuple[str, str, str], lease: float
    ) -> tuple[str, str | None]:
        """Claim the next attempt of one delivery, in a transaction on its own document:
        ("attempt", the body to send: the one stored with the first attempt, byte for
        byte) or (the reason to skip, None)."""

        event_id, event_type, body = event
        ref = self._webhooks.document(event_id)

        @firestore.transactional
        def run(txn):
            snap = ref.get(transaction=txn)
            doc = snap.to_dict() if snap.exists else None
            current = Delivery.from_json(doc) if doc else None
            now = dt.datetime.now(dt.UTC)
            claimed, outcome = open_attempt(current, event_id, event_type, now, lease)
            if claimed is None:
                return outcome, None
            fields = {**claimed.to_json(), "job_id": job_id}
            if doc is None:
                txn.create(ref, {**fields, "body": body})
                return outcome, body
            txn.update(ref, fields)
            return outcome, doc.get("body") or body

        return _contended(lambda: run(self._client.transaction(max_attempts=3)))

    def finish_attempt(self, job_id: str, event_id: str, close) -> Delivery | None:
        """Record an attempt's outcome (`close(delivery, now) -> Delivery | None`) on the
        delivery document, then mirror it onto the job."""

        ref = self._webhooks.document(event_id)

        @firestore.transactional
        def run(txn):
            snap = ref.get(transaction=txn)
            if not snap.exists:
                return None
            updated = close(Delivery.from_json(snap.to_dict()), dt.datetime.now(dt.UTC))
            if updated is not None:
                txn.update(ref, updated.to_json())
            return updated

        closed = _contended(lambda: run(self._client.transaction(max_attempts=3)))
        if closed is not None:
            self.mirror(job_id, closed)
        return closed

    def mirror(self, job_id: str, delivery: Delivery) -> None:
        """Show the delivery on the job (one plain write; a deleted job: nothing to do)."""

        path = FieldPath("webhook_deliveries", delivery.event_id).to_api_repr()
        with contextlib.suppress(NotFound):
            _contended(lambda: self._ref(job_id).update({path: delivery.to_json()}))


def _contended(call):
    """Retry a write or transaction that lost to another on the same document, with
    jittered backoff for up to 20 s: an attempt made but not recorded would be sent again
    later, and an event published but not marked would be published again. Conflict covers
    Aborted (lock timeouts) and AlreadyExists (a racing create)."""

    lost = (exceptions.Conflict, exceptions.ServiceUnavailable)
    return contention(*lost, initial=0.02, maximum=1.0)(call)()
