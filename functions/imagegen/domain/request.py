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
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imagegen.domain.catalog import Catalog, ModelSpec, RetiredModel
from imagegen.domain.webhooks import WebhookSpec
from imagegen.errors import InvalidRequest

MAX_PROMPT_CHARS = 10_000
MAX_LABELS = 64
# Characters that show nothing: controls, format characters (zero-width space and joiners,
# word joiner, BOM, bidi marks, tags), separators, and the default-ignorable or blank
# letters and marks outside those categories (Hangul fillers, CGJ, Khmer inherent vowels,
# variation selectors, Braille blank; Unicode's DerivedCoreProperties.txt,
# Default_Ignorable_Code_Point). A prompt of only these is refused before it is billed.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
_INVISIBLE_OTHERS = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
) | frozenset(map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]))


def visible(text: str) -> bool:
    """Whether `text` has a character that shows (see _INVISIBLE_CATEGORIES)."""
    return any(
        c not in _INVISIBLE_OTHERS and unicodedata.category(c) not in _INVISIBLE_CATEGORIES
        for c in text
    )


class PersonGeneration(StrEnum):
    """One vocabulary for both families; the Vertex adapter maps it to each wire format."""

    DONT_ALLOW = "dont_allow"
    ALLOW_ADULT = "allow_adult"
    ALLOW_ALL = "allow_all"


_PERSON_ALIASES = {"allow_none": "dont_allow"}


class ProminentPeople(StrEnum):
    """imageConfig.prominentPeople (Vertex AI only): may the image show celebrities.
    `person_generation: dont_allow` takes precedence (google-genai's ImageConfig)."""

    ALLOW = "allow"
    BLOCK = "block"


# google-genai's enum names (ProminentPeople.ALLOW_PROMINENT_PEOPLE, ...), in any case
_PROMINENT_ALIASES = {"allow_prominent_people": "allow", "block_prominent_people": "block"}


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
_ALIASES = {
    "safety_filter_level": _SAFETY_ALIASES,
    "person_generation": _PERSON_ALIASES,
    "prominent_people": _PROMINENT_ALIASES,
}
# google-genai's flat ImageConfig spellings of `output`'s fields, folded in when parsed
_OUTPUT_SPELLINGS = {
    "output_mime_type": "mime_type",
    "output_compression_quality": "compression_quality",
}

# Vertex AI's `SafetySetting` (category, threshold, optional method SEVERITY/PROBABILITY:
# https://docs.cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/SafetySetting,
# read 2026-12-06; thresholds down to OFF as Google's REST references list them); the
# category and threshold values are the enums of the aiplatform_v1 proto of
# google-cloud-aiplatform 2.7.0. Per-category settings are sent as given; the job API's
# single `safety_filter_level` sets the first four alike (adapters/vertex_wire.py).
HarmCategory = Literal[
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
    "HARM_CATEGORY_JAILBREAK",
]
HarmThreshold = Literal[
    "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"
]


