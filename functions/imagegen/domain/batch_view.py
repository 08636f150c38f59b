"""What the API, the batch event and the upload answers show of a batch (issue 29). Pure;
the HTTP layer adds the URLs and the page of items (http_api.py) and the OpenAPI document is
generated from these models (openapi.py).

- `SubmittedBatchView`: the 202 of `POST /v1/batches` (and a dropped file's first answer).
- `BatchView`: `GET /v1/batches/{id}` — state, counts, cost, and a page of its items.
- `batch_event`: `com.imagegen.batch.v1.completed` on the job-events topic, once, when the
  batch ends (its outbox entry `<batch id>-completed`, domain/batch.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imagegen.domain.batch import Batch, BatchState
from imagegen.domain.job_values import PendingEvent
from imagegen.domain.job_view import Timestamp, iso

BATCH_EVENT_PREFIX = "com.imagegen.batch.v1."
COMPLETED = f"{BATCH_EVENT_PREFIX}completed"


def batch_url(base_url: str, batch_id: str, path: str = "/v1/batches") -> str:
    """Where a batch is read (the API's `/v1/batches`, the studio's `/api/batches`)."""
    return f"{base_url.rstrip('/')}{path}/{batch_id}"


class Rejected(BaseModel):
    """A line that was not accepted, with the job API's own error body."""

    line: int = Field(description="1-based line of the JSONL body (index + 1 in `requests`)")
    error: dict[str, Any] = Field(description="{code, message, details}: the job API's error")


class BatchCounts(BaseModel):
    total: int
    succeeded: int
    failed: int
    blocked: int
    cancelled: int
    pending: int


class BatchItemView(BaseModel):
    """One ended item: its line, its job (an ordinary job record, GET /v1/jobs/{job_id})."""

    line: int
    job_id: str
    state: str
    cost_usd: float | None = None
    outputs: list[str] | None = Field(default=None, description="gs:// URIs of its images")
    error: dict[str, Any] | None = None


class SubmittedBatchView(BaseModel):
    """The answer to a submitted batch: accepted items, every rejected line, the estimate."""

    model_config = ConfigDict(title="SubmittedBatch")

    id: str
    state: BatchState
    status: BatchState = Field(description="the same as `state` (the issue's name for it)")
    status_url: str | None = None
    items: int = Field(description="lines accepted: each becomes a job")
    rejected: list[Rejected]
    rejected_count: int
    estimated_cost_usd: float = Field(
        description="reserved against the daily budgets at submit: batch price where the model "
        "is batched, online price for items that fan out into ordinary jobs"
    )

    @classmethod
    def of(
        cls, batch: Batch, rejected: list[dict[str, Any]], url: str | None
    ) -> SubmittedBatchView:
        return cls(
            id=batch.id,
            state=batch.state,
            status=batch.state,
            status_url=url,
            items=batch.counts.total,
            rejected=[Rejected.model_validate(r) for r in rejected],
            rejected_count=batch.rejected_count,
            estimated_cost_usd=batch.estimated_cost_usd,
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class BatchGroupView(BaseModel):
    model: str
    location: str
    items: int
    vertex_state: str | None = None


class BatchView(BaseModel):
    """The batch as `GET /v1/batches/{id}` shows it; `items` is a page of its ended items
    (`?limit=&after=`), `next_after` the `after` of the next page (none: the last)."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, title="Batch")

    id: str
    state: BatchState
    status_url: str | None = None
    source: str | None = None
    counts: BatchCounts
    estimated_cost_usd: float
    cost_usd: float = Field(description="what its ended items cost (batch price where batched)")
    rejected_count: int = 0
    rejected: list[Rejected] | None = Field(
        default=None, description="the first 50 rejected lines (all in the submit answer)"
    )
    labels: dict[str, str] | None = None
    groups: list[BatchGroupView] = Field(description="one Vertex batch job a model and location")
    fanout: int | None = Field(default=None, description="items run as ordinary jobs")
    cancel_requested: bool | None = None
    error: dict[str, Any] | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    items: list[BatchItemView] | None = None
    next_after: int | None = None

    @classmethod
    def of(cls, batch: Batch, status_url: str | None = None) -> BatchView:
        return cls(
            id=batch.id,
            state=batch.state,
            status_url=status_url,
            source=batch.source,
            counts=BatchCounts.model_validate(batch.counts.model_dump()),
            estimated_cost_usd=batch.estimated_cost_usd,
            cost_usd=round(batch.cost_usd, 6),
            rejected_count=batch.rejected_count,
            rejected=[Rejected.model_validate(r) for r in batch.rejected] or None,
            labels=batch.labels or None,
            groups=[
                BatchGroupView(
                    model=g.model, location=g.location, items=g.items, vertex_state=g.vertex_state
                )
                for g in batch.groups
            ],
            fanout=batch.fanout.items if batch.fanout else None,
            cancel_requested=batch.cancel_requested or None,
            error=batch.error,
            created_at=batch.created_at,
            updated_at=batch.updated_at,
            finished_at=batch.finished_at,
        )

    def with_items(self, records: list[dict[str, Any]], limit: int) -> BatchView:
        """This view with a page of item index records (`limit` asked for)."""
        items = [item_view(r) for r in records]
        after = items[-1].line if len(items) == limit and items else None
        return self.model_copy(update={"items": items, "next_after": after})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def item_view(record: dict[str, Any]) -> BatchItemView:
    """An item index record (adapters/batches_firestore.py) as shown."""
    return BatchItemView(
        line=int(record["line"]),
        job_id=str(record["job_id"]),
        state=str(record["state"]),
        cost_usd=record.get("cost_usd"),
        outputs=record.get("outputs") or None,
        error=record.get("error") or None,
    )


def batch_event(batch: Batch, entry: PendingEvent, source: str) -> dict[str, Any]:
    """The `batch.completed` CloudEvent (spec 1.0, structured mode) of a batch that ended:
    its view (state, counts, costs) as data."""
    return {
        "specversion": "1.0",
        "id": entry.id,
        "source": source,
        "type": COMPLETED,
        "subject": batch.id,
        "time": iso(entry.time),
        "datacontenttype": "application/json",
        "data": BatchView.of(batch).to_json(),
    }
