"""The one shape of a job: `Job` (what the job store holds and every service passes) and
`JobView` (what the API, the events and the upload answers show of it), with the rules that
belong to a job (overdue, the model that served it, what it cost, what to give back).

Pure: the job store maps Firestore documents to `Job` and back at its edge
(adapters/jobs_firestore.py); the HTTP layer adds URLs to a `JobView`
(http_api.py); the OpenAPI document is generated from `JobView` (openapi.py).
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

from imagegen.domain.jobs import TERMINAL, State
from imagegen.domain.provenance import ContentCredentials

DEADLINE_EXCEEDED = "the job passed its overall deadline without finishing"


def iso(value: dt.datetime) -> str:
    """UTC, ISO 8601 with a `Z`: how every job time is shown."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def status_url(base_url: str, job_id: str, path: str = "/v1/jobs") -> str:
    """Where a job's state is read: the API's (`/v1/jobs`) or the studio's (`/api/jobs`).
    The one place a job's URL is built (HTTP API, studio, upload answers)."""
    return f"{base_url.rstrip('/')}{path}/{job_id}"


def cost_of(outputs: list[dict[str, Any]]) -> float:
    """What a job's delivered images cost: each is priced at the size it came in."""
    return round(sum(float(o.get("cost_usd") or 0.0) for o in outputs), 6)


class Job(BaseModel):
    """A job as the job store holds it. Fields the code does not know (a document written by
    a newer version) are kept, so a read-modify-write never drops them."""

    model_config = ConfigDict(extra="allow", use_enum_values=True)

    id: str
    state: State
    request: dict[str, Any] = Field(default_factory=dict)
    model: str = ""
    region: str | None = None
    warnings: list[str] = Field(default_factory=list)
    estimated_cost_usd: float = 0.0
    attempts: int = 0
    source: str = "http"
    caller: str = "anonymous"
    fingerprint: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    deadline_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    lease_expires_at: dt.datetime | None = None
    paced_at: dt.datetime | None = None
    # multi-turn (refine) and keys
    conversation: list[dict[str, Any]] | None = None
    parent_job_id: str | None = None
    idempotency_id: str | None = None
    upload: dict[str, Any] | None = None  # the upload that made the job (its answer's name)
    # a Vertex-native request as sent (issue 28; JSON text, inline images in storage): the
    # worker sends it as it is (native/vertex_request.py)
    native_request: str | None = None
    charged: dict[str, Any] | None = None  # {usd, counters}: the budget reserved at submit
    # the outbox of job events (domain/job_events.py)
    event_sequence: int | None = None
    pending_events: list[dict[str, Any]] | None = None
    events_pending: bool | None = None
    # results
    outputs: list[dict[str, Any]] | None = None
    blocked_images: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None
    text: list[str] | None = None
    thoughts: list[str] | None = None
    enhanced_prompt: str | None = None
    usage: dict[str, Any] | None = None
    grounding_metadata: dict[str, Any] | None = None  # Google Search grounding (issue 28)
    served_by: dict[str, Any] | None = None
    cost_usd: float | None = None
    images_produced: int | None = None
    partial_outputs: list[dict[str, Any]] | None = None
    partial_blocked: list[str] | None = None
    partial_warnings: list[str] | None = None
    webhook_deliveries: dict[str, Any] | None = None

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Job:
        return cls.model_validate(document)

    def to_document(self) -> dict[str, Any]:
        """The Firestore document of a new job: what is set, nothing empty."""
        return self.model_dump(exclude_none=True)

    @property
    def terminal(self) -> bool:
        return State(self.state) in TERMINAL

    def leased(self, now: dt.datetime) -> bool:
        """A worker holds it under a lease that has not run out."""
        return self.lease_expires_at is not None and self.lease_expires_at > now

    def overdue(self, now: dt.datetime) -> bool:
        """Past its overall deadline (IMAGEGEN_JOB_DEADLINE_SECONDS after submit)."""
        return self.deadline_at is not None and now > self.deadline_at

    def deadline_error(self) -> dict[str, Any]:
        """The error an overdue job ends with, wherever it is noticed (worker, sweeper)."""
        return {"code": "deadline_exceeded", "message": DEADLINE_EXCEEDED}

    @property
    def served_model(self) -> str:
        """The model that made the images: the one that answered (a fallback, a retired
        name's replacement) or, before that, the one asked for."""
        return str((self.served_by or {}).get("model") or self.model or "")

    @property
    def actual_cost_usd(self) -> float:
        """What the job cost at Vertex: its images priced as delivered, else its recorded cost."""
        if self.cost_usd is not None:
            return float(self.cost_usd)
        return cost_of(self.outputs or [])

    @property
    def refund_usd(self) -> float:
        """What to give back to the budget counters once the job is terminal: the
        reservation made at submit beyond what the job really cost (never negative)."""
        reserved = float((self.charged or {}).get("usd", 0.0))
        return max(0.0, round(reserved - self.actual_cost_usd, 6))

    @property
    def charged_counters(self) -> list[str]:
        return list((self.charged or {}).get("counters", []))

    def document_with(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The stored document after a write of `fields` (what the size rules measure)."""
        return {**self.model_dump(exclude_unset=True), **fields}


Timestamp = Annotated[
    dt.datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class Output(BaseModel):
    """One stored image."""

    model_config = ConfigDict(extra="allow")

    uri: str = Field(description="gs://<outputs bucket>/jobs/<id>/<n>.<ext>")
    mime_type: str | None = None
    index: int | None = None
    width: int | None = Field(default=None, description="delivered pixels")
    height: int | None = Field(default=None, description="delivered pixels")
    bytes: int | None = None
    priced_size: str | None = Field(
        default=None, description="the size billed: the delivered one, if it differs"
    )
    model: str | None = Field(default=None, description="the model that made it")
    cost_usd: float | None = None
    content_credentials: ContentCredentials | None = Field(
        default=None,
        description="the C2PA Content Credentials read from the stored file (Google's, kept "
        "byte for byte); absent when they could not be read or verification is off",
    )
    synthid: bool | None = Field(
        default=None, description="a SynthID watermark is in the pixels (every Gemini image)"
    )
    url: str | None = Field(
        default=None,
        json_schema_extra={"format": "uri"},
        description="V4 signed URL: downloads the image with no Google credentials until "
        "url_expires_at (default 15 minutes, at most 7 days).",
    )
    url_expires_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})


class JobError(BaseModel):
    """Why a job is not (or not only) a success."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    last_error: dict[str, Any] | None = Field(
        default=None, description="the error of the attempt before, when there was one"
    )


