"""The batch store (issue 29): Firestore documents `<collection>/<batch_id>` and, under each,
its item index `<collection>/<batch_id>/items/<line>` (one document an ended item).

It reads and writes `domain.batch.Batch`: documents become Batches here, at the edge.

Why items are documents of their own and not counters on the batch: Firestore sustains
about one write a second on one document (https://cloud.google.com/firestore/quotas, read
2026-11-25), and a 10,000-item batch ends its items within minutes of each other. Each item
ends with one `create` of its own document (which fails if it exists: an item ends exactly
once, whatever re-runs the split), and the batch's counts are the index's aggregation
(`tally`: a count per state and a sum of cost, billed one read per 1,000 index entries),
written onto the batch document by the follow step now and then, not per item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.domain.batch import Batch, BatchState, ItemState, item_key
from imagegen.errors import NotFound

if TYPE_CHECKING:
    from google.cloud import firestore

ACTIVE_STATES = [BatchState.QUEUED.value, BatchState.RUNNING.value]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BatchStore:
    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    def _ref(self, batch_id: str):
        return self._collection.document(batch_id)

    def _items(self, batch_id: str):
        return self._ref(batch_id).collection("items")

    # --- the batch ---------------------------------------------------------------------

    def create(self, batch: Batch) -> Batch:
        """Create the batch (its id is new and random: an existing one is a bug)."""
        self._ref(batch.id).create(batch.to_document())
        return batch

    def get(self, batch_id: str) -> Batch | None:
        snap = self._ref(batch_id).get()
        return Batch.from_document(snap.to_dict()) if snap.exists else None

    def change(self, batch_id: str, edit: Callable[[Batch], Batch | None]) -> Batch:
        """Apply `edit` in a transaction; it returns the new batch, or None to write
        nothing. A terminal batch is never changed (edit is not called). NotFound if there
        is no such batch."""
        from google.api_core import exceptions as gexc
        from google.cloud import firestore

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
            new = new.model_copy(update={"updated_at": _now()})
            txn.set(ref, new.to_document())
            return new

        policy = contention(gexc.Aborted, gexc.DeadlineExceeded, initial=0.05, maximum=1.0)
        return or_busy(policy, lambda: run(self._client.transaction()))

    def active(self, limit: int = 100) -> list[Batch]:
        """Batches not ended yet (queued or running), for the follow step."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("state", "in", ACTIVE_STATES))
        return [Batch.from_document(s.to_dict()) for s in query.limit(limit).stream()]

    # --- the item index ----------------------------------------------------------------

    def end_item(self, batch_id: str, line: int, record: dict[str, Any]) -> bool:
        """Record how an item ended, once: False if it had ended already (the record that
        is there stays)."""
        from google.api_core.exceptions import Conflict  # AlreadyExists is one

        try:
            self._items(batch_id).document(item_key(line)).create(
                {**record, "line": line, "ended_at": _now()}
            )
        except Conflict:
            return False
        return True

    def ended_lines(self, batch_id: str) -> set[int]:
        """The lines whose items have ended (document ids only: no record is read)."""
        return {int(ref.id) for ref in self._items(batch_id).list_documents()}

    def items(self, batch_id: str, limit: int, after: int = 0) -> list[dict[str, Any]]:
        """Ended items in line order, `limit` of them after line `after` (paging)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._items(batch_id).order_by("line")
        if after:
            query = query.where(filter=FieldFilter("line", ">", after))
        return [snap.to_dict() for snap in query.limit(limit).stream()]

    def tally(self, batch_id: str) -> tuple[dict[str, int], float]:
        """The ended items by state, and their cost: aggregation queries over the index."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        items = self._items(batch_id)
        counts: dict[str, int] = {}
        for state in ItemState:
            query = items.where(filter=FieldFilter("state", "==", state.value))
            result = query.count(alias="n").get()
            counts[state.value] = int(result[0][0].value) if result and result[0] else 0
        result = items.sum("cost_usd", alias="usd").get()
        cost = float(result[0][0].value or 0.0) if result and result[0] else 0.0
        return counts, round(cost, 6)
