"""The job request: one schema for the HTTP API and for uploads, checked against the catalog.

Validation happens in two passes so a caller sees every problem at once: pydantic checks the
shape of each field, then `validate_request` checks the fields against the chosen model
(sizes, ratios, counts, locations, per-model options). Every problem becomes one
`{"field", "message"}` entry of a single `InvalidRequest`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagegen.domain.catalog import Catalog, Family, ModelSpec
from imagegen.domain.webhooks import WebhookSpec
from imagegen.errors import InvalidRequest

MAX_PROMPT_CHARS = 10_000
MAX_LABELS = 64


class PersonGeneration(StrEnum):
    """One vocabulary for both families; the Vertex adapter maps it to each wire format."""

    DONT_ALLOW = "dont_allow"
    ALLOW_ADULT = "allow_adult"
    ALLOW_ALL = "allow_all"


_PERSON_ALIASES = {"allow_none": "dont_allow"}


class SafetyLevel(StrEnum):
    BLOCK_LOW_AND_ABOVE = "block_low_and_above"  # blocks the most
    BLOCK_MEDIUM_AND_ABOVE = "block_medium_and_above"
    BLOCK_ONLY_HIGH = "block_only_high"
    BLOCK_NONE = "block_none"  # blocks the fewest


# The older Vertex SDK vocabulary (used in the guide: safety_filter_level="block_some").
_SAFETY_ALIASES = {
    "block_most": "block_low_and_above",
    "block_some": "block_medium_and_above",
    "block_few": "block_only_high",
    "block_fewest": "block_none",
}

IMAGEN_LANGUAGES = ("auto", "en", "es", "hi", "ja", "ko", "pt", "zh", "zh-TW")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def sniff_image_type(data: bytes) -> str | None:
    """The MIME type of PNG, JPEG or WebP bytes, from their signature; None otherwise."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class ReferenceImage(BaseModel):
    """An input image: a gs:// object the deployment may read, or inline base64 bytes."""

    model_config = ConfigDict(extra="forbid")

    gcs_uri: str | None = Field(default=None, pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}/.+$")
    data: str | None = Field(default=None, description="base64 image bytes (PNG, JPEG or WebP)")
    mime_type: Literal["image/png", "image/jpeg", "image/webp"] | None = None

    def model_post_init(self, _context: Any) -> None:
        if (self.gcs_uri is None) == (self.data is None):
            raise ValueError("give exactly one of gcs_uri or data")

    @property
    def bucket(self) -> str:
        assert self.gcs_uri
        return self.gcs_uri[len("gs://") :].split("/", 1)[0]


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mime_type: Literal["image/png", "image/jpeg", "image/webp"] = "image/png"
    compression_quality: int | None = Field(default=None, ge=0, le=100)

    @property
    def extension(self) -> str:
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[self.mime_type]


class JobRequest(BaseModel):
    """What a caller may ask for. Optional fields left None take the model's defaults."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, min_length=1, max_length=128)
    number_of_images: int = Field(default=1, ge=1, le=8)
    aspect_ratio: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{1,2}$")
    image_size: Literal["1K", "2K", "4K"] | None = None
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    safety_filter_level: SafetyLevel | None = None
    person_generation: PersonGeneration | None = None
    add_watermark: bool = True
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    enhance_prompt: bool | None = None
    language: str | None = None
    reference_images: list[ReferenceImage] = Field(default_factory=list, max_length=14)
    region: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{1,40}$")
    output: OutputOptions = Field(default_factory=OutputOptions)
    labels: dict[str, str] = Field(default_factory=dict)
    fallback_models: list[str] = Field(default_factory=list, max_length=3)
    # Multi-turn refinement (Gemini image models): continue the conversation of this job.
    parent_job_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,128}$")
    # Keep the model's thought summaries on the job (`thoughts`); thinking models only.
    include_thoughts: bool = False
    # Where to POST this job's events (signed per Standard Webhooks); see docs/events.md.
    webhook: WebhookSpec | None = None

    @field_validator("safety_filter_level", mode="before")
    @classmethod
    def _safety_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _SAFETY_ALIASES.get(value, value)
        return value

    @field_validator("person_generation", mode="before")
    @classmethod
    def _person_alias(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return _PERSON_ALIASES.get(value, value)
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        import re

        if len(labels) > MAX_LABELS:
            raise ValueError(f"at most {MAX_LABELS} labels")
        for key, value in labels.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key):
                raise ValueError(
                    f"label key {key!r}: lower-case letters, digits, _ and -, "
                    "starting with a letter, at most 63 characters"
                )
            if not re.fullmatch(r"[a-z0-9_-]{0,63}", value):
                raise ValueError(
                    f"label {key!r} value {value!r}: lower-case letters, digits, _ and -, "
                    "at most 63 characters"
                )
        return labels


@dataclass(frozen=True)
class ValidatedRequest:
    """A request that passed every check, with the model's defaults filled in."""

    request: JobRequest  # model, region, aspect_ratio, image_size all set
    spec: ModelSpec
    warnings: list[str]
    estimated_cost_usd: float

    def to_json(self) -> dict[str, Any]:
        return self.request.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Policy:
    """What the deployment allows, from settings (kept apart so the rules stay pure)."""

    allowed_locations: tuple[str, ...] = ()
    default_location: str = ""
    reference_buckets: tuple[str, ...] = ()
    retired_models: str = "refuse"
    max_inline_image_bytes: int = 7 * 1024 * 1024
    webhook_http: bool = False  # plain-http webhooks (the local stack only)
    webhook_hosts: tuple[str, ...] = ()  # webhook host allow-list (empty: any host)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _shape_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": _field(err["loc"]), "message": err["msg"].removeprefix("Value error, ")}
        for err in exc.errors(include_url=False)
    ]


