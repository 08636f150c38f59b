"""The typed parts of a job: what it delivered (`Output`), why it did not (`JobError`,
`BlockedImage`), who served it (`ServedBy`), its conversation (`Turn`), its outbox
(`PendingEvent`), what it reserved (`Charges`), the Content Credentials read from each
stored image (`ContentCredentials`, issue 25), where it came from (`UploadSource`) and the
webhook records mirrored onto it (`DeliveryRecord`). Shared by `Job` (what is stored) and
`JobView` (what is shown). Pure.

Writing is strict, reading tolerant. Every part refuses a field it does not know, so a typo
(`outptus`) or a stray key is an error where it is made, never a value silently dropped. A
document written by another version may still carry fields this one does not know: read
with `READ` as the validation context (`Job.from_document` does), each part leaves them
out. They stay in the stored document, because the job store writes only the fields a
transition changed (adapters/job_documents.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

# The validation context of a stored document: unknown fields are left out, not refused.
READ = {"tolerant": True}


class Value(BaseModel):
    """A part of a job: immutable, strict on write, tolerant on read (see the module)."""

    # defer_build: a part's schema is built on its first use, not at import (cold starts)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _known_fields_when_reading(cls, data: Any, info: ValidationInfo) -> Any:
        if not (info.context or {}).get("tolerant") or not isinstance(data, dict):
            return data
        names = set(cls.model_fields)
        names.update(f.alias for f in cls.model_fields.values() if f.alias)
        return {key: value for key, value in data.items() if key in names}

    def to_json(self) -> dict[str, Any]:
        """The stored form: what was set, as it was set (a null that was written stays)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class ContentCredentials(Value):
    """What one output's C2PA Content Credentials say, as read from the stored file."""

    present: bool = Field(description="the file carries a C2PA manifest")
    valid: bool = Field(
        default=False,
        description="the manifest's signature and its hash of the file's bytes check out "
        "(C2PA validation state Valid or Trusted)",
    )
    validation_state: str | None = Field(
        default=None, description="C2PA's own word: Invalid, Valid or Trusted"
    )
    issuer: str | None = Field(default=None, description="who signed it (Google LLC)")
    claim_generator: str | None = Field(
        default=None, description="the software that made the claim"
    )
    digital_source_type: str | None = Field(
        default=None,
        description="IPTC digital source type of the c2pa.created action "
        "(trainedAlgorithmicMedia: made by a generative model)",
    )
    errors: list[str] | None = Field(
        default=None, description="the C2PA failure codes, when not valid"
    )

    @classmethod
    def absent(cls) -> ContentCredentials:
        return cls(present=False)

    def record(self) -> dict[str, Any]:
        """The stored form: fields with a value only."""
        return self.model_dump(exclude_none=True)


class Output(Value):
    """One stored image."""

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


class SignedOutput(Output):
    """One stored image, as answers show it: with a signed download URL (never stored)."""

    model_config = ConfigDict(title="Output")

    url: str | None = Field(
        default=None,
        json_schema_extra={"format": "uri"},
        description="V4 signed URL: downloads the image with no Google credentials until "
        "url_expires_at (default 15 minutes, at most 7 days).",
    )
    url_expires_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})


def cost_of(outputs: list[Output]) -> float:
    """What a job's delivered images cost: each is priced at the size it came in."""
    return round(sum(float(o.cost_usd or 0.0) for o in outputs), 6)


class JobError(Value):
    """Why a job is not (or not only) a success."""

    code: str
    message: str
    last_error: JobError | None = Field(
        default=None, description="the error of the attempt before, when there was one"
    )
    attempt: int | None = Field(default=None, description="the attempt that met it")
    status: int | None = Field(
        default=None,
        description="Vertex AI's HTTP status, when the error was its answer (a front door "
        "answers with it, issue 28)",
    )
    deleted_outputs: list[str] | None = Field(
        default=None, description="result_too_large: the images deleted with the job"
    )
    scope: str | None = Field(
        default=None,
        description="quota_exhausted: which Vertex AI quota is spent (day, minute, shared, "
        "provisioned_throughput, unknown; issue 27)",
    )
    resets_at: dt.datetime | None = Field(
        default=None, description="quota_exhausted: when Vertex AI's quota resets"
    )


class ServedBy(Value):
    model: str
    location: str


class BlockedImage(Value):
    reason: str


class FileData(Value):
    file_uri: str = Field(alias="fileUri")
    mime_type: str = Field(alias="mimeType")


class InlineData(Value):
    mime_type: str = Field(alias="mimeType")
    data: str


class Part(Value):
    """One part of a turn in Vertex AI's `Content` JSON form: text, an image reference, and
    the thought flag and signature the model sent with it."""

    text: str | None = None
    file_data: FileData | None = Field(default=None, alias="fileData")
    inline_data: InlineData | None = Field(default=None, alias="inlineData")
    thought: bool | None = None
    thought_signature: str | None = Field(default=None, alias="thoughtSignature")


class Turn(Value):
    """One turn of a job's conversation (domain/conversation.py works on their JSON form)."""

    role: Literal["user", "model"]
    parts: list[Part]


class PendingEvent(Value):
    """An outbox entry: a committed state change whose job event is not yet published."""

    id: str  # <job id>-<sequence>: the CloudEvent's id, the same on every re-publish
    state: str
    time: dt.datetime

    @property
    def sequence(self) -> int:
        return int(self.id.rsplit("-", 1)[-1])


class Charges(Value):
    """The budget a job reserved at submit: dollars, and the counter shards charged."""

    usd: float = 0.0
    counters: list[str] = Field(default_factory=list)


class UploadSource(Value):
    """The upload that made a job: its object, and where its answer is written."""

    uri: str
    answer: str


class WebhookAttempt(Value):
    at: dt.datetime
    status: int | None = None
    error: str | None = None


class DeliveryRecord(Value):
    """One event's webhook delivery as mirrored onto the job (domain/webhooks.Delivery)."""

    event_id: str
    type: str
    status: str
    attempts: list[WebhookAttempt] = Field(default_factory=list)
    first_attempt_at: dt.datetime | None = None
    next_attempt_at: dt.datetime | None = None
    error: str | None = None