class SafetySetting(BaseModel):
    """One `safetySettings` entry: a threshold for one harm category."""

    model_config = ConfigDict(extra="forbid")

    category: HarmCategory
    threshold: HarmThreshold
    method: Literal["SEVERITY", "PROBABILITY"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _upper(cls, body: Any) -> Any:
        """Enum names in any case, as google-genai accepts them."""
        if isinstance(body, dict):
            return {k: v.strip().upper() if isinstance(v, str) else v for k, v in body.items()}
        return body


# `image_size` as the guide's `image_resolution` spells it ("4096"), mapped to a size name.
_SIZE_ALIASES = {"0.5K": "512", "1024": "1K", "2048": "2K", "4096": "4K", "1k": "1K"}
_SIZE_ALIASES.update({"2k": "2K", "4k": "4K"})
# Fields only the retired Imagen models took: translated or dropped when such a request is
# routed to its Gemini replacement, refused otherwise.
IMAGEN_ONLY = ("negative_prompt", "enhance_prompt", "language")

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


def extension(mime_type: str) -> str:
    """The file extension a stored image of `mime_type` gets (outputs and inputs)."""
    return {"image/jpeg": "jpg", "image/webp": "webp"}.get(mime_type, "png")


class JobRequest(BaseModel):
    """What a caller may ask for. Optional fields left None take the model's defaults."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    model: str | None = Field(default=None, min_length=1, max_length=128)
    # Set by validation when a retired name was routed: the name the caller asked for.
    model_requested: str | None = Field(default=None, max_length=128)
    number_of_images: int = Field(default=1, ge=1, le=8)
    aspect_ratio: str | None = Field(default=None, pattern=r"^\d{1,2}:\d{1,2}$")
    image_size: Literal["512", "1K", "2K", "4K"] | None = None
    # The guide's spelling of image_size ("4096"); folded into image_size when parsed.
    image_resolution: str | None = Field(default=None, exclude=True)
    negative_prompt: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    safety_filter_level: SafetyLevel | None = None
    person_generation: PersonGeneration | None = None
    # imageConfig.prominentPeople, where the model takes it (Vertex AI only)
    prominent_people: ProminentPeople | None = None
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
    # generationConfig.thinkingConfig.thinkingLevel, where the model takes one.
    thinking_level: Literal["minimal", "low", "medium", "high"] | None = None
    # tools: [{googleSearch: {}}] (grounding with Google Search), where the model has it.
    google_search: bool = False
    # Whether the reply may carry text: responseModalities [TEXT, IMAGE] instead of [IMAGE].
    response_text: bool = False
    # The guide's spelling of the same (["IMAGE"] or ["TEXT", "IMAGE"]); folded in when parsed.
    response_modalities: list[Literal["TEXT", "IMAGE"]] | None = Field(default=None, exclude=True)
    # systemInstruction: text the model follows for the whole request (google-genai's
    # `system_instruction="..."`, sent as a user-role Content of one text part).
    system_instruction: str | None = Field(default=None, min_length=1, max_length=MAX_PROMPT_CHARS)
    # generationConfig.mediaResolution: how finely the model reads the input images.
    media_resolution: Literal["low", "medium", "high"] | None = None
    # Per-category safetySettings, sent as given (instead of safety_filter_level's one level).
    safety_settings: list[SafetySetting] | None = Field(default=None, min_length=1, max_length=6)

    @model_validator(mode="before")
    @classmethod
    def _guide_spellings(cls, body: Any) -> Any:
        """The guide's spellings become ours: image_resolution "4096" -> image_size "4K",
        thinking_level and response_modalities in any case."""
        if not isinstance(body, dict):
            return body
        body = dict(body)
        for key in ("image_size", "image_resolution"):
            value = body.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if isinstance(value, str):
                body[key] = _SIZE_ALIASES.get(value.strip(), value.strip())
        if body.get("image_resolution") is not None and body.get("image_size") is None:
            body["image_size"] = body["image_resolution"]
        _fold_output_spellings(body)
        for key in ("thinking_level", "media_resolution"):
            if isinstance(body.get(key), str):
                value = body[key].strip().lower()
                body[key] = value.removeprefix("media_resolution_")
        modalities = body.get("response_modalities")
        if isinstance(modalities, list):
            body["response_modalities"] = [
                m.strip().upper() if isinstance(m, str) else m for m in modalities
            ]
        return body

    @model_validator(mode="after")
    def _modalities(self) -> JobRequest:
        if self.response_modalities is not None:
            if "IMAGE" not in self.response_modalities:
                raise ValueError("response_modalities must include IMAGE")
            if "TEXT" in self.response_modalities:
                self.response_text = True
        if self.safety_settings is not None:
            if self.safety_filter_level is not None:
                raise ValueError("give safety_filter_level or safety_settings, not both")
            categories = [setting.category for setting in self.safety_settings]
            if len(set(categories)) != len(categories):
                raise ValueError("safety_settings names a category twice")
        return self

    @field_validator("safety_filter_level", "person_generation", "prominent_people", mode="before")
    @classmethod
    def _alias(cls, value: Any, info: ValidationInfo) -> Any:
        """The older spellings of these two (the guide's), in any case."""
        if isinstance(value, str):
            value = value.strip().lower()
            return _ALIASES[info.field_name].get(value, value)
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, prompt: str) -> str:
        if not visible(prompt):
            raise ValueError(
                "the prompt shows nothing: only whitespace, zero-width or other invisible "
                "characters"
            )
        return prompt

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:

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


def _fold_output_spellings(body: dict[str, Any]) -> None:
    """google-genai's `output_mime_type` / `output_compression_quality` become `output`'s
    fields (the same imageOutputOptions on the wire); a clash with `output` is refused."""
    flat = {key: body.pop(key) for key in _OUTPUT_SPELLINGS if key in body}
    if not flat:
        return
    output = body.get("output", {})
    if not isinstance(output, dict):
        raise ValueError("output must be an object")
    output = dict(output)
    for key, value in flat.items():
        name = _OUTPUT_SPELLINGS[key]
        if name in output and output[name] != value:
            raise ValueError(f"{key} and output.{name} differ; give one of them")
        output[name] = value
    body["output"] = output


@dataclass(frozen=True)
class ValidatedRequest:
    """A request that passed every check, with the model and region filled in. The image
    size stays as asked (None: the model's default, which Vertex picks when none is sent,
    as google-genai leaves it out); `size` is the one it is priced and checked at."""

    request: JobRequest  # model and region set
    spec: ModelSpec
    warnings: list[str]
    estimated_cost_usd: float

    @property
    def size(self) -> str:
        return self.request.image_size or self.spec.default_size

    def to_json(self) -> dict[str, Any]:
        return self.request.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class Policy:
    """What the deployment allows, from settings (kept apart so the rules stay pure)."""

    allowed_locations: tuple[str, ...] = ()
    default_location: str = ""
    reference_buckets: tuple[str, ...] = ()
    retired_models: str = "route"
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


def _strict(body: dict[str, Any]) -> JobRequest:
    """Validate with JSON's own types: `"2"`, `true` or `2.0` is not a number of images,
    `1` is not a boolean. Pydantic's lax mode would coerce them; strict mode over JSON
    input refuses them and still reads enum values from their strings."""
    return JobRequest.model_validate_json(json.dumps(body), strict=True)


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
        return _strict(body), []
    except ValidationError as exc:
        problems = _shape_errors(exc)
        malformed = {err["loc"][0] for err in exc.errors() if err["loc"]}
    rest = {key: value for key, value in body.items() if key not in malformed}
    if "prompt" in malformed:
        rest["prompt"] = "-"
    try:
        return _strict(rest), problems
    except ValidationError:
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        ) from None