def parse_request(body: Any) -> tuple[JobRequest, list[dict[str, str]]]:
    """Shape checks: the request, and the shape problems found on the way.

    When some fields are malformed, the request is parsed again without them (a placeholder
    prompt stands in for a bad one), so the model rules can still check the other fields
    and the caller hears of every problem in one answer. InvalidRequest if even that fails.
    """
    if not isinstance(body, dict):
        raise InvalidRequest(
            "the request body must be a JSON object",
            details=[{"field": "body", "message": "expected a JSON object"}],
        )
    try:
        return JobRequest.model_validate(body), []
    except ValidationError as exc:
        problems = _shape_errors(exc)
        malformed = {err["loc"][0] for err in exc.errors() if err["loc"]}
    rest = {key: value for key, value in body.items() if key not in malformed}
    if "prompt" in malformed:
        rest["prompt"] = "-"
    try:
        return JobRequest.model_validate(rest), problems
    except ValidationError:
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        ) from None


def resolve_model(
    model_id: str, catalog: Catalog, policy: Policy, today: dt.date
) -> tuple[ModelSpec | None, list[str], str | None]:
    """The spec to run (after retirement routing), warnings, and an error message."""
    spec = catalog.get(model_id)
    if spec is None:
        return None, [], f"unknown model {model_id!r}; available: {', '.join(catalog.ids())}"
    warnings: list[str] = []
    if spec.retired(today):
        assert spec.retirement_date is not None
        retired = f"model {model_id} was retired on {spec.retirement_date.isoformat()}"
        replacement = catalog.get(spec.replacement) if spec.replacement else None
        if replacement is None:
            return None, [], retired
        if policy.retired_models != "route":
            return None, [], f"{retired}; use {replacement.id}"
        warnings.append(f"{retired}; routed to {replacement.id}")
        spec = replacement
    warning = spec.deprecation_warning(today)
    if warning:
        warnings.append(warning)
    return spec, warnings, None


