"""The model catalog: the one table that validation, routing, pricing and `GET /v1/models` read.

The built-in table is `domain/lineup.py` (the models Vertex AI serves today and the ids Google
shut down, every fact with its source); the schema is `domain/catalog_schema.py`. A request
for a retired name is routed to its replacement or refused, by deployment setting
(domain/request.py).

A deployment can add or change models without a release: `IMAGEGEN_CATALOG_JSON` (JSON text)
or `IMAGEGEN_CATALOG_FILE` (a path) holds a list of model objects in the same shape as
`ModelSpec`; an entry whose `id` exists replaces the built-in one. At run time the overlay
in Firestore does the same (below, and services/live_catalog.py).
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from imagegen.domain.catalog_schema import (
    Lifecycle,
    ModelSpec,
    Platform,
    PlatformNotice,
    RetiredModel,
    Source,
)
from imagegen.domain.lineup import BUILTIN_MODELS, DEFAULT_MODEL, READ_ON, RETIRED_MODELS

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_MODEL",
    "READ_ON",
    "RETIRED_MODELS",
    "Catalog",
    "Lifecycle",
    "ModelSpec",
    "Overlay",
    "OverlayRetirement",
    "Platform",
    "PlatformNotice",
    "RetiredModel",
    "Source",
    "apply_overlay",
    "load_catalog",
    "parse_overrides",
    "replacement_for",
]

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
            sources=[
                Source(
                    fact=f"retired ({gone.source}): {gone.reason}",
                    url="overlay",
                    read=gone.shutdown_date,
                    fields=("shutdown_date", "replacement"),
                )
            ],
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
