"""The model catalog: the one table that validation, routing, pricing and `GET /v1/models` read.

Every fact comes from Google's documentation, looked up on 2026-11-25 and recorded next to
the model as `sources` (what, URL, date read); where sources disagree the note says so and
the table holds the conservative value. Two tables: the models Vertex AI serves today
(`BUILTIN_MODELS`, all Gemini image models on `:generateContent`), and the names Google has
shut down (`RETIRED_MODELS`: every Imagen id, gemini-2.5-flash-image and the two `-preview`
ids), each with the replacement Google publishes. A request for a retired name is routed to
its replacement or refused, by deployment setting (domain/request.py).

A deployment can add or change models without a release: `IMAGEGEN_CATALOG_JSON` (JSON text)
or `IMAGEGEN_CATALOG_FILE` (a path) holds a list of model objects in the same shape as
`ModelSpec`; an entry whose `id` exists replaces the built-in one.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Lifecycle(StrEnum):
    GA = "ga"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"


Size = tuple[int, int]
READ_ON = dt.date(2026, 11, 25)  # the date every source below was read

# --- sources (read 2026-11-25) -----------------------------------------------------------
NB2_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-1-flash-image"
)
NB2_PREVIEW_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/"
    "3-1-flash-image-preview"
)
PRO_PAGE = "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-pro-image"
LITE_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/"
    "3-1-flash-lite-image"
)
LITE_API_PAGE = "https://ai.google.dev/gemini-api/docs/models/gemini-3.1-flash-lite-image"
SIZES_PAGE = "https://ai.google.dev/gemini-api/docs/image-generation#aspect-ratios-and-image-size"
RATIO_ENUM_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/reference/rest/"
    "Shared.Types/AspectRatio"
)
PRICING_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/pricing"
MIGRATION_PAGE = "https://firebase.google.com/docs/ai-logic/imagen-models-migration"
DEPRECATIONS_PAGE = "https://ai.google.dev/gemini-api/docs/deprecations"
CHANGELOG_PAGE = "https://ai.google.dev/gemini-api/docs/changelog"
# Content Credentials (C2PA), read 2026-12-06: Vertex adds them, "signed by Google LLC", to
# media of "a supported Google model" (the copy read does not list the models); Google
# DeepMind's announcement names Nano Banana Pro on Vertex AI; the Lite page says
# "SynthID + C2PA".
CONTENT_CREDENTIALS_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/content-credentials"
)
C2PA_PRO_ANNOUNCEMENT = (
    "https://deepmind.google/blog/how-were-bringing-ai-image-verification-to-the-gemini-app/"
)
C2PA_READ_ON = dt.date(2026, 12, 6)


class Source(BaseModel):
    """Where a fact was read, and when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fact: str
    url: str
    read: dt.date = READ_ON


