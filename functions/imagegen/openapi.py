"""The OpenAPI 3.1 document of the HTTP API, generated from the pydantic models the code
uses (the request: JobRequest; the job: domain.job.JobView; usage and errors below), so the
document and the answers cannot drift apart. tests/e2e/test_openapi_conformance.py checks
real answers of the running stack against it."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from imagegen import __version__, openapi_batches
from imagegen.domain.batch_view import BatchView, SubmittedBatchView
from imagegen.domain.catalog import Overlay
from imagegen.domain.job_view import JobView
from imagegen.domain.request import JobRequest
from imagegen.openapi_events import extend as extend_with_events

REF = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    field: str = Field(description="the request field (a dotted path) or header at fault")
    message: str
    # a batch with no valid line (issue 29): each line's own error, field "line <n>"
    line: int | None = Field(default=None, description="the batch line at fault (1-based)")
    error: dict[str, Any] | None = Field(
        default=None, description="that line's error, as the job API gives it"
    )


class ErrorInfo(BaseModel):
    code: str = Field(description="machine-readable: invalid_request, not_found, ...")
    message: str
    details: list[ErrorDetail] | None = Field(
        default=None, description="one entry per bad field (400s)"
    )


class Error(BaseModel):
    """Every 4xx and 5xx answer (imagegen/errors.py, ImagegenError.to_json)."""

    error: ErrorInfo


class UsageTotals(BaseModel):
    jobs: int
    images_requested: int
    images_produced: int
    estimated_usd: float
    cost_usd: float
    states: dict[str, int] = Field(description="jobs per state")


class Usage(BaseModel):
    """`GET /v1/usage`: images, jobs and dollars of a UTC day or month."""

    model_config = ConfigDict(extra="forbid")

    day: str | None = Field(default=None, description="YYYY-MM-DD, when asked by day")
    month: str | None = Field(default=None, description="YYYY-MM, when asked by month")
    caller: str | None = Field(description="whose usage; null: every caller (admins)")
    total: UsageTotals
    by_caller: dict[str, UsageTotals]
    by_model: dict[str, UsageTotals] = Field(description="by the model that served the job")


class Models(BaseModel):
    """`GET /v1/models`: today's lineup, then the retired names with their replacement."""

    models: list[dict[str, Any]] = Field(
        description="one entry a model: its catalog facts, sizes, prices and sources"
    )
    default: str
    catalog: dict[str, Any] | None = Field(
        default=None, description="the live catalog's version and recent changes"
    )


class Health(BaseModel):
    ok: bool


class CatalogRecord(BaseModel):
    """The live catalog (admins, issue 17): the overlay, its version and history; `GET`
    adds every model's facts, a retirement whether it wrote anything."""

    model_config = ConfigDict(extra="allow")

    version: int
    updated_at: str | None = None
    updated_by: str | None = None
    overlay: Overlay
    history: list[dict[str, Any]]


class CatalogDiff(BaseModel):
    changes: list[dict[str, Any]] = Field(description="field by field, model by model")


class Retirement(BaseModel):
    """`POST /v1/catalog/retire`: retire a served model now, in favour of another."""

    model: str
    replacement: str


class Adoption(BaseModel):
    """`POST /v1/catalog/models`: add a model to the live catalog without a release."""

    id: str
    from_discovered: bool = Field(
        default=True, description="start from what the daily Model Garden check found"
    )
    like: str | None = Field(default=None, description="copy a served model's facts")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="model facts (ModelSpec fields) that differ or lack"
    )


def _schemas() -> dict[str, Any]:
    """Every component schema, generated. The job view keeps its stored request and webhook
    records as they are (domain/job.py); here they point at their own schemas."""
    _, top = models_json_schema(
        [
            (JobRequest, "validation"),
            (JobView, "serialization"),
            (Usage, "serialization"),
            (Models, "serialization"),
            (Error, "serialization"),
            (Health, "serialization"),
            (Overlay, "validation"),
            (CatalogRecord, "serialization"),
            (CatalogDiff, "serialization"),
            (Retirement, "validation"),
            (Adoption, "validation"),
            (SubmittedBatchView, "serialization"),
            (BatchView, "serialization"),
            *openapi_batches.MODELS,
        ],
        ref_template=REF,
    )
    schemas = top["$defs"]
    schemas["Job"] = schemas.pop("JobView")  # the name clients have known it by
    schemas["Output"] = schemas.pop("SignedOutput")  # likewise: an output as answers show it
    schemas = _renamed(schemas, "SignedOutput", "Output")
    for name in ("SubmittedBatchView", "BatchView"):  # their titles: SubmittedBatch, Batch
        schemas[name.removesuffix("View")] = schemas.pop(name)
    schemas = _renamed(
        _renamed(schemas, "BatchView", "Batch"), "SubmittedBatchView", "SubmittedBatch"
    )
    for name in ("Batch", "SubmittedBatch"):  # a field without a value is left out
        props = schemas[name]["properties"]
        for field, prop in props.items():
            props[field] = _without_null(prop)
    job = schemas["Job"]["properties"]
    for name, prop in job.items():  # a field without a value is left out, never null
        job[name] = _without_null(prop)
    job["request"] = {"$ref": REF.format(model="JobRequest")}
    job["webhook_deliveries"] = {
        "type": "object",
        "additionalProperties": {"$ref": REF.format(model="WebhookDelivery")},
        "description": job["webhook_deliveries"]["description"],
    }
    return schemas