class ServedBy(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    location: str


class BlockedImage(BaseModel):
    model_config = ConfigDict(extra="allow")

    reason: str


# The stored request and the webhook records keep their stored form (an old document must
# still be shown); the OpenAPI document points these two at the JobRequest and
# WebhookDelivery schemas (openapi.py: REFERENCED).
JobRequestRef = Annotated[dict[str, Any], WithJsonSchema({"type": "object"})]
WebhookDeliveries = Annotated[
    dict[str, Any],
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
    outputs: list[Output] | None = None
    blocked_images: list[BlockedImage] | None = None
    error: JobError | None = None
    warnings: list[str] | None = None
    text: list[str] | None = Field(default=None, description="the model's text replies")
    thoughts: list[str] | None = Field(
        default=None, description="the model's thought summaries (include_thoughts)"
    )
    parent_job_id: str | None = Field(default=None, description="the job this one continues")
    enhanced_prompt: str | None = None
    served_by: ServedBy | None = None
    attempts: int | None = None
    estimated_cost_usd: float | None = None
    cost_usd: float | None = None
    images_produced: int | None = None
    usage: dict[str, Any] | None = Field(default=None, description="Vertex's token counts")
    source: str | None = Field(
        default=None, description="http, upload, studio, vertex or openai (issue 28's front doors)"
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
        fields = set(cls.model_fields) - {"status_url"}
        data = job.model_dump(include=fields, exclude_unset=True, exclude_none=True)
        return cls.model_validate({**data, "status_url": status_url})

    def to_json(self) -> dict[str, Any]:
        """The answer's body: every field with a value, nested values as stored (unset
        fields of an output or an error are not invented, a null inside is kept)."""
        body = self.model_dump(exclude_unset=True)
        return {key: value for key, value in body.items() if value is not None}