def validate_request(
    body: Any, catalog: Catalog, policy: Policy, today: dt.date | None = None
) -> ValidatedRequest:
    """Check a raw request body completely; raise InvalidRequest with every problem."""
    req, problems = parse_request(body)
    malformed = {problem["field"].split(".")[0] for problem in problems}
    today = today or dt.datetime.now(dt.UTC).date()

    def bad(field: str, message: str) -> None:
        if field.split(".")[0] not in malformed:  # one message a field is enough
            problems.append({"field": field, "message": message})

    spec, warnings, model_error = resolve_model(
        req.model or catalog.default_model, catalog, policy, today
    )
    if spec is None:
        bad("model", model_error or "unknown model")
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        )

    updates: dict[str, Any] = {"model": spec.id}
    if req.webhook is not None:
        _check_webhook(req.webhook.url, policy, bad)
    if len(req.prompt) > spec.max_prompt_chars:
        bad("prompt", f"at most {spec.max_prompt_chars} characters for {spec.id}")
    if req.number_of_images > spec.max_images:
        bad("number_of_images", f"{spec.id} makes at most {spec.max_images} image(s) a request")

    size = req.image_size or spec.default_size
    updates["image_size"] = size
    if size not in spec.sizes:
        bad("image_size", f"{spec.id} offers {', '.join(spec.sizes)}; not {size}")
    ratio = req.aspect_ratio or spec.default_aspect_ratio
    updates["aspect_ratio"] = ratio
    if ratio not in spec.aspect_ratios:
        bad("aspect_ratio", f"{spec.id} offers {', '.join(spec.aspect_ratios)}; not {ratio}")

    if req.negative_prompt and not spec.negative_prompt:
        bad("negative_prompt", f"{spec.id} does not take a negative prompt")
    if req.enhance_prompt is not None and not spec.enhance_prompt:
        bad("enhance_prompt", f"{spec.id} has no prompt enhancement setting")
    if req.language is not None:
        if spec.family is not Family.PREDICT:
            bad("language", f"{spec.id} detects the prompt language itself; omit language")
        elif req.language not in IMAGEN_LANGUAGES:
            bad("language", f"one of {', '.join(IMAGEN_LANGUAGES)}")
    if not req.add_watermark and not spec.watermark_control:
        bad("add_watermark", f"{spec.id} always embeds a SynthID watermark; it cannot be off")
    if req.seed is not None:
        if not spec.seed:
            bad("seed", f"{spec.id} does not take a seed")
        elif spec.watermark_control and req.add_watermark:
            bad("seed", "a seed is honoured only with add_watermark: false (SynthID on)")

    if req.parent_job_id is not None and not spec.multi_turn:
        bad("parent_job_id", f"{spec.id} does not continue a conversation; use a Gemini model")
    if req.include_thoughts and not spec.thinking:
        bad("include_thoughts", f"{spec.id} has no thinking mode to return thoughts from")

    _check_references(req, spec, policy, bad)
    _check_region(req, spec, policy, updates, bad)
    for i, fallback in enumerate(req.fallback_models):
        other = catalog.get(fallback)
        if other is None:
            bad(f"fallback_models.{i}", f"unknown model {fallback!r}")
        elif other.family is not spec.family:
            bad(f"fallback_models.{i}", f"{fallback} speaks another API than {spec.id}")

    if problems:
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        )
    resolved = req.model_copy(update=updates)
    cost = round(spec.price(size) * req.number_of_images, 6)
    return ValidatedRequest(resolved, spec, warnings, cost)


def _check_webhook(url: str, policy: Policy, bad) -> None:
    """Early answers for webhook URLs the deployment will never call (the address checks
    happen at delivery, after DNS resolution: imagegen/netguard.py)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "https" and not policy.webhook_http:
        bad("webhook.url", "must be an https:// URL")
    elif policy.webhook_hosts and (parts.hostname or "").lower() not in policy.webhook_hosts:
        bad("webhook.url", f"{parts.hostname} is not an allowed webhook host")


def _check_references(req: JobRequest, spec: ModelSpec, policy: Policy, bad) -> None:
    refs = req.reference_images
    if len(refs) > spec.max_reference_images:
        limit = spec.max_reference_images
        bad(
            "reference_images",
            f"{spec.id} takes no reference images"
            if limit == 0
            else f"{spec.id} takes at most {limit} reference images",
        )
        return
    for i, ref in enumerate(refs):
        where = f"reference_images.{i}"
        if ref.gcs_uri is not None:
            if ref.bucket not in policy.reference_buckets:
                bad(f"{where}.gcs_uri", f"bucket {ref.bucket} is not one this deployment reads")
            continue
        try:
            raw = base64.b64decode(ref.data or "", validate=True)
        except (binascii.Error, ValueError):
            bad(f"{where}.data", "not valid base64")
            continue
        if len(raw) > policy.max_inline_image_bytes:
            bad(f"{where}.data", f"over {policy.max_inline_image_bytes} bytes once decoded")
            continue
        kind = sniff_image_type(raw)
        if kind is None or not _decodes(raw):
            bad(f"{where}.data", "not a PNG, JPEG or WebP image")
        elif ref.mime_type and ref.mime_type != kind:
            bad(f"{where}.mime_type", f"the bytes are {kind}, not {ref.mime_type}")


def _decodes(raw: bytes) -> bool:
    """Whether Pillow can parse the image; imported here so submit's cold start skips it."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
    return True


def _check_region(req: JobRequest, spec: ModelSpec, policy: Policy, updates, bad) -> None:
    allowed = [
        loc
        for loc in spec.locations
        if not policy.allowed_locations or loc in policy.allowed_locations
    ]
    if req.region is not None:
        if req.region not in spec.locations:
            bad("region", f"{spec.id} is served in {', '.join(spec.locations)}; not {req.region}")
        elif req.region not in allowed:
            bad(
                "region",
                f"this deployment does not use {req.region}; allowed: {', '.join(allowed)}",
            )
        return
    if not allowed:
        bad("model", f"{spec.id} is not served in any location this deployment allows")
        return
    if policy.default_location in allowed:
        updates["region"] = policy.default_location
    elif spec.default_location in allowed:
        updates["region"] = spec.default_location
    else:
        updates["region"] = allowed[0]


def request_fingerprint(body: Any) -> str:
    """A hash of the body as sent, key order ignored: the same Idempotency-Key with another
    fingerprint is a conflict."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