def _renamed(value: Any, old: str, new: str) -> Any:
    """`value` with every reference to schema `old` pointing at `new` instead."""
    if isinstance(value, dict):
        return {
            key: REF.format(model=new)
            if key == "$ref" and item == REF.format(model=old)
            else _renamed(item, old, new)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_renamed(item, old, new) for item in value]
    return value


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """`X | None = None` -> X (its title and description kept, no null default)."""
    options = prop.get("anyOf")
    if not options or {"type": "null"} not in options:
        return prop
    rest = [option for option in options if option != {"type": "null"}]
    out = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**rest[0], **out} if len(rest) == 1 else {**out, "anyOf": rest}


def _content(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


def _op(
    operation_id: str,
    ok: dict[int, str],
    *errors: int,
    body: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One operation: its answers by status (a schema name each; errors are `Error`), its
    request body's schema name and its parameters."""
    responses = {str(code): {"description": "OK", "content": _content(m)} for code, m in ok.items()}
    for code in errors:
        responses[str(code)] = {"description": "Error", "content": _content("Error")}
    out: dict[str, Any] = {"operationId": operation_id, "responses": responses}
    if body is not None:
        out["requestBody"] = {"required": True, "content": _content(body)}
    if parameters:
        out["parameters"] = parameters
    return out


def _param(name: str, where: str, description: str = "", **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": {"type": "string", **schema},
        **({"description": description} if description else {}),
    }


def _paths() -> dict[str, Any]:
    job_id = [_param("job_id", "path")]
    auth = (401, 503)  # no verified caller; the token keys or a store unreachable
    admin = (403, *auth)  # the live catalog (issue 17): admins only; docs/models.md
    key = _param("Idempotency-Key", "header", "the same key replays the same job", maxLength=256)
    usage = [
        _param("day", "query", "YYYY-MM-DD (UTC); default today"),
        _param("month", "query", "YYYY-MM (UTC); instead of day"),
        _param("caller", "query", "another caller's usage (admins only)"),
    ]
    errors = (400, 401, 404, 409, 413, 415, 429, 503)
    return {
        "/v1/jobs": {
            "post": _op(
                "submitJob", {200: "Job", 202: "Job"}, *errors, body="JobRequest", parameters=[key]
            )
        },
        "/v1/jobs/{job_id}": {
            "get": _op("getJob", {200: "Job"}, 404, *auth, parameters=job_id),
            "delete": _op("cancelJob", {200: "Job"}, 404, 409, *auth, parameters=job_id),
        },
        "/v1/models": {"get": _op("listModels", {200: "Models"})},
        "/v1/usage": {"get": _op("getUsage", {200: "Usage"}, 400, *admin, parameters=usage)},
        "/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "responses": {
                    "200": {
                        "description": "This document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/healthz": {"get": _op("health", {200: "Health"})},
        "/v1/catalog": {
            "get": _op("getCatalog", {200: "CatalogRecord"}, *admin),
            "put": _op("putCatalog", {200: "CatalogRecord"}, 400, *admin, body="Overlay"),
        },
        "/v1/catalog/diff": {
            "get": _op("diffCatalog", {200: "CatalogDiff"}, *admin),
            "post": _op("diffProposedCatalog", {200: "CatalogDiff"}, 400, *admin, body="Overlay"),
        },
        "/v1/catalog/retire": {
            "post": _op("retireModel", {200: "CatalogRecord"}, 400, *admin, body="Retirement")
        },
        "/v1/catalog/models": {
            "post": _op("addModel", {201: "CatalogRecord"}, 400, *admin, body="Adoption")
        },
        **_front_doors(),
    }


def _foreign(operation_id: str, description: str, params: list[str]) -> dict[str, Any]:
    """An operation of another API's shape (issue 28): its bodies are that API's own
    (described where it is documented), so the schemas here are plain objects."""
    anything = {"application/json": {"schema": {"type": "object"}}}
    return {
        "operationId": operation_id,
        "description": description,
        "parameters": [_param(name, "path") for name in params],
        "responses": {
            "200": {"description": "OK", "content": anything},
            "default": {"description": "Error in that API's own shape", "content": anything},
        },
    }


def _front_doors() -> dict[str, Any]:
    """Vertex AI's and OpenAI's own routes (imagegen/native/)."""
    models = "/{version}/projects/{project}/locations/{location}/publishers/google/models"
    where = ["version", "project", "location", "model"]
    vertex = "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference"
    imagen = "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api"
    openai = "https://platform.openai.com/docs/api-reference/images"
    post = {"post": _foreign("vertexGenerateContent", f"Vertex AI's ({vertex})", where)}
    predict = {"post": _foreign("imagenPredict", f"Imagen's, routed ({imagen})", where)}
    garden = _foreign("publisherModel", "Model Garden's GetPublisherModel", ["version", "model"])
    return {
        f"{models}/{{model}}:generateContent": post,
        f"{models}/{{model}}:predict": predict,
        "/{version}/publishers/google/models/{model}": {"get": garden},
        "/v1/images/generations": {"post": _foreign("openaiImages", f"OpenAI's ({openai})", [])},
        "/v1/images/edits": {"post": _foreign("openaiImageEdits", f"OpenAI's ({openai})", [])},
    }


@cache
def document() -> dict[str, Any]:
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "imagegen",
            "version": __version__,
            "description": "Image generation jobs on Vertex AI Gemini image models.",
        },
        "paths": _paths(),
        "components": {"schemas": _schemas()},
    }
    extend_with_events(doc)  # issue 16: the output redirect, job events, webhooks
    return openapi_batches.extend(doc)  # issue 29: batches
