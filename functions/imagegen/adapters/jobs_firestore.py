"""The job store: Firestore documents `<collection>/<job_id>`, every transition a transaction.

It reads and writes `domain.job.Job`: a document becomes a Job (and a Job a document) here,
at the edge, and nowhere else. Transitions take the fields they change by Job field name.

Fencing: a worker's writes name the attempt number it claimed; if the lease expired and
another delivery reclaimed the job (attempt + 1), the stale worker's writes are refused, so
a job never ends twice.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.domain.job import Job
from imagegen.domain.job_events import created_fields, transition_entry
from imagegen.domain.jobs import (
    ClaimOutcome,
    State,
    TransitionError,
    check_transition,
    decide_claim,
    is_terminal,
    utcnow,
)
from imagegen.domain.quota import (
    Limits,
    charged,
    check,
    counter_ids,
    limited,
    shard_count,
    shard_ids,
)
from imagegen.errors import Conflict, NotFound, Unavailable
from imagegen.ports import Claim

if TYPE_CHECKING:
    from google.cloud import firestore


class JobStore:
    # Called after a committed state change with (Job after the change, outbox entry);
    # bootstrap points it at services.job_events.announce (issue 16: job events).
    announcer: Any = None
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
        return Job.from_document(snap.to_dict()) if snap.exists else None

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
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("state", "==", state.value))
            .where(filter=FieldFilter("updated_at", "<", updated_before))
            .order_by("updated_at")
            .limit(limit)
        )
        return [Job.from_document(snap.to_dict()) for snap in query.stream()]

    # --- writes ----------------------------------------------------------------------------

    def create(self, job: Job) -> tuple[bool, Job]:
        """Create the job unless its id exists; (created, the stored job)."""
        from google.api_core.exceptions import AlreadyExists

        doc = job.to_document()
        doc.update(created_fields(doc))
        key_ref = self._key_ref(job)
        batch = self._client.batch()
        batch.create(self._ref(job.id), doc)
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
        stored = Job.from_document(doc)
        self._announce(stored, doc["pending_events"][0])
        return True, stored

    def create_within_limits(self, job: Job, limits: Limits) -> tuple[bool, Job]:
        """Create the job and charge its caller's counters atomically, or raise
        RateLimited / BudgetExceeded and write nothing. An existing job (an idempotent
        replay) is returned uncharged.

        Optimistic, not a transaction: read the counters, then commit one batch that
        creates the job and rewrites each counter on the precondition that it has not
        changed since it was read. Hot counters are read by every submission, and a
        transaction's read locks make concurrent submissions wait on each other until
        they time out (seen on the emulator: 10 at once, 9 aborted after 25 s); a failed
        precondition costs one quick retry instead.
        """
        from google.api_core import exceptions as gexc

        assert job.created_at is not None
        now = job.created_at
        doc = job.to_document()
        doc.update(created_fields(doc))
        ids = counter_ids(job.caller, now)
        # issue 18: a limited counter in one shard is read and rewritten exactly (as before);
        # one in many shards is summed with an aggregation query and charged with an
        # increment on a random shard (domain/quota.py: shard_count, overshoot bound)
        shards = {
            key: shard_ids(doc_id, shard_count(key, limits, self.counter_shards))
            for key, doc_id in ids.items()
            if limited(key, limits)
        }
        single = {key: names for key, names in shards.items() if len(names) == 1}
        every = [self._usage.document(names[0]) for names in single.values()]
        job_ref = self._ref(job.id)
        key_ref = self._key_ref(job)
        cost = float(job.estimated_cost_usd)
        expiry = {"minute": dt.timedelta(days=1), "day": dt.timedelta(days=400)}

        def attempt() -> tuple[bool, dict[str, Any]]:
            first = key_ref if key_ref is not None else job_ref
            snaps = {snap.reference.path: snap for snap in self._client.get_all([first, *every])}
            if snaps[first.path].exists:
                if key_ref is not None:
                    return False, self._existing(snaps[first.path])
                return False, Job.from_document(snaps[first.path].to_dict())
            docs = {path: snap.to_dict() if snap.exists else {} for path, snap in snaps.items()}
            sums = {key: docs[self._usage.document(names[0]).path] for key, names in single.items()}
            for key, names in shards.items():
                if key not in single:
                    sums[key] = self._sharded_total(names[0], key)
            check(limits, sums, cost, now)
            ids = {key: random.choice(names) for key, names in shards.items()}
            refs = {key: self._usage.document(doc_id) for key, doc_id in ids.items()}
            stored = {
                **doc,
                "charged": {
                    "usd": cost,
                    "counters": [ids[k] for k in ("caller_day", "global_day") if k in ids],
                },
            }
            batch = self._client.batch()
            batch.create(job_ref, stored)
            if key_ref is not None:
                batch.create(key_ref, self._key_record(job))
            for key in shards.keys() - single.keys():
                batch.set(
                    refs[key], self._increment(key, shards[key][0], cost, job, now), merge=True
                )
            counters = {key: docs[refs[key].path] for key in single}
            for key, counter in charged(counters, cost, job.caller, now).items():
                period = "minute" if key.endswith("minute") else "day"
                data = {**counter, "expire_at": now + expiry[period]}
                snap = snaps[refs[key].path]
                if snap.exists:
                    unchanged = self._client.write_option(last_update_time=snap.update_time)
                    batch.update(refs[key], data, option=unchanged)
                else:
                    batch.create(refs[key], data)
            batch.commit()
            self._wrote(job_ref, key_ref, *refs.values())
            created = Job.from_document(stored)
            self._announce(created, stored["pending_events"][0])
            return True, created

        # a counter changed since it was read, or a racing create: read again (20 s in all)
        lost = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Aborted, gexc.Conflict)
        return or_busy(contention(*lost, initial=0.02, maximum=0.5, transactions=False), attempt)

    def _sharded_total(self, counter_id: str, key: str) -> dict[str, Any]:
        """A sharded counter's value: one aggregation query over its shards (billed one
        read per 1,000 index entries, so the shard count costs nothing at read time)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        name = "requests" if key.endswith("minute") else "reserved_usd"
        query = self._usage.where(filter=FieldFilter("counter", "==", counter_id))
        result = query.sum(name, alias="total").get()
        value = result[0][0].value if result and result[0] else 0
        return {name: value or 0}

    def _increment(
        self, key: str, counter_id: str, cost: float, job: Job, now: dt.datetime
    ) -> dict[str, Any]:
        """The merge-write charging one shard: server-side increments, no read needed."""
        from google.cloud import firestore

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
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection
        if caller:
            query = query.where(filter=FieldFilter("caller", "==", caller))
        query = query.where(filter=FieldFilter("created_at", ">=", start)).where(
            filter=FieldFilter("created_at", "<", end)
        )
        return [Job.from_document(snap.to_dict()) for snap in query.stream()]

    def of_caller(self, caller: str, limit: int, before: dt.datetime | None = None) -> list[Job]:
        """One caller's jobs, newest first, `limit` of them created before `before` (the
        studio's gallery pages by the last job's created_at; index jobs_caller_created_desc
        in terraform/firestore.tf)."""
        from google.cloud.firestore_v1 import Query
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("caller", "==", caller))
        if before is not None:
            query = query.where(filter=FieldFilter("created_at", "<", before))
        query = query.order_by("created_at", direction=Query.DESCENDING).limit(limit)
        return [Job.from_document(snap.to_dict()) for snap in query.stream()]

    def delete(self, job_id: str) -> None:
        """Remove a job that was never queued, with its idempotency record."""
        job = self.get(job_id)
        batch = self._client.batch()
        batch.delete(self._ref(job_id))
        key_ref = self._key_ref(job)
        if key_ref is not None:
            batch.delete(key_ref)
        batch.commit()

    def _transact(self, job_id: str, change) -> Any:
        """Run `change(document_or_None, now) -> (updates|None, result)` in a transaction.
        A change that makes the job terminal gives back the unspent reservation
        (Job.refund_usd) in the same transaction."""
        from google.cloud import firestore

        ref = self._ref(job_id)
        committed: list[tuple[Job, dict[str, Any]]] = []

        @firestore.transactional
        def run(txn):
            committed.clear()  # a retried transaction announces only what it committed
            snap = ref.get(transaction=txn)
            job = snap.to_dict() if snap.exists else None
            now = utcnow()
            updates, result = change(job, now)
            if updates:
                assert job is not None
                updates["updated_at"] = now
                event = transition_entry(job, updates, now)
                after = None
                if event is not None:  # the outbox entry, in the same write as the state
                    updates["event_sequence"], entry = event
                    pending = [*(job.get("pending_events") or []), entry]
                    after = Job.from_document({**job, **updates, "pending_events": pending})
                    updates["pending_events"] = firestore.ArrayUnion([entry])
                    updates["events_pending"] = True  # what the sweeper queries
                    committed.append((after, entry))
                txn.update(ref, updates)
                if after is not None and after.terminal:
                    self._refund(txn, after)
            return result

        result = self._contended(run)
        if self.on_write is not None and committed:
            job = committed[-1][0]
            refunds = [self._usage.document(i) for i in job.charged_counters]
            self._wrote(ref, *(refunds if job.terminal else []))
        for job, entry in committed:
            self._announce(job, entry)
        return result

    def _wrote(self, *refs) -> None:
        """Benchmark mode (issue 18): report each written document to `on_write`."""
        if self.on_write is not None:
            for ref in refs:
                if ref is not None:
                    self.on_write(ref.path)

    def _announce(self, job: Job, entry: dict[str, Any]) -> None:
        """Publish a committed transition's event; a failure leaves it to the sweeper."""
        if self.announcer is not None:
            self.announcer(job, entry)

    def _contended(self, run):
        """Run a transaction, retrying contention (Aborted, or the client giving up on
        the commit) with jittered backoff for up to 20 s (adapters/firestore_retry.py);
        then Unavailable (503, or a redelivery)."""
        from google.api_core.exceptions import Aborted

        policy = contention(Aborted, initial=0.04, maximum=1.0)
        return or_busy(policy, lambda: run(self._client.transaction(max_attempts=3)))

    def _refund(self, txn, job: Job) -> None:
        """Give back what was reserved at submit beyond what the job really cost."""
        from google.cloud import firestore

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

    def mark_paced(self, job_id: str) -> None:
        """Note on a queued job that its last delivery went back for pacing (issue 18), so a
        dead letter re-publishes it instead of failing it. A plain field write, no
        transition: a paced job stays `queued` with its attempts untouched."""
        self._ref(job_id).update({"paced_at": utcnow()})

    def claim(self, job_id: str, lease_seconds: float) -> Claim:
        def change(job, now):
            outcome = decide_claim(Job.from_document(job) if job else None, now)
            if outcome is not ClaimOutcome.CLAIMED:
                return None, Claim(outcome, Job.from_document(job) if job else None)
            attempt = int(job.get("attempts", 0)) + 1
            updates = {
                "state": State.RUNNING.value,
                "attempts": attempt,
                "lease_expires_at": now + dt.timedelta(seconds=lease_seconds),
                "started_at": job.get("started_at") or now,
            }
            return updates, Claim(outcome, Job.from_document({**job, **updates}), attempt)

        return self._transact(job_id, change)

    def finish(self, job_id: str, attempt: int, state: State, fields: dict[str, Any]) -> bool:
        """End a running job this worker holds; False if it lost the job meanwhile."""

        def change(job, now):
            if job is None or job["state"] != State.RUNNING or job.get("attempts") != attempt:
                return None, False
            check_transition(job["state"], state)
            return {
                **fields,
                "state": state.value,
                "finished_at": now,
                "lease_expires_at": None,
            }, True

        return self._transact(job_id, change)

    def progress(self, job_id: str, attempt: int, fields: dict[str, Any]) -> bool:
        """Record what a running attempt has so far (images already stored), fenced by the
        attempt number like `finish`; False if the worker lost the job meanwhile."""

        def change(job, now):
            if job is None or job["state"] != State.RUNNING or job.get("attempts") != attempt:
                return None, False
            return dict(fields), True

        return self._transact(job_id, change)

    def requeue(self, job_id: str, attempt: int, error: dict[str, Any]) -> bool:
        """Hand a running job back for redelivery after a retryable fault."""

        def change(job, now):
            if job is None or job["state"] != State.RUNNING or job.get("attempts") != attempt:
                return None, False
            return {"state": State.QUEUED.value, "error": error, "lease_expires_at": None}, True

        return self._transact(job_id, change)

    def fail(self, job_id: str, error: dict[str, Any], *, respect_lease: bool = False) -> bool:
        """Fail a job in any non-terminal state (dead letters, deadlines); idempotent.
        `respect_lease`: leave a running job alone while its lease is fresh (a live worker
        holds it and will end it; if it dies, the sweeper re-queues it once the lease
        lapses and the attempt count ends it)."""

        def change(job, now):
            if job is None or is_terminal(job["state"]):
                return None, False
            if respect_lease and decide_claim(Job.from_document(job), now) is ClaimOutcome.LEASED:
                return None, False
            last = job.get("error") or {}
            merged = {**error, **({"last_error": last} if last else {})}
            return {
                "state": State.FAILED.value,
                "error": merged,
                "finished_at": now,
                "lease_expires_at": None,
            }, True

        return self._transact(job_id, change)

    def cancel(self, job_id: str) -> Job:
        def change(job, now):
            if job is None:
                raise NotFound(f"no job {job_id}")
            try:
                check_transition(job["state"], State.CANCELLED)
            except TransitionError:
                raise Conflict(
                    f"job {job_id} is {job['state']}; only a queued job can be cancelled"
                ) from None
            updates = {"state": State.CANCELLED.value, "finished_at": now}
            return updates, Job.from_document({**job, **updates, "updated_at": now})

        return self._transact(job_id, change)
