"""What the API, the job events, the webhooks and the upload answers show of a job:
`JobView` — no leases, fingerprints or callers' keys, fields without a value left out — built
from the same typed parts as the stored `Job` (domain/job_values.py). Pure; the HTTP layer
adds URLs (http_api.py) and the OpenAPI document is generated from it (openapi.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    computed_field,
)

from imagegen.domain.job import Job, State
from imagegen.domain.job_values import (
    BlockedImage,
    DeliveryRecord,
    JobError,
    ServedBy,
    SignedOutput,
)


def iso(value: dt.datetime) -> str:
    """UTC, ISO 8601 with a `Z`: how every job time is shown."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def status_url(base_url: str, job_id: str, path: str = "/v1/jobs") -> str:
    """Where a job's state is read: the API's (`/v1/jobs`) or the studio's (`/api/jobs`).
    The one place a job's URL is built (HTTP API, studio, upload answers)."""
    return f"{base_url.rstrip('/')}{path}/{job_id}"


Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]

# The stored request keeps its stored form (an old document must still be shown); the
# OpenAPI document points it, and the webhook records, at the JobRequest and
# WebhookDelivery schemas (openapi.py).
JobRequestRef = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]
WebhookDeliveries = Annotated[
    dict[str, DeliveryRecord],
    WithJsonSchema(
        {"type": "object", "description": "Per event id: every webhook attempt (time, status)."}
    ),
]


class JobView(BaseModel):
    """The job as `GET /v1/jobs/{id}` shows it: no leases, fingerprints or callers' keys.
    Fields without a value are left out of the answer."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True, title="Job")

    id: str
    state: State
    status_url: str | None = Field(
        default=None, description="where to read the job (set on API answers)"
    )
    request: JobRequestRef | None = None
    model: str | None = None
    region: str | None = None
    outputs: list[SignedOutput] | None = None
    blocked_images: list[BlockedImage] | None = None
    error: JobError | None = None
    warnings: list[str] | None = None
    text: list[str] | None = Field(default=None, description="the model's text replies")
    thoughts: list[str] | None = Field(
        default=None, description="the model's thought summaries (include_thoughts)"
    )
    parent_job_id: str | None = Field(default=None, description="the job this one continues")
    batch_id: str | None = Field(
        default=None, description="the batch it is an item of (GET /v1/batches/{id})"
    )
    enhanced_prompt: str | None = None
    served_by: ServedBy | None = None
    attempts: int | None = None
    estimated_cost_usd: float | None = None
    cost_usd: float | None = None
    images_produced: int | None = None
    usage: dict[str, int] | None = Field(default=None, description="Vertex's token counts")
    source: str | None = Field(
        default=None,
        description="http, upload, studio, vertex or openai (issue 28's front doors), batch",
    )
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    webhook_deliveries: WebhookDeliveries | None = None

    @computed_field(  # type: ignore[prop-decorator]
        # marked in the schema only: pydantic's `deprecated=` warns on every dump
        json_schema_extra={"deprecated": True},
        description="Deprecated alias of `state` (its old name), kept so older callers do "
        "not break; read `state`.",
    )
    @property
    def status(self) -> State:
        return self.state

    @classmethod
    def of(cls, job: Job, status_url: str | None = None) -> JobView:
        """The view of a job: its shown fields that have a value, each part as stored."""
        fields = set(cls.model_fields) - {"status_url"}
        stored = job.model_dump(include=fields, exclude_unset=True, by_alias=True)
        data = {key: value for key, value in stored.items() if value is not None}
        return cls.model_validate({**data, "status_url": status_url})

    def to_json(self) -> dict[str, Any]:
        """The answer's body: every field with a value, nested values as stored (unset
        fields of an output or an error are not invented, a null inside is kept)."""
        body = self.model_dump(exclude_unset=True)
        return {key: value for key, value in body.items() if value is not None}
