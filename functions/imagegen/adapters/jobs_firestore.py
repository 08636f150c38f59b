"""The job store: Firestore documents `<collection>/<job_id>`, every transition a transaction.

Fencing: a worker's writes name the attempt number it claimed; if the lease expired and
another delivery reclaimed the job (attempt + 1), the stale worker's writes are refused, so
a job never ends twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen.domain.jobs import (
    ClaimOutcome,
    State,
    TransitionError,
    check_transition,
    decide_claim,
    is_terminal,
    utcnow,
)
from imagegen.errors import Conflict, NotFound

if TYPE_CHECKING:
    from google.cloud import firestore


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    job: dict[str, Any] | None
    attempt: int = 0


class JobStore:
    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)

    @classmethod
    def connect(cls, project: str, database: str, collection: str) -> JobStore:
        from google.cloud import firestore

        return cls(firestore.Client(project=project, database=database), collection)

    def _ref(self, job_id: str):
        return self._collection.document(job_id)

    # --- reads -----------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        snap = self._ref(job_id).get()
        return snap.to_dict() if snap.exists else None

    def require(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def stale(self, state: State, updated_before: dt.datetime, limit: int = 500):
        """Jobs in `state` not touched since `updated_before` (needs the (state, updated_at)
        composite index declared in terraform/firestore.tf)."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (
            self._collection.where(filter=FieldFilter("state", "==", state.value))
            .where(filter=FieldFilter("updated_at", "<", updated_before))
            .order_by("updated_at")
            .limit(limit)
        )
        return [snap.to_dict() for snap in query.stream()]

    # --- writes ----------------------------------------------------------------------------

    def create(self, job: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Create the job unless its id exists; (created, the stored job)."""
        from google.api_core.exceptions import AlreadyExists

        try:
            self._ref(job["id"]).create(job)
        except AlreadyExists:
            existing = self.get(job["id"])
            assert existing is not None
            return False, existing
        return True, job

    def delete(self, job_id: str) -> None:
        self._ref(job_id).delete()

    def _transact(self, job_id: str, change) -> Any:
        """Run `change(job_or_None, now) -> (updates|None, result)` in a transaction."""
        from google.cloud import firestore

        ref = self._ref(job_id)

        @firestore.transactional
        def run(txn):
            snap = ref.get(transaction=txn)
            job = snap.to_dict() if snap.exists else None
            now = utcnow()
            updates, result = change(job, now)
            if updates:
                updates["updated_at"] = now
                txn.update(ref, updates)
            return result

        return run(self._client.transaction(max_attempts=10))

    def claim(self, job_id: str, lease_seconds: float) -> Claim:
        def change(job, now):
            outcome = decide_claim(job, now)
            if outcome is not ClaimOutcome.CLAIMED:
                return None, Claim(outcome, job)
            attempt = int(job.get("attempts", 0)) + 1
            updates = {
                "state": State.RUNNING.value,
                "attempts": attempt,
                "lease_expires_at": now + dt.timedelta(seconds=lease_seconds),
                "started_at": job.get("started_at") or now,
            }
            return updates, Claim(outcome, {**job, **updates}, attempt)

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

    def requeue(self, job_id: str, attempt: int, error: dict[str, Any]) -> bool:
        """Hand a running job back for redelivery after a retryable fault."""

        def change(job, now):
            if job is None or job["state"] != State.RUNNING or job.get("attempts") != attempt:
                return None, False
            return {"state": State.QUEUED.value, "error": error, "lease_expires_at": None}, True

        return self._transact(job_id, change)

    def fail(self, job_id: str, error: dict[str, Any]) -> bool:
        """Fail a job in any non-terminal state (dead letters, deadlines); idempotent."""

        def change(job, now):
            if job is None or is_terminal(job["state"]):
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

    def cancel(self, job_id: str) -> dict[str, Any]:
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
            return updates, {**job, **updates, "updated_at": now}

        return self._transact(job_id, change)