# Pixel sizes per image size and aspect ratio (SIZES_PAGE, the Gemini 3.x image table; the
# 2K and 4K rows are exactly twice and four times 1K, 512 half of it).
_1K: dict[str, Size] = {
    "1:1": (1024, 1024),
    "1:4": (512, 2048),
    "1:8": (384, 3072),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:1": (2048, 512),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "8:1": (3072, 384),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
CLASSIC_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")


def _table(ratios: tuple[str, ...], factor: float) -> dict[str, Size]:
    return {r: (int(_1K[r][0] * factor), int(_1K[r][1] * factor)) for r in ratios}


_NB2_RATIOS = tuple(r for r in _1K)  # the 14 ratios, in SIZES_PAGE order
NB2_SIZES: dict[str, dict[str, Size]] = {
    # 21:9 at 512 is listed as 792x168 on SIZES_PAGE, which is not 21:9 (792x336 would be):
    # not offered until Google's table is consistent.
    "512": _table(tuple(r for r in _NB2_RATIOS if r != "21:9"), 0.5),
    "1K": _table(_NB2_RATIOS, 1),
    "2K": _table(_NB2_RATIOS, 2),
    "4K": _table(_NB2_RATIOS, 4),
}
PRO_SIZES = {"1K": _table(CLASSIC_RATIOS, 1), "2K": _table(CLASSIC_RATIOS, 2)}
PRO_SIZES["4K"] = _table(CLASSIC_RATIOS, 4)
LITE_SIZES = {"1K": _table(CLASSIC_RATIOS, 1)}

OUTPUT_MIME_TYPES = ["image/png", "image/jpeg"]


def _price(tokens: dict[str, int], usd_per_million: float) -> dict[str, float]:
    return {size: round(n * usd_per_million / 1_000_000, 6) for size, n in tokens.items()}


def _billing(
    output_tokens: dict[str, int], input_image_tokens: int, usd_out: float, usd_in: float
) -> dict[str, Any]:
    """A model's token counts and the prices they make: tokens x the per-1M-token rate of
    image output (`usd_out`) and of input (`usd_in`), per size and per input image."""
    return {
        "output_tokens": output_tokens,
        "input_image_tokens": input_image_tokens,
        "price_usd_per_image": _price(output_tokens, usd_out),
        "price_usd_per_input_image": _price({"in": input_image_tokens}, usd_in)["in"],
    }


class ModelSpec(BaseModel):
    """Everything the service needs to know about one model id Vertex AI serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    lifecycle: Lifecycle
    release_date: dt.date | None = None
    shutdown_date: dt.date | None = None  # None: no shutdown announced
    locations: list[str] = Field(min_length=1)
    default_location: str
    # size name ("512", "1K", "2K", "4K") -> aspect ratio -> (width, height)
    sizes: dict[str, dict[str, Size]]
    default_size: str = "1K"
    preview_sizes: list[str] = Field(default_factory=list)  # sizes Google still calls Preview
    max_images: int = Field(ge=1, default=4)  # images a job may ask for (one call each)
    max_reference_images: int = Field(ge=0, default=14)
    max_prompt_chars: int = 8000
    seed: bool = True  # generationConfig.seed
    multi_turn: bool = True
    thinking: bool = False  # can return thought summaries (include_thoughts)
    thinking_levels: list[str] = Field(default_factory=list)  # accepted thinkingLevel values
    google_search: bool = False  # tools: [{googleSearch: {}}]
    output_mime_types: list[str] = Field(default_factory=lambda: list(OUTPUT_MIME_TYPES))
    output_tokens: dict[str, int] = Field(default_factory=dict)  # per generated image, by size
    input_image_tokens: int = 0
    price_usd_per_image: dict[str, float]  # by size name
    price_usd_per_input_image: float = 0.0
    replacement: str | None = None  # for a model a deployment marks with a shutdown date
    # Vertex attaches C2PA Content Credentials signed by Google to this model's images (a
    # sourced fact): an image that arrives without them, or with invalid ones, is a warning
    # on the job (docs/architecture.md, "Provenance").
    content_credentials: bool = False
    sources: list[Source] = Field(default_factory=list)
    notes: str = ""

    @property
    def aspect_ratios(self) -> list[str]:
        """Every ratio some size offers, in the table's order."""
        out: dict[str, None] = {}
        for table in self.sizes.values():
            out.update(dict.fromkeys(table))
        return list(out)

    def pixel_size(self, aspect_ratio: str, size: str) -> Size:
        return self.sizes[size][aspect_ratio]

    def price(self, size: str) -> float:
        return self.price_usd_per_image[size]

    def size_of(self, width: int, height: int) -> str | None:
        """The size name whose table holds exactly these pixels, if any."""
        for name, table in self.sizes.items():
            if (width, height) in table.values():
                return name
        return None

    def nearest_size(self, width: int, height: int) -> str:
        """The size name closest in pixel count (pricing an image the table does not list)."""
        pixels = width * height

        def distance(name: str) -> float:
            w, h = next(iter(self.sizes[name].values()))
            return abs(w * h - pixels)

        return min(self.sizes, key=distance)

    def retired(self, today: dt.date) -> bool:
        return self.shutdown_date is not None and today >= self.shutdown_date

    def deprecation_warning(self, today: dt.date) -> str | None:
        if self.lifecycle is not Lifecycle.DEPRECATED and not self.shutdown_date:
            return None
        when = f", shutting down {self.shutdown_date.isoformat()}" if self.shutdown_date else ""
        instead = f"; use {self.replacement}" if self.replacement else ""
        return f"model {self.id} is deprecated{when}{instead}"


class RetiredModel(BaseModel):
    """A model id Google has shut down, and what serves its requests now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    shutdown_date: dt.date
    replacement: str
    thinking_level: str | None = None  # the level Google's migration table pairs with it
    takes_imagen_parameters: bool = False  # negative_prompt, enhance_prompt, language, ...
    sources: list[Source] = Field(default_factory=list)
    notes: str = ""


NB2 = ModelSpec(
    id="gemini-3.1-flash-image",
    display_name="Gemini 3.1 Flash Image (Nano Banana 2)",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 5, 28),
    locations=["global"],
    default_location="global",
    sizes=NB2_SIZES,
    preview_sizes=["4K"],
    thinking=True,
    thinking_levels=["minimal", "high"],
    google_search=True,
    **_billing({"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}, 1120, 60.0, 0.50),
    sources=[
        Source(
            fact="GA 2026-05-28; global only; 14 reference images; resolutions 512/1K/2K, "
            "4K in Preview; 747/1120/1680/2520 output tokens, 1120 tokens an input image",
            url=NB2_PAGE,
        ),
        Source(fact="pixel size of every size x aspect ratio", url=SIZES_PAGE),
        Source(fact="aspect ratios 1:4, 4:1, 1:8, 8:1 in the API enum", url=RATIO_ENUM_PAGE),
        Source(
            fact="thinking levels MINIMAL and HIGH (Imagen replacement table)", url=MIGRATION_PAGE
        ),
        Source(fact="$60 per 1M image output tokens; $0.50 per 1M input tokens", url=PRICING_PAGE),
        Source(fact="preview id discontinued 2026-07-17", url=NB2_PREVIEW_PAGE),
        Source(
            fact="Content Credentials: not listed for this model on a Vertex page read "
            "(third-party articles say it carries C2PA): content_credentials stays off, so a "
            "missing manifest is no warning; outputs are still verified",
            url=CONTENT_CREDENTIALS_PAGE,
            read=C2PA_READ_ON,
        ),
    ],
    notes=(
        "SynthID is always embedded. Sources disagree on 9:21: the GA model page lists it, the "
        "API's AspectRatio enum and the preview page do not, so it is not offered. 21:9 at 512 "
        "is listed as 792x168 (not 21:9) and is not offered. A third-party note says the Gemini "
        "Developer API shuts this id down 2026-10-29; the Vertex AI page announces no shutdown."
    ),
)

PRO = ModelSpec(
    id="gemini-3-pro-image",
    display_name="Gemini 3 Pro Image (Nano Banana Pro)",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 5, 28),
    # The model page lists global and US regions; only those read in full are listed here.
    locations=["global", "us-central1", "us-east1"],
    default_location="global",
    sizes=PRO_SIZES,
    preview_sizes=["4K"],
    thinking=True,  # always thinks; no thinking level documented for this model
    google_search=True,
    content_credentials=True,
    **_billing({"1K": 1120, "2K": 1120, "4K": 2000}, 560, 120.0, 2.0),
    sources=[
        Source(
            fact="GA 2026-05-28; 14 reference images; 10 aspect ratios; 1K/2K, 4K in Preview; "
            "1120 (1K, 2K) / 2000 (4K) output tokens, 560 tokens an input image; global, "
            "us-central1, us-east1",
            url=PRO_PAGE,
        ),
        Source(fact="pixel sizes (same 1K table, 2K/4K doubled)", url=SIZES_PAGE),
        Source(fact="$120 per 1M image output tokens; $2 per 1M input tokens", url=PRICING_PAGE),
        Source(
            fact="C2PA Content Credentials in Nano Banana Pro images on Vertex AI",
            url=C2PA_PRO_ANNOUNCEMENT,
            read=C2PA_READ_ON,
        ),
        Source(
            fact="Content Credentials signed by Google LLC on supported models' media",
            url=CONTENT_CREDENTIALS_PAGE,
            read=C2PA_READ_ON,
        ),
    ],
    notes=(
        "SynthID is always embedded; thinking model (thought summaries on request). The model "
        "page's region list was cut off after us-east1 in the copy read: only the regions read "
        "are offered; add others through the catalog override once confirmed."
    ),
)

LITE = ModelSpec(
    id="gemini-3.1-flash-lite-image",
    display_name="Gemini 3.1 Flash-Lite Image (Nano Banana 2 Lite)",
    lifecycle=Lifecycle.GA,
    release_date=dt.date(2026, 6, 30),
    locations=["global"],
    default_location="global",
    sizes=LITE_SIZES,
    thinking=False,
    thinking_levels=["minimal", "high"],
    google_search=False,
    content_credentials=True,
    **_billing({"1K": 1120}, 1120, 30.0, 0.25),
    sources=[
        Source(fact="GA 2026-06-30; global; 1K only; 14 reference images", url=LITE_PAGE),
        Source(
            fact="1K only (2K and 4K not supported); thinking minimal and high; no Google "
            "Search grounding; 4,096 output tokens",
            url=LITE_API_PAGE,
        ),
        Source(fact="$30 per 1M image output tokens ($0.0336 a 1K image)", url=PRICING_PAGE),
        Source(fact="SynthID + C2PA (Content Credentials)", url=LITE_PAGE),
    ],
    notes=(
        "SynthID (always on) + C2PA. Sources disagree on ratios: the Vertex page lists 14 "
        "(with 1:4, 4:1, 1:8, 8:1), the Gemini API page lists 10: the 10 are offered. Pixel "
        "sizes: the Gemini 3.x 1K table (the pages give 1K as 1024x1024)."
    ),
)

BUILTIN_MODELS: tuple[ModelSpec, ...] = (NB2, LITE, PRO)
DEFAULT_MODEL = NB2.id

_IMAGEN_SHUTDOWN = dt.date(2026, 6, 24)
_IMAGEN_SOURCES = [
    Source(
        fact="every Imagen model shut down; replacement table (imagen-4.0-fast -> "
        "gemini-3.1-flash-image at MINIMAL, imagen-4.0 -> at HIGH, imagen-4.0-ultra -> "
        "gemini-3-pro-image, imagen-3.0-capability -> gemini-3.1-flash-image)",
        url=MIGRATION_PAGE,
    ),
    Source(fact="Imagen 4 shut down 2026-08-17 (Gemini API)", url=CHANGELOG_PAGE),
]
_IMAGEN_NOTE = (
    "Shutdown dates disagree between pages (2026-06-24, 2026-06-30, 'as early as' 2026-08-17); "
    "the earliest is recorded. Imagen 3 ids are routed like imagen-4.0 (HIGH)."
)


def _imagen(model_id: str, name: str, replacement: str, level: str | None) -> RetiredModel:
    return RetiredModel(
        id=model_id,
        display_name=name,
        shutdown_date=_IMAGEN_SHUTDOWN,
        replacement=replacement,
        thinking_level=level,
        takes_imagen_parameters=True,
        sources=_IMAGEN_SOURCES,
        notes=_IMAGEN_NOTE,
    )


RETIRED_MODELS: tuple[RetiredModel, ...] = (
    _imagen("imagen-3.0-generate-001", "Imagen 3", NB2.id, "high"),
    _imagen("imagen-3.0-generate-002", "Imagen 3 (002)", NB2.id, "high"),
    _imagen("imagen-3.0-fast-generate-001", "Imagen 3 Fast", NB2.id, "high"),
    _imagen("imagen-3.0-capability-001", "Imagen 3 Capability", NB2.id, None),
    _imagen("imagen-4.0-generate-001", "Imagen 4", NB2.id, "high"),
    _imagen("imagen-4.0-fast-generate-001", "Imagen 4 Fast", NB2.id, "minimal"),
    _imagen("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra", PRO.id, None),
    RetiredModel(
        id="gemini-2.5-flash-image",
        display_name="Gemini 2.5 Flash Image (Nano Banana)",
        shutdown_date=dt.date(2026, 10, 2),
        replacement=NB2.id,
        sources=[
            Source(fact="shutdown earliest October 2026", url=DEPRECATIONS_PAGE),
        ],
        notes="Released 2025-10-02; the deprecations page gives 'earliest October 2026'.",
    ),
    RetiredModel(
        id="gemini-3-pro-image-preview",
        display_name="Gemini 3 Pro Image Preview",
        shutdown_date=dt.date(2026, 6, 25),
        replacement=PRO.id,
        sources=[Source(fact="discontinued; migrate before 2026-07-17", url=NB2_PREVIEW_PAGE)],
        notes="Vertex AI: replace before 2026-07-17; the Gemini API shut it 2026-06-25 "
        "(earliest recorded).",
    ),
    RetiredModel(
        id="gemini-3.1-flash-image-preview",
        display_name="Gemini 3.1 Flash Image Preview",
        shutdown_date=dt.date(2026, 6, 25),
        replacement=NB2.id,
        sources=[Source(fact="discontinued; migrate before 2026-07-17", url=NB2_PREVIEW_PAGE)],
        notes="Vertex AI: replace before 2026-07-17; the Gemini API shut it 2026-06-25 "
        "(earliest recorded).",
    ),
)

_specs_adapter = TypeAdapter(list[ModelSpec])


class Catalog:
    """The models this deployment offers, keyed by id, in display order, and the retired
    names it knows the replacements of."""

    def __init__(
        self,
        models: list[ModelSpec],
        default_model: str = DEFAULT_MODEL,
        retired: tuple[RetiredModel, ...] = RETIRED_MODELS,
    ) -> None:
        self._models = {m.id: m for m in models}
        if default_model not in self._models:
            raise ValueError(f"default model {default_model!r} is not in the catalog")
        self.default_model = default_model
        # a deployment's override may bring a retired id back as a served model
        self._retired = {r.id: r for r in retired if r.id not in self._models}

    def get(self, model_id: str) -> ModelSpec | None:
        return self._models.get(model_id)

    def retired_model(self, model_id: str) -> RetiredModel | None:
        return self._retired.get(model_id)

    def retired_models(self) -> list[RetiredModel]:
        return list(self._retired.values())

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._models[model_id]

    def __iter__(self):
        return iter(self._models.values())

    def ids(self) -> list[str]:
        return list(self._models)

    def with_overrides(self, overrides: list[ModelSpec]) -> Catalog:
        merged = dict(self._models)
        merged.update({m.id: m for m in overrides})
        return Catalog(list(merged.values()), self.default_model, tuple(self._retired.values()))


def parse_overrides(text: str) -> list[ModelSpec]:
    """Parse a deployment's catalog override (a JSON list of model objects)."""
    return _specs_adapter.validate_python(json.loads(text))


@cache
def load_catalog(override_json: str = "", override_file: str = "") -> Catalog:
    """The built-in table plus the deployment's overrides; cached per instance."""
    catalog = Catalog(list(BUILTIN_MODELS))
    if override_file:
        catalog = catalog.with_overrides(parse_overrides(Path(override_file).read_text()))
    if override_json:
        catalog = catalog.with_overrides(parse_overrides(override_json))
    return catalog


# --- the live overlay (issue 17) ---------------------------------------------------------
# A deployment's catalog is the table above plus an overlay kept in Firestore
# (adapters/catalog_firestore.py): per model a partial entry merged onto the code's one (or a
# whole new entry), and the models it has retired with their replacement. The merged result
# is checked by the same schema (ModelSpec / RetiredModel), so an overlay that would make an
# invalid model is refused before it is stored.


class OverlayRetirement(BaseModel):
    """A model the deployment retired at run time: by an admin, a 404 from Vertex or the
    daily Model Garden check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    replacement: str
    shutdown_date: dt.date
    reason: str = ""
    source: str = "admin"  # admin | vertex_404 | model_garden


class Overlay(BaseModel):
    """What the deployment changed on top of the code's table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, dict] = Field(default_factory=dict)  # id -> partial ModelSpec fields
    retired: dict[str, OverlayRetirement] = Field(default_factory=dict)
    default_model: str | None = None


def apply_overlay(base: Catalog, overlay: Overlay) -> Catalog:
    """The code's catalog with the overlay applied; raises ValueError (pydantic's
    ValidationError is one) when the result breaks the schema or names unknown models."""
    merged = {spec.id: spec for spec in base}
    for model_id, patch in overlay.models.items():
        if patch.get("id", model_id) != model_id:
            raise ValueError(f"overlay entry {model_id!r} names another id")
        current = merged.get(model_id)
        fields = {**(current.model_dump() if current else {}), **patch, "id": model_id}
        merged[model_id] = ModelSpec.model_validate(fields)
    retired = {r.id: r for r in base.retired_models()}
    for model_id, gone in overlay.retired.items():
        if gone.replacement not in merged or gone.replacement in overlay.retired:
            raise ValueError(f"replacement {gone.replacement!r} of {model_id} is not served")
        spec = merged.pop(model_id, None)
        retired[model_id] = RetiredModel(
            id=model_id,
            display_name=spec.display_name if spec else model_id,
            shutdown_date=gone.shutdown_date,
            replacement=gone.replacement,
            sources=[Source(fact=f"retired ({gone.source}): {gone.reason}", url="overlay")],
            notes=gone.reason,
        )
    default = overlay.default_model or base.default_model
    while default in overlay.retired:  # the default itself was retired: its replacement
        default = overlay.retired[default].replacement
    return Catalog(list(merged.values()), default, tuple(retired.values()))


def replacement_for(catalog: Catalog, spec: ModelSpec) -> str | None:
    """What serves a model's requests once it is gone: its own `replacement`, else the
    deployment's default model (when that is another model)."""
    if spec.replacement and catalog.get(spec.replacement) and spec.replacement != spec.id:
        return spec.replacement
    return catalog.default_model if catalog.default_model != spec.id else None