@dataclass(frozen=True)
class Resolved:
    """The model that will serve a request, and what the name the caller used implies."""

    spec: ModelSpec
    warnings: list[str]
    retired: RetiredModel | None = None  # the retired name the caller asked for, if routed


def resolve_model(
    model_id: str, catalog: Catalog, policy: Policy, today: dt.date
) -> tuple[Resolved | None, str | None]:
    """The model to run (after routing a retired name to its replacement), or an error."""
    old = catalog.retired_model(model_id)
    if old is not None:
        shut = f"model {model_id} was shut down on Vertex AI on {old.shutdown_date.isoformat()}"
        if old.replacement is None:  # not an image generator: nothing can serve it
            return None, (
                f"{shut}; it was Vertex AI's {old.purpose} model and never generated images, "
                f"so no image model can serve this request; name an image generation model "
                f"(available: {', '.join(catalog.ids())})"
            )
        replacement = catalog.get(old.replacement)
        if replacement is None:
            return None, f"{shut}; its replacement {old.replacement} is not offered here"
        if policy.retired_models != "route":
            return None, f"{shut}; use {replacement.id}"
        level = f" at thinking level {old.thinking_level.upper()}" if old.thinking_level else ""
        warning = f"{shut}; served by its replacement {replacement.id}{level}"
        return Resolved(replacement, [warning], old), None
    spec = catalog.get(model_id)
    if spec is None:
        known = ", ".join(catalog.ids())
        return None, f"unknown model {model_id!r}; available: {known}"
    warnings: list[str] = []
    if spec.retired(today):
        assert spec.shutdown_date is not None
        retired = f"model {model_id} was retired on Vertex AI on {spec.shutdown_date.isoformat()}"
        replacement = catalog.get(spec.replacement) if spec.replacement else None
        if replacement is None:
            return None, retired
        if policy.retired_models != "route":
            return None, f"{retired}; use {replacement.id}"
        warnings.append(f"{retired}; routed to {replacement.id}")
        spec = replacement
    warning = spec.deprecation_warning(today)
    if warning:
        warnings.append(warning)
    return Resolved(spec, warnings), None


