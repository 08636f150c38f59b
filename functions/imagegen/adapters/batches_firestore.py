"""The batch store (issue 29): Firestore documents `<collection>/<batch_id>` and, under each,
its item index `<collection>/<batch_id>/items/<line>` (one document an ended item).

It reads and writes `domain.batch.Batch`: documents become Batches here, at the edge.

- `create` writes the batch, its Idempotency-Key's record and the charge of its estimate
  against the caller's and the deployment's budgets in one write (the job store's own
  counters, adapters/usage_counters.py); `change` gives back what it did not spend in the
  transaction that ends it, as a job's end does.
- `end_item` creates an item's index entry and its job record (`Job.batch_item`) in one
  write, which fails if either exists: an item ends exactly once, whatever re-runs the split.

Why items are documents of their own and not counters on the batch: Firestore sustains
about one write a second on one document (https://cloud.google.com/firestore/quotas, read
2026-11-25), and a 10,000-item batch ends its items within minutes of each other. The
batch's counts are the index's aggregation (`tally`: a count per state and a sum of cost,
billed one read per 1,000 index entries), written onto the batch document by the follow
step now and then, not per item.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1 import Query
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.adapters import job_documents
from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.adapters.usage_counters import UsageCounters
from imagegen.domain.batch import Batch, BatchState, ItemState, item_key
from imagegen.domain.job import Job
from imagegen.domain.job_values import Charges, PendingEvent
from imagegen.domain.quota import Limits
from imagegen.errors import NotFound, Unavailable

ACTIVE_STATES = [BatchState.QUEUED.value, BatchState.RUNNING.value]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BatchStore:
    def __init__(
        self,
        client: firestore.Client,
        collection: str,
        jobs: str = "jobs",
        idempotency: str = "idempotency",
        counters: UsageCounters | None = None,
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._jobs = client.collection(jobs)
        self._keys = client.collection(idempotency)
        self.counters = counters or UsageCounters(client)

    def _ref(self, batch_id: str):
        return self._collection.document(batch_id)

    def _items(self, batch_id: str):
        return self._ref(batch_id).collection("items")

    # --- the batch ---------------------------------------------------------------------

    def create(self, batch: Batch, limits: Limits | None = None) -> tuple[bool, Batch]:
        """Create the batch (and its key's record) unless the key was used before:
        (created, the batch: the earlier one for a replay). With `limits` that are on, its
        estimate is charged in the same write, or RateLimited / BudgetExceeded is raised
        and nothing written."""
        ref, key_ref = self._ref(batch.id), self._key_ref(batch)
        stored = [batch]

        def creates(charges: Charges | None) -> list[tuple[Any, dict[str, Any]]]:
            if charges is not None:
                stored[0] = batch.model_copy(update={"charged": charges})
            documents = [(ref, stored[0].to_document())]
            if key_ref is not None:
                documents.append((key_ref, self._key_record(batch)))
            return documents

        first = key_ref if key_ref is not None else ref
        if limits is not None and limits.enabled:
            assert batch.created_at is not None
            cost = batch.estimated_cost_usd
            done = self.counters.charge(
                batch.caller, cost, batch.created_at, limits, first, creates
            )
            existing = done.existing
        else:
            existing = self._create_plain(first, creates(None))
        if existing is not None:
            return False, self._replayed(existing, key_ref is not None)
        return True, stored[0]

    def _create_plain(self, first: Any, documents: list[tuple[Any, dict[str, Any]]]) -> Any:
        """Create the documents in one write; the snapshot of `first` if it existed."""
        write = self._client.batch()
        for ref, document in documents:
            write.create(ref, document)
        try:
            write.commit()
        except gexc.AlreadyExists:
            return first.get()
        return None

    def _replayed(self, snap: Any, keyed: bool) -> Batch:
        """The batch an existing key (or id) stands for."""
        batch = (
            self.get(snap.to_dict()["batch_id"]) if keyed else Batch.from_document(snap.to_dict())
        )
        if batch is None:
            raise Unavailable("the earlier batch with this key is not readable yet; retry")
        return batch

    def _key_ref(self, batch: Batch):
        return self._keys.document(batch.idempotency_id) if batch.idempotency_id else None

    def _key_record(self, batch: Batch) -> dict[str, Any]:
        return {
            "batch_id": batch.id,
            "caller": batch.caller,
            "created_at": batch.created_at,
            "expire_at": batch.deadline_at or batch.created_at,
        }

    def keyed(self, idempotency_id: str) -> Batch | None:
        """The batch an Idempotency-Key's record points at, if the key was used."""
        snap = self._keys.document(idempotency_id).get()
        return self._replayed(snap, True) if snap.exists else None

    def get(self, batch_id: str) -> Batch | None:
        snap = self._ref(batch_id).get()
        return Batch.from_document(snap.to_dict()) if snap.exists else None

    def change(self, batch_id: str, edit: Callable[[Batch], Batch | None]) -> Batch:
        """Apply `edit` in a transaction; it returns the new batch, or None to write
        nothing. A terminal batch is never changed (edit is not called); the change that
        makes it terminal gives back its unspent budget in the same transaction. The
        batch returned keeps the event its change raised. NotFound if there is none."""
        ref = self._ref(batch_id)

        @firestore.transactional
        def run(txn) -> Batch:
            snap = ref.get(transaction=txn)
            if not snap.exists:
                raise NotFound(f"no batch {batch_id}")
            batch = Batch.from_document(snap.to_dict())
            if batch.terminal:
                return batch
            new = edit(batch)
            if new is None:
                return batch
            raised = new.raised
            new = new.model_copy(update={"updated_at": _now()})
            new._raised = raised
            txn.set(ref, new.to_document())
            if new.terminal and new.charged is not None:
                self.counters.refund(txn, list(new.charged.counters), new.refund_usd)
            return new

        policy = contention(gexc.Aborted, gexc.DeadlineExceeded, initial=0.05, maximum=1.0)
        return or_busy(policy, lambda: run(self._client.transaction()))

    def active(self, limit: int = 100) -> list[Batch]:
        """Batches not ended yet (queued or running), for the follow step."""
        query = self._collection.where(filter=FieldFilter("state", "in", ACTIVE_STATES))
        return [Batch.from_document(s.to_dict()) for s in query.limit(limit).stream()]

    def of_caller(self, caller: str, limit: int, before: dt.datetime | None = None) -> list[Batch]:
        """One caller's batches, newest first (the studio's list; index batches_caller_created
        in terraform/batches.tf), `limit` of them created before `before`."""
        query = self._collection.where(filter=FieldFilter("caller", "==", caller))
        if before is not None:
            query = query.where(filter=FieldFilter("created_at", "<", before))
        query = query.order_by("created_at", direction=Query.DESCENDING).limit(limit)
        return [Batch.from_document(s.to_dict()) for s in query.stream()]

    # --- the outbox of its event ---------------------------------------------------------

    def flagged(self, limit: int = 100) -> list[Batch]:
        """Batches whose outbox holds an event not yet published (or whose flag is stale)."""
        query = self._collection.where(filter=FieldFilter("events_pending", "==", True))
        return [Batch.from_document(s.to_dict()) for s in query.limit(limit).stream()]

    def mark_published(self, batch_id: str, entry: PendingEvent | None) -> None:
        """Remove a published event from the outbox (None: clear a stale flag). One write
        outside `change`, which never touches an ended batch."""
        update: dict[str, Any] = {"events_pending": False}
        if entry is not None:
            update["pending_events"] = firestore.ArrayRemove([entry.to_json()])
        with contextlib.suppress(gexc.NotFound):
            self._ref(batch_id).update(update)

    # --- the item index ----------------------------------------------------------------

    def end_item(self, batch_id: str, line: int, record: dict[str, Any], job: Job | None) -> bool:
        """Record how an item ended, once, with its job (None: it has one already, a
        fanned-out item): one write that fails if either exists, and then False (what is
        there stays)."""
        write = self._client.batch()
        write.create(
            self._items(batch_id).document(item_key(line)),
            {**record, "line": line, "ended_at": _now()},
        )
        if job is not None:
            write.create(self._jobs.document(job.id), job_documents.document(job))
        try:
            write.commit()
        except gexc.Conflict:  # AlreadyExists is one
            return False
        return True

    def ended_lines(self, batch_id: str) -> set[int]:
        """The lines whose items have ended (document ids only: no record is read)."""
        return {int(ref.id) for ref in self._items(batch_id).list_documents()}

    def items(self, batch_id: str, limit: int, after: int = 0) -> list[dict[str, Any]]:
        """Ended items in line order, `limit` of them after line `after` (paging)."""
        query = self._items(batch_id).order_by("line")
        if after:
            query = query.where(filter=FieldFilter("line", ">", after))
        return [snap.to_dict() for snap in query.limit(limit).stream()]

    def tally(self, batch_id: str) -> tuple[dict[str, int], float]:
        """The ended items by state, and their cost: aggregation queries over the index."""
        items = self._items(batch_id)
        counts: dict[str, int] = {}
        for state in ItemState:
            query = items.where(filter=FieldFilter("state", "==", state.value))
            result = query.count(alias="n").get()
            counts[state.value] = int(result[0][0].value) if result and result[0] else 0
        result = items.sum("cost_usd", alias="usd").get()
        cost = float(result[0][0].value or 0.0) if result and result[0] else 0.0
        return counts, round(cost, 6)
