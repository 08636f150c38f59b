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
from collections.abc import Callable
from typing import Any

from google.api_core.exceptions import Aborted, AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1 import Query
from google.cloud.firestore_v1.base_query import FieldFilter

from imagegen.adapters import job_documents
from imagegen.adapters.firestore_retry import contention, or_busy
from imagegen.adapters.usage_counters import UsageCounters
from imagegen.domain.job import Job, State
from imagegen.domain.job_values import Charges, PendingEvent
from imagegen.domain.quota import Limits
from imagegen.errors import NotFound, Unavailable
from imagegen.ports import Transacted

# Called after a committed change with (the Job after it, the outbox entry it raised).
Announce = Callable[[Job, PendingEvent], Any]


class JobStore:
    # Publishes a committed change's event (bootstrap: services.job_events.announce;
    # issue 16: job events). None: events stay in the outbox for the sweeper.
    announcer: Announce | None = None
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
        self._keys = client.collection(idempotency)
        self.counters = UsageCounters(client, usage)

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
        """Create the job and charge its caller's counters in one write
        (adapters/usage_counters.py: optimistic, each counter rewritten on the precondition
        that it has not changed since it was read); an existing key or id is a replay."""
        assert job.created_at is not None
        job_ref, key_ref = self._ref(job.id), self._key_ref(job)
        stored: list[Job] = []

        def creates(charges: Charges) -> list[tuple[Any, dict[str, Any]]]:
            stored[:] = [job.model_copy(update={"charged": charges})]
            documents = [(job_ref, job_documents.document(stored[0]))]
            if key_ref is not None:
                documents.append((key_ref, self._key_record(job)))
            return documents

        first = key_ref if key_ref is not None else job_ref
        done = self.counters.charge(
            job.caller, float(job.estimated_cost_usd), job.created_at, limits, first, creates
        )
        if done.existing is not None:
            if key_ref is not None:
                return False, self._existing(done.existing)
            existing = self._job(done.existing)
            assert existing is not None
            return False, existing
        self._wrote(*done.written)
        return True, stored[0]

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
                refunds = self.counters.references(done.after.charged_counters)
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
        self.counters.refund(txn, job.charged_counters, job.refund_usd)