def _translate_legacy(
    req: JobRequest, old: RetiredModel, spec: ModelSpec, updates: dict, warnings: list[str]
) -> None:
    """What a request written for a retired model means on its replacement. Imagen's own
    fields are translated where Gemini has an equivalent and dropped (with a warning) where
    it decides itself; the region falls back to one the replacement serves."""
    if req.thinking_level is None and old.thinking_level in spec.thinking_levels:
        updates["thinking_level"] = old.thinking_level
    if not old.takes_imagen_parameters:
        return
    if req.negative_prompt:
        warnings.append("negative_prompt is sent as part of the prompt ('Avoid: ...')")
    if req.enhance_prompt is not None:
        updates["enhance_prompt"] = None
        warnings.append("enhance_prompt dropped: Gemini image models rewrite no prompts")
    if req.language is not None:
        updates["language"] = None
        warnings.append("language dropped: Gemini image models detect the prompt's language")
    if req.region is not None and req.region not in spec.locations:
        warnings.append(
            f"region {req.region} does not serve {spec.id}; using {spec.default_location}"
        )
        updates["region"] = None


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

    if req.model_requested is not None:
        bad("model_requested", "set by the service when it routes a retired model; omit it")
    asked = req.model or catalog.default_model
    resolved, model_error = resolve_model(asked, catalog, policy, today)
    if resolved is None:
        bad("model", model_error or "unknown model")
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        )
    spec, warnings = resolved.spec, list(resolved.warnings)

    updates: dict[str, Any] = {"model": spec.id}
    if resolved.retired is not None:
        updates["model_requested"] = asked
        _translate_legacy(req, resolved.retired, spec, updates, warnings)
        req = req.model_copy(update={k: v for k, v in updates.items() if k != "model"})
    else:
        _refuse_imagen_fields(req, spec, bad)

    if req.webhook is not None:
        _check_webhook(req.webhook.url, policy, bad)
    if len(req.prompt) > spec.max_prompt_chars:
        bad("prompt", f"at most {spec.max_prompt_chars} characters for {spec.id}")
    if req.number_of_images > spec.max_images:
        bad("number_of_images", f"{spec.id} makes at most {spec.max_images} image(s) a request")

    size = _check_shape(req, spec, updates, warnings, bad)
    _check_options(req, spec, bad)
    _check_references(req, spec, policy, bad)
    _check_region(req, spec, policy, updates, bad)
    for i, fallback in enumerate(req.fallback_models):
        other = catalog.get(fallback)
        if other is None:
            bad(f"fallback_models.{i}", f"unknown model {fallback!r}")

    if problems:
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        )
    resolved_req = req.model_copy(update=updates)
    images = spec.price(size) * req.number_of_images
    inputs = spec.price_usd_per_input_image * len(req.reference_images) * req.number_of_images
    return ValidatedRequest(resolved_req, spec, warnings, round(images + inputs, 6))


def _refuse_imagen_fields(req: JobRequest, spec: ModelSpec, bad) -> None:
    """Imagen's own fields are only translated on a routed request for an Imagen name."""
    for name in IMAGEN_ONLY:
        value = getattr(req, name)
        if value not in (None, "") and (name == "enhance_prompt" or value):
            bad(name, f"{spec.id} does not take {name} (an Imagen parameter)")


