"""The usage counters behind rate limits and daily budgets (`usage/rate|…`, `usage/spend|…`),
charged in the same write that creates what is charged: a job (adapters/jobs_firestore.py)
or a batch (adapters/batches_firestore.py, issue 29), and given back in part when it ends.

Optimistic, not a transaction: read the counters, check them (domain/quota.py), then commit
one batch that creates the documents and rewrites each counter on the precondition that it
has not changed since it was read. Hot counters are read by every submission, and a
transaction's read locks made concurrent submissions wait on each other until they timed out
(seen on the emulator: 10 at once, 9 aborted after 25 s); a failed precondition costs one
quick retry instead. A counter in one shard is read and rewritten exactly; one in many
shards (issue 18) is summed with an aggregation query and charged with an increment on a
random shard (domain/quota.py: shard_count, the overshoot bound).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.domain.job_values import Charges
from imagegen.domain.quota import (
    Limits,
    charged,
    check,
    counter_ids,
    limited,
    shard_count,
    shard_ids,
)

# The documents to create once the charge is known: charges -> [(reference, document)]
Creates = Callable[[Charges], list[tuple[Any, dict[str, Any]]]]


@dataclass(frozen=True)
class Charge:
    """What `charge` did: the charges and every document it wrote, or (nothing written)
    the snapshot of `first`, which existed already (an idempotent replay)."""

    charges: Charges | None = None
    written: tuple[Any, ...] = ()
    existing: Any = None


class UsageCounters:
    def __init__(self, client: firestore.Client, usage: str = "usage", shards: int = 1) -> None:
        self._client = client
        self._usage = client.collection(usage)
        self.shards = shards  # issue 18: IMAGEGEN_COUNTER_SHARDS

    def charge(
        self,
        caller: str,
        cost: float,
        now: dt.datetime,
        limits: Limits,
        first: Any,
        creates: Creates,
    ) -> Charge:
        """Create `creates(charges)` and charge `caller`'s counters `cost` (and one
        request), unless `first` exists (then nothing is written: `Charge.existing`).
        RateLimited / BudgetExceeded when a limit would be passed; a counter changed since
        it was read, or a racing create, is read again (20 s in all, then Unavailable)."""
        shards = {
            key: shard_ids(doc_id, shard_count(key, limits, self.shards))
            for key, doc_id in counter_ids(caller, now).items()
            if limited(key, limits)
        }
        lost = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Aborted, gexc.Conflict)
        policy = contention(*lost, initial=0.02, maximum=0.5, transactions=False)
        return or_busy(
            policy, lambda: self._charge_once(caller, cost, now, limits, shards, first, creates)
        )

    def _charge_once(
        self,
        caller: str,
        cost: float,
        now: dt.datetime,
        limits: Limits,
        shards: dict[str, list[str]],
        first: Any,
        creates: Creates,
    ) -> Charge:
        single = {key: names[0] for key, names in shards.items() if len(names) == 1}
        every = [first, *(self._usage.document(name) for name in single.values())]
        snaps = {snap.reference.path: snap for snap in self._client.get_all(every)}
        if snaps[first.path].exists:
            return Charge(existing=snaps[first.path])
        totals = {key: self._counter(snaps, name) for key, name in single.items()}
        for key, names in shards.items():
            if key not in single:
                totals[key] = self._sharded_total(names[0], key)
        check(limits, totals, cost, now)
        chosen = {key: random.choice(names) for key, names in shards.items()}
        days = [chosen[k] for k in ("caller_day", "global_day") if k in chosen]
        charges = Charges(usd=cost, counters=days)
        refs = {key: self._usage.document(doc_id) for key, doc_id in chosen.items()}
        batch = self._client.batch()
        created = creates(charges)
        for ref, document in created:
            batch.create(ref, document)
        for key in shards.keys() - single.keys():
            increment = self._increment(key, shards[key][0], cost, caller, now)
            batch.set(refs[key], increment, merge=True)
        counters = {key: self._counter(snaps, single[key]) for key in single}
        for key, counter in charged(counters, cost, caller, now).items():
            period = dt.timedelta(days=1 if key.endswith("minute") else 400)
            data = {**counter, "expire_at": now + period}
            snap = snaps[refs[key].path]
            if snap.exists:
                unchanged = self._client.write_option(last_update_time=snap.update_time)
                batch.update(refs[key], data, option=unchanged)
            else:
                batch.create(refs[key], data)
        batch.commit()
        return Charge(charges=charges, written=(*(ref for ref, _ in created), *refs.values()))

    def _counter(self, snaps: dict[str, Any], doc_id: str) -> dict[str, Any]:
        snap = snaps[self._usage.document(doc_id).path]
        return snap.to_dict() if snap.exists else {}

    def _sharded_total(self, counter_id: str, key: str) -> dict[str, Any]:
        """A sharded counter's value: one aggregation query over its shards (billed one
        read per 1,000 index entries, so the shard count costs nothing at read time)."""
        name = "requests" if key.endswith("minute") else "reserved_usd"
        query = self._usage.where(filter=FieldFilter("counter", "==", counter_id))
        result = query.sum(name, alias="total").get()
        value = result[0][0].value if result and result[0] else 0
        return {name: value or 0}

    def _increment(
        self, key: str, counter_id: str, cost: float, caller: str, now: dt.datetime
    ) -> dict[str, Any]:
        """The merge-write charging one shard: server-side increments, no read needed."""
        if key.endswith("minute"):
            return {
                "counter": counter_id,
                "requests": firestore.Increment(1),
                "expire_at": now + dt.timedelta(days=1),
            }
        return {
            "counter": counter_id,
            "reserved_usd": firestore.Increment(cost),
            "jobs": firestore.Increment(1),
            "caller": caller if key == "caller_day" else "*",
            "day": now.astimezone(dt.UTC).strftime("%Y-%m-%d"),
            "expire_at": now + dt.timedelta(days=400),
        }

    def refund(self, txn: Any, counters: list[str], usd: float) -> list[Any]:
        """Give `usd` back to the day counters charged, in `txn` (the transaction that
        ends what was charged); the references written."""
        if usd <= 0:
            return []
        refs = [self._usage.document(doc_id) for doc_id in counters]
        for ref in refs:
            txn.update(
                ref,
                {
                    "reserved_usd": firestore.Increment(-usd),
                    "refunded_usd": firestore.Increment(usd),
                },
            )
        return refs

    def references(self, counters: list[str]) -> list[Any]:
        return [self._usage.document(doc_id) for doc_id in counters]
