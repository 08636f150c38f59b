"""The job store: Firestore documents `<collection>/<job_id>`, the unit of work of a job.

It hands out `domain.job.Job` aggregates and takes them back: `create` writes a new job (and
charges its budget), `transact(job_id, change)` runs `change(job) -> new job | None` (one
of the Job's transitions) in a Firestore transaction and writes what changed. After the
commit it publishes the job event the change raised, and a change that makes the job
terminal gives back the unspent budget in the same transaction. Documents are mapped in
adapters/job_documents.py, the one mapping the event log uses too.

Fencing is the Job's (`Job.holds(attempt)`): if a lease expired and another delivery
reclaimed the job (attempt + 1), the stale worker's change returns None and nothing is
written, so a job never ends twice.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core.exceptions import Aborted, AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1 import Query
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.adapters import job_documents
from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.domain.job import Job, State
from imagegen.domain.job_values import Charges, PendingEvent
from imagegen.domain.quota import (
    Limits,
    charged,
    check,
    counter_ids,
    limited,
    shard_count,
    shard_ids,
)
from imagegen.errors import NotFound, Unavailable
from imagegen.ports import Transacted

# Called after a committed change with (the Job after it, the outbox entry it raised).
Announce = Callable[[Job, PendingEvent], Any]


class JobStore:
    # Publishes a committed change's event (bootstrap: services.job_events.announce;
    # issue 16: job events). None: events stay in the outbox for the sweeper.
    announcer: Announce | None = None
    # issue 18: shards per usage counter (IMAGEGEN_COUNTER_SHARDS; bootstrap sets it)
    counter_shards: int = 1
    # issue 18, benchmark mode: called with each written document's path (write counting)
    on_write: Any = None

    def __init__(
        self,
        client: firestore.Client,
        collection: str,
        usage: str = "usage",
        idempotency: str = "idempotency",
    ) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._usage = client.collection(usage)
        self._keys = client.collection(idempotency)

    def _ref(self, job_id: str):
        return self._collection.document(job_id)

    def _key_ref(self, job: Job | None):
        """The idempotency record of a keyed job (None without a key). Its id is derived
        from (caller, key); the job's own id stays random, so nobody can compute it."""
        key = job.idempotency_id if job is not None else None
        return self._keys.document(key) if key else None

    @staticmethod
    def _job(snap) -> Job | None:
        return job_documents.read(snap.to_dict()) if snap.exists else None

    def _existing(self, key_snap) -> Job:
        """The job an idempotency record points at (the replay's answer)."""
        job = self.get(key_snap.to_dict()["job_id"])
        if job is None:  # withdrawn between the two reads: the same as a busy store
            raise Unavailable("the earlier request with this key is being withdrawn; retry")
        return job

    def _key_record(self, job: Job) -> dict[str, Any]:
        return {
            "job_id": job.id,
            "caller": job.caller,
            "created_at": job.created_at,
            "expire_at": job.deadline_at or job.created_at,
        }

    # --- reads -----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        return self._job(self._ref(job_id).get())

    def require(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def stale(self, state: State, updated_before: dt.datetime, limit: int = 500) -> list[Job]:
        """Jobs in `state` not touched since `updated_before` (needs the (state, updated_at)
        composite index declared in terraform/firestore.tf)."""

        query = (
            self._collection.where(filter=FieldFilter("state", "==", state.value))
            .where(filter=FieldFilter("updated_at", "<", updated_before))
            .order_by("updated_at")
            .limit(limit)
        )
        return [job_documents.read(snap.to_dict()) for snap in query.stream()]

    # --- writes ----------------------------------------------------------------------------

    def create(self, job: Job, limits: Limits | None = None) -> tuple[bool, Job]:
        """Create the job unless its key (or id) exists: (created, the stored job). With
        `limits` that are on, its caller's counters are charged in the same write, or
        RateLimited / BudgetExceeded is raised and nothing written; an existing job (an
        idempotent replay) is returned uncharged. Its first event is published after."""
        if limits is not None and limits.enabled:
            created, stored = self._create_charged(job, limits)
        else:
            created, stored = self._create(job)
        if created:
            self._announce(stored)
        return created, stored

    def _create(self, job: Job) -> tuple[bool, Job]:

        key_ref = self._key_ref(job)
        batch = self._client.batch()
        batch.create(self._ref(job.id), job_documents.document(job))
        if key_ref is not None:
            batch.create(key_ref, self._key_record(job))
        try:
            batch.commit()
        except AlreadyExists:
            if key_ref is None:
                existing = self.get(job.id)
                assert existing is not None
                return False, existing
            return False, self._existing(key_ref.get())
        return True, job

    def _create_charged(self, job: Job, limits: Limits) -> tuple[bool, Job]:
        """Optimistic, not a transaction: read the counters, then commit one batch that
        creates the job and rewrites each counter on the precondition that it has not
        changed since it was read. Hot counters are read by every submission, and a
        transaction's read locks make concurrent submissions wait on each other until
        they time out (seen on the emulator: 10 at once, 9 aborted after 25 s); a failed
        precondition costs one quick retry instead."""

        assert job.created_at is not None
        # issue 18: a limited counter in one shard is read and rewritten exactly (as before);
        # one in many shards is summed with an aggregation query and charged with an
        # increment on a random shard (domain/quota.py: shard_count, overshoot bound)
        shards = {
            key: shard_ids(doc_id, shard_count(key, limits, self.counter_shards))
            for key, doc_id in counter_ids(job.caller, job.created_at).items()
            if limited(key, limits)
        }
        # a counter changed since it was read, or a racing create: read again (20 s in all)
        lost = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Aborted, gexc.Conflict)
        policy = contention(*lost, initial=0.02, maximum=0.5, transactions=False)
        return or_busy(policy, lambda: self._charge_once(job, limits, shards))

    def _charge_once(
        self, job: Job, limits: Limits, shards: dict[str, list[str]]
    ) -> tuple[bool, Job]:
        """One optimistic round of `_create_charged`."""
        assert job.created_at is not None
        now, cost = job.created_at, float(job.estimated_cost_usd)
        single = {key: names[0] for key, names in shards.items() if len(names) == 1}
        job_ref, key_ref = self._ref(job.id), self._key_ref(job)
        first = key_ref if key_ref is not None else job_ref
        every = [first, *(self._usage.document(name) for name in single.values())]
        snaps = {snap.reference.path: snap for snap in self._client.get_all(every)}
        if snaps[first.path].exists:
            if key_ref is not None:
                return False, self._existing(snaps[first.path])
            existing = self._job(snaps[first.path])
            assert existing is not None
            return False, existing
        totals = {key: self._counter(snaps, name) for key, name in single.items()}
        for key, names in shards.items():
            if key not in single:
                totals[key] = self._sharded_total(names[0], key)
        check(limits, totals, cost, now)
        chosen = {key: random.choice(names) for key, names in shards.items()}
        days = [chosen[k] for k in ("caller_day", "global_day") if k in chosen]
        stored = job.model_copy(update={"charged": Charges(usd=cost, counters=days)})
        refs = {key: self._usage.document(doc_id) for key, doc_id in chosen.items()}
        batch = self._client.batch()
        batch.create(job_ref, job_documents.document(stored))
        if key_ref is not None:
            batch.create(key_ref, self._key_record(job))
        for key in shards.keys() - single.keys():
            batch.set(refs[key], self._increment(key, shards[key][0], cost, job, now), merge=True)
        counters = {key: self._counter(snaps, single[key]) for key in single}
        for key, counter in charged(counters, cost, job.caller, now).items():
            period = dt.timedelta(days=1 if key.endswith("minute") else 400)
            data = {**counter, "expire_at": now + period}
            snap = snaps[refs[key].path]
            if snap.exists:
                unchanged = self._client.write_option(last_update_time=snap.update_time)
                batch.update(refs[key], data, option=unchanged)
            else:
                batch.create(refs[key], data)
        batch.commit()
        self._wrote(job_ref, key_ref, *refs.values())
        return True, stored

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
        self, key: str, counter_id: str, cost: float, job: Job, now: dt.datetime
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
            "caller": job.caller if key == "caller_day" else "*",
            "day": now.astimezone(dt.UTC).strftime("%Y-%m-%d"),
            "expire_at": now + dt.timedelta(days=400),
        }

    def between(self, start: dt.datetime, end: dt.datetime, caller: str | None = None) -> list[Job]:
        """Jobs created in [start, end), optionally of one caller (for usage reports)."""

        query = self._collection
        if caller:
            query = query.where(filter=FieldFilter("caller", "==", caller))
        query = query.where(filter=FieldFilter("created_at", ">=", start)).where(
            filter=FieldFilter("created_at", "<", end)
        )
        return [job_documents.read(snap.to_dict()) for snap in query.stream()]

    def of_caller(self, caller: str, limit: int, before: dt.datetime | None = None) -> list[Job]:
        """One caller's jobs, newest first, `limit` of them created before `before` (the
        studio's gallery pages by the last job's created_at; index jobs_caller_created_desc
        in terraform/firestore.tf)."""

        query = self._collection.where(filter=FieldFilter("caller", "==", caller))
        if before is not None:
            query = query.where(filter=FieldFilter("created_at", "<", before))
        query = query.order_by("created_at", direction=Query.DESCENDING).limit(limit)
        return [job_documents.read(snap.to_dict()) for snap in query.stream()]

    def delete(self, job_id: str) -> None:
        """Remove a job that was never queued, with its idempotency record."""
        job = self.get(job_id)
        batch = self._client.batch()
        batch.delete(self._ref(job_id))
        key_ref = self._key_ref(job)
        if key_ref is not None:
            batch.delete(key_ref)
        batch.commit()

    def transact(self, job_id: str, change: Callable[[Job], Job | None]) -> Transacted:
        """Run `change` (one of the Job's transitions) on the stored job in a transaction
        and write what it changed; nothing when it returns None or there is no such job.
        A retried transaction runs `change` again on what it reads then. After the commit,
        the event the change raised is published."""

        ref = self._ref(job_id)

        @firestore.transactional
        def run(txn) -> Transacted:
            before = self._job(ref.get(transaction=txn))
            after = change(before) if before is not None else None
            if before is None or after is None:
                return Transacted(before, None)
            txn.update(ref, job_documents.changes(before, after))
            if after.terminal and not before.terminal:
                self._refund(txn, after)
            return Transacted(before, after)

        done = self._contended(run)
        if done.after is not None:
            if done.after.raised:  # benchmark mode counts transitions (and their refunds)
                refunds = [self._usage.document(i) for i in done.after.charged_counters]
                self._wrote(ref, *(refunds if done.after.terminal else []))
            self._announce(done.after)
        return done

    def _wrote(self, *refs) -> None:
        """Benchmark mode (issue 18): report each written document to `on_write`."""
        if self.on_write is not None:
            for ref in refs:
                if ref is not None:
                    self.on_write(ref.path)

    def _announce(self, job: Job) -> None:
        """Publish the events a committed change raised; a failure leaves them to the
        sweeper (they are in the job's outbox)."""
        if self.announcer is not None:
            for entry in job.raised:
                self.announcer(job, entry)

    def _contended(self, run):
        """Run a transaction, retrying contention (Aborted, or the client giving up on
        the commit) with jittered backoff for up to 20 s (adapters/firestore_retry.py);
        then Unavailable (503, or a redelivery)."""

        policy = contention(Aborted, initial=0.04, maximum=1.0)
        return or_busy(policy, lambda: run(self._client.transaction(max_attempts=3)))

    def _refund(self, txn, job: Job) -> None:
        """Give back what was reserved at submit beyond what the job really cost."""

        back = job.refund_usd
        if back <= 0:
            return
        for doc_id in job.charged_counters:
            txn.update(
                self._usage.document(doc_id),
                {
                    "reserved_usd": firestore.Increment(-back),
                    "refunded_usd": firestore.Increment(back),
                },
            )
