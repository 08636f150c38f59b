"""The model catalog: the one table that validation, routing, pricing and `GET /v1/models` read.

Facts come from the Vertex AI model pages (see docs/architecture.md, "Facts the code relies
on"). A deployment can add or change models without a release: `IMAGEGEN_CATALOG_JSON`
(JSON text) or `IMAGEGEN_CATALOG_FILE` (a path) holds a list of model objects in the same
shape as `ModelSpec`; an entry whose `id` exists replaces the built-in one.
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Family(StrEnum):
    """Which Vertex method serves a model: the wire formats differ completely."""

    PREDICT = "predict"  # Imagen: publishers/google/models/{m}:predict
    GENERATE_CONTENT = "generateContent"  # Gemini image: ...:generateContent


class Lifecycle(StrEnum):
    GA = "ga"
    PREVIEW = "preview"
    DEPRECATED = "deprecated"


Size = tuple[int, int]

# Pixel dimensions per aspect ratio, as the model pages list them.
_IMAGEN_1K: dict[str, Size] = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}
_IMAGEN_2K: dict[str, Size] = {
    "1:1": (2048, 2048),
    "3:4": (1792, 2560),
    "4:3": (2560, 1792),
    "9:16": (1536, 2816),
    "16:9": (2816, 1536),
}
_FLASH_IMAGE_1K: dict[str, Size] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
_PRO_IMAGE_1K: dict[str, Size] = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}


def _scaled(table: dict[str, Size], factor: int) -> dict[str, Size]:
    return {ratio: (w * factor, h * factor) for ratio, (w, h) in table.items()}


_PRO_IMAGE_SIZES = {
    "1K": _PRO_IMAGE_1K,
    "2K": _scaled(_PRO_IMAGE_1K, 2),
    "4K": _scaled(_PRO_IMAGE_1K, 4),
}

IMAGEN_LOCATIONS = ["us-central1", "europe-west4", "asia-northeast1"]
FLASH_IMAGE_LOCATIONS = [
    "global",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west4",
    "europe-central2",
    "europe-north1",
    "europe-southwest1",
    "europe-west1",
    "europe-west4",
    "europe-west8",
]
IMAGEN_DEPRECATION = (
    "Google marks every Imagen endpoint deprecated (shutdown announced for as early as "
    "June 2026); migrate to gemini-2.5-flash-image. Set retirement_date through the catalog "
    "override once the date is confirmed for your project."
)


class ModelSpec(BaseModel):
    """Everything the service needs to know about one model id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    family: Family
    lifecycle: Lifecycle
    locations: list[str] = Field(min_length=1)
    default_location: str
    # size name ("1K", "2K", "4K") -> aspect ratio -> (width, height)
    sizes: dict[str, dict[str, Size]]
    default_size: str = "1K"
    default_aspect_ratio: str = "1:1"
    max_images: int = Field(ge=1)
    max_reference_images: int = Field(ge=0, default=0)
    max_prompt_chars: int = 8000
    watermark_control: bool = False  # can the caller turn SynthID off (Imagen only)
    seed: bool = False
    negative_prompt: bool = False
    enhance_prompt: bool = False
    multi_turn: bool = False
    thinking: bool = False  # reasons before drawing; can return thought summaries
    storage_uri: bool = False  # Vertex can write outputs to GCS itself
    price_usd_per_image: dict[str, float]  # by size name
    retirement_date: dt.date | None = None
    replacement: str | None = None
    notes: str = ""

    @property
    def aspect_ratios(self) -> list[str]:
        return list(self.sizes[self.default_size])

    def pixel_size(self, aspect_ratio: str, size: str) -> Size:
        return self.sizes[size][aspect_ratio]

    def price(self, size: str) -> float:
        return self.price_usd_per_image[size]

    def retired(self, today: dt.date) -> bool:
        return self.retirement_date is not None and today >= self.retirement_date

    def deprecation_warning(self, today: dt.date) -> str | None:
        if self.lifecycle is not Lifecycle.DEPRECATED:
            return None
        when = f", retiring {self.retirement_date.isoformat()}" if self.retirement_date else ""
        instead = f"; use {self.replacement}" if self.replacement else ""
        return f"model {self.id} is deprecated{when}{instead}"