def _check_shape(
    req: JobRequest, spec: ModelSpec, updates: dict[str, Any], warnings: list[str], bad
) -> str:
    """The size (the model's default when none is asked: returned), ratio and MIME type."""
    size = req.image_size or spec.default_size
    if size not in spec.sizes:
        bad("image_size", f"{spec.id} offers {', '.join(spec.sizes)}; not {size}")
    elif size in spec.preview_sizes:
        warnings.append(f"image_size {size} is a Preview feature of {spec.id}")
    # No ratio asked: none is sent, so an edit keeps its input's shape.
    ratio = req.aspect_ratio
    if ratio is not None and ratio not in spec.aspect_ratios:
        bad("aspect_ratio", f"{spec.id} offers {', '.join(spec.aspect_ratios)}; not {ratio}")
    elif ratio is not None and size in spec.sizes and ratio not in spec.sizes[size]:
        bad("aspect_ratio", f"{spec.id} offers {ratio} at {', '.join(_sizes_with(spec, ratio))}")
    if req.output.mime_type not in spec.output_mime_types:
        bad("output.mime_type", f"{spec.id} returns {', '.join(spec.output_mime_types)}")
    return size


def _check_options(req: JobRequest, spec: ModelSpec, bad) -> None:
    """The options a model has or lacks: watermark, seed, thinking, grounding, turns."""
    if not req.add_watermark:
        bad(
            "add_watermark",
            f"{spec.id} always embeds a SynthID watermark (Gemini image models cannot turn it "
            "off); send add_watermark: true or leave it out",
        )
    if req.person_generation is not None and not spec.person_generation:
        bad("person_generation", f"{spec.id} does not take person_generation")
    if req.prominent_people is not None and not spec.prominent_people:
        bad("prominent_people", f"{spec.id} does not take prominent_people")
    if req.seed is not None and not spec.seed:
        bad("seed", f"{spec.id} does not take a seed")
    if req.thinking_level is not None and req.thinking_level not in spec.thinking_levels:
        offered = ", ".join(spec.thinking_levels) or "no thinking level"
        bad("thinking_level", f"{spec.id} takes {offered}; not {req.thinking_level}")
    if req.google_search and not spec.google_search:
        bad("google_search", f"{spec.id} has no grounding with Google Search")
    if req.parent_job_id is not None and not spec.multi_turn:
        bad("parent_job_id", f"{spec.id} does not continue a conversation")
    if req.include_thoughts and not spec.thinking:
        bad("include_thoughts", f"{spec.id} has no thinking mode to return thoughts from")


def _sizes_with(spec: ModelSpec, ratio: str) -> list[str]:
    return [size for size, table in spec.sizes.items() if ratio in table]


def _check_webhook(url: str, policy: Policy, bad) -> None:
    """Early answers for webhook URLs the deployment will never call (the address checks
    happen at delivery, after DNS resolution: imagegen/netguard.py)."""

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
        problem = "not a PNG, JPEG or WebP image" if kind is None else _decode_problem(raw)
        if problem:
            bad(f"{where}.data", problem)
        elif ref.mime_type and ref.mime_type != kind:
            bad(f"{where}.mime_type", f"the bytes are {kind}, not {ref.mime_type}")


# A 7 MB file can declare any size: a 109 KB PNG of 30000 x 30000 pixels would take 2.7 GB
# to decode. 50 megapixels holds every phone and camera photo in common use.
MAX_REFERENCE_PIXELS = 50_000_000


def _decode_problem(raw: bytes) -> str | None:
    """Why the image cannot be used (None: it decodes). The size is checked from the header
    before any pixel is decoded; then the whole image is decoded (JPEG at 1/8 scale), so a
    truncated or corrupt file is a 400 here rather than a failed job. Pillow is imported
    here so submit's cold start skips it (~8 ms, `python -X importtime`): only a request with
    inline images decodes one."""

    from PIL import Image, UnidentifiedImageError

    errors = (UnidentifiedImageError, OSError, SyntaxError, ValueError)
    try:
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            if width * height > MAX_REFERENCE_PIXELS:
                return f"{width}x{height} is over {MAX_REFERENCE_PIXELS:,} pixels"
            image.verify()
        with Image.open(io.BytesIO(raw)) as image:
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
    except Image.DecompressionBombError:
        return f"over {MAX_REFERENCE_PIXELS:,} pixels"
    except errors:
        return "not a PNG, JPEG or WebP image that decodes"
    return None


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
