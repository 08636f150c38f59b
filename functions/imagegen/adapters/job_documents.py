"""The one mapping between a job's Firestore document and `domain.job.Job`, used by the job
store and the event log alike.

- Reading is tolerant (`Job.from_document`): a document written by another version may
  carry fields this one does not know; they are left out of the Job.
- A new job is written whole (`document`).
- A change is written as the fields it changed (`changes`), never as the whole job: fields of
  the document this version does not know are never overwritten or dropped, and the outbox
  grows by `ArrayUnion`, so an entry the event log removes meanwhile is not written back.
"""

from __future__ import annotations

from typing import Any

from google.cloud import firestore

from imagegen.domain.job import Job
from imagegen.domain.job_values import PendingEvent

OUTBOX = "pending_events"


def read(document: dict[str, Any]) -> Job:
    """The Job of a stored document."""
    return Job.from_document(document)


def document(job: Job) -> dict[str, Any]:
    """The document of a new job: what is set, nothing empty."""
    return job.to_document()


def entry(event: PendingEvent) -> dict[str, Any]:
    """An outbox entry as stored in `pending_events` (and removed by its exact value)."""
    return event.to_json()


def changes(before: Job, after: Job) -> dict[str, Any]:
    """The update that turns `before`'s document into `after`'s: each top-level field whose
    value changed (None written as null, as every version has), new outbox entries
    appended."""
    old = before.model_dump(by_alias=True, exclude_unset=True)
    new = after.model_dump(by_alias=True, exclude_unset=True)
    update = {
        name: value
        for name, value in new.items()
        if name != OUTBOX and (name not in old or old[name] != value)
    }
    known = {e.id for e in before.pending_events or []}
    added = [entry(e) for e in after.pending_events or [] if e.id not in known]
    if added:
        update[OUTBOX] = firestore.ArrayUnion(added)
    return update