def _imagen(
    model_id: str,
    name: str,
    *,
    two_k: bool,
    price: float,
    enhance: bool = False,
    max_images: int = 4,
) -> ModelSpec:
    sizes = {"1K": _IMAGEN_1K, **({"2K": _IMAGEN_2K} if two_k else {})}
    return ModelSpec(
        id=model_id,
        display_name=name,
        family=Family.PREDICT,
        lifecycle=Lifecycle.DEPRECATED,
        locations=IMAGEN_LOCATIONS,
        default_location="us-central1",
        sizes=sizes,
        max_images=max_images,
        max_prompt_chars=1920,  # 480 tokens, at ~4 characters a token
        watermark_control=True,
        seed=True,
        # negativePrompt was dropped after the first Imagen 3 models
        negative_prompt=model_id in ("imagen-3.0-generate-001", "imagen-3.0-fast-generate-001"),
        enhance_prompt=enhance,
        storage_uri=True,
        price_usd_per_image=dict.fromkeys(sizes, price),
        replacement="gemini-2.5-flash-image",
        notes=IMAGEN_DEPRECATION,
    )


BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    _imagen("imagen-3.0-generate-001", "Imagen 3", two_k=False, price=0.04),
    _imagen("imagen-3.0-generate-002", "Imagen 3 (002)", two_k=False, price=0.04, enhance=True),
    _imagen("imagen-3.0-fast-generate-001", "Imagen 3 Fast", two_k=False, price=0.02),
    _imagen("imagen-4.0-generate-001", "Imagen 4", two_k=True, price=0.04, enhance=True),
    _imagen("imagen-4.0-fast-generate-001", "Imagen 4 Fast", two_k=False, price=0.02, enhance=True),
    _imagen(
        "imagen-4.0-ultra-generate-001",
        "Imagen 4 Ultra",
        two_k=True,
        price=0.06,
        enhance=True,
        max_images=1,
    ),
    ModelSpec(
        id="gemini-2.5-flash-image",
        display_name="Gemini 2.5 Flash Image (Nano Banana)",
        family=Family.GENERATE_CONTENT,
        lifecycle=Lifecycle.GA,
        locations=FLASH_IMAGE_LOCATIONS,
        default_location="global",
        sizes={"1K": _FLASH_IMAGE_1K},
        max_images=4,
        max_reference_images=3,
        multi_turn=True,
        seed=True,  # generationConfig.seed; SynthID stays on
        price_usd_per_image={"1K": 0.039},  # 1290 output tokens at $30 / 1M
        notes="SynthID is always embedded.",
    ),
    ModelSpec(
        id="gemini-3-pro-image-preview",
        display_name="Gemini 3 Pro Image Preview (Nano Banana Pro)",
        family=Family.GENERATE_CONTENT,
        lifecycle=Lifecycle.PREVIEW,
        locations=["global"],
        default_location="global",
        sizes=_PRO_IMAGE_SIZES,
        max_images=4,
        max_reference_images=14,
        multi_turn=True,
        seed=True,  # generationConfig.seed; SynthID stays on
        # 1120 tokens (1K/2K) or 2000 tokens (4K) at $120 / 1M output image tokens
        price_usd_per_image={"1K": 0.134, "2K": 0.134, "4K": 0.24},
        replacement="gemini-3-pro-image",
        thinking=True,
        notes="Preview; SynthID is always embedded; thinking model.",
    ),
    ModelSpec(
        id="gemini-3-pro-image",
        display_name="Gemini 3 Pro Image (Nano Banana Pro)",
        family=Family.GENERATE_CONTENT,
        lifecycle=Lifecycle.GA,
        locations=["global"],
        default_location="global",
        sizes=_PRO_IMAGE_SIZES,
        max_images=4,
        max_reference_images=14,
        multi_turn=True,
        seed=True,  # generationConfig.seed; SynthID stays on
        price_usd_per_image={"1K": 0.134, "2K": 0.134, "4K": 0.24},
        thinking=True,
        notes="SynthID is always embedded; thinking model.",
    ),
)

DEFAULT_MODEL = "gemini-2.5-flash-image"

_specs_adapter = TypeAdapter(list[ModelSpec])


class Catalog:
    """The models this deployment offers, keyed by id, in display order."""

    def __init__(self, models: list[ModelSpec], default_model: str = DEFAULT_MODEL) -> None:
        self._models = {m.id: m for m in models}
        if default_model not in self._models:
            raise ValueError(f"default model {default_model!r} is not in the catalog")
        self.default_model = default_model

    def get(self, model_id: str) -> ModelSpec | None:
        return self._models.get(model_id)

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._models[model_id]

    def __iter__(self):
        return iter(self._models.values())

    def ids(self) -> list[str]:
        return list(self._models)

    def with_overrides(self, overrides: list[ModelSpec]) -> Catalog:
        merged = dict(self._models)
        merged.update({m.id: m for m in overrides})
        return Catalog(list(merged.values()), self.default_model)


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
