"""The OpenAPI additions of issue 29: batches. Their schemas are generated from the models
the code answers with (domain/batch_view.py) in openapi.py; here are the request envelope,
the list answer, the paths and the `batch.completed` event. docs/batches.md describes the
same in prose; tests/e2e/test_openapi_conformance.py checks real answers against it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from imagegen.domain.batch_view import COMPLETED, BatchView
from imagegen.domain.request import JobRequest

REF = "#/components/schemas/{model}"


class BatchWebhook(BaseModel):
    """Where the batch's `batch.completed` event is POSTed (signed as job webhooks are)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, json_schema_extra={"format": "uri"})


class BatchRequest(BaseModel):
    """`POST /v1/batches` as JSON. The same requests may come as JSONL instead
    (`Content-Type: application/jsonl`, one job request a line). A line may not carry a
    `webhook` (the batch has one), `parent_job_id` or inline image `data`."""

    model_config = ConfigDict(extra="forbid")

    requests: list[JobRequest] = Field(min_length=1, description="at most IMAGEGEN_BATCH_MAX_ITEMS")
    webhook: BatchWebhook | None = None
    labels: dict[str, str] | None = Field(
        default=None, description="put on every Vertex batch job of the batch"
    )


class BatchList(BaseModel):
    """`GET /v1/batches`: the caller's batches, newest first."""

    batches: list[BatchView]
    next_before: str | None = Field(description="`before` of the next page; null: the last")


MODELS = [
    (BatchRequest, "validation"),
    (BatchList, "serialization"),
]


def _json(model: str) -> dict[str, Any]:
    return {"schema": {"$ref": REF.format(model=model)}}


def _answers(ok: dict[int, str], errors: tuple[int, ...]) -> dict[str, Any]:
    answers = {
        str(c): {"description": "OK", "content": {"application/json": _json(m)}}
        for c, m in ok.items()
    }
    for code in errors:
        answers[str(code)] = {
            "description": "Error",
            "content": {"application/json": _json("Error")},
        }
    return answers


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
AUTH = (401, 503)
KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 256},
    "description": "the same key replays the same batch (another body: 409)",
}


def _collection() -> dict[str, Any]:
    """`/v1/batches`: submit (JSON or JSONL), and the caller's list."""
    jsonl = {"schema": {"type": "string", "description": "one job request (JSON) a line"}}
    body = {"application/json": _json("BatchRequest"), "application/jsonl": jsonl}
    return {
        "post": {
            "operationId": "submitBatch",
            "parameters": [KEY],
            "requestBody": {"required": True, "content": body},
            "responses": _answers(
                {200: "SubmittedBatch", 202: "SubmittedBatch"}, (400, 401, 409, 413, 415, 429, 503)
            ),
        },
        "get": {
            "operationId": "listBatches",
            "parameters": [
                _query("limit", "1 to 100 (default 20)", type="integer", minimum=1, maximum=100),
                _query("before", "created_at of the last batch of the page before", type="string"),
            ],
            "responses": _answers({200: "BatchList"}, (400, *AUTH)),
        },
    }


def _one() -> dict[str, Any]:
    """`/v1/batches/{batch_id}`: read (a page of items) and cancel."""
    page = [
        _query(
            "limit",
            "items a page, 1 to 1000 (default 100)",
            type="integer",
            minimum=1,
            maximum=1000,
        ),
        _query("after", "the line after which the page starts", type="integer", minimum=0),
    ]
    return {
        "get": {
            "operationId": "getBatch",
            "parameters": [BATCH_ID, *page],
            "responses": _answers({200: "Batch"}, (400, 404, *AUTH)),
        },
        "delete": {
            "operationId": "cancelBatch",
            "description": "Marks the batch cancelled; the next sweep cancels its Vertex jobs.",
            "parameters": [BATCH_ID],
            "responses": _answers({202: "Batch"}, (404, 409, *AUTH)),
        },
    }


def paths() -> dict[str, Any]:
    return {"/v1/batches": _collection(), "/v1/batches/{batch_id}": _one()}


BATCH_EVENT = {
    "type": "object",
    "description": "A structured-mode CloudEvent (JSON, spec 1.0): once, when a batch ends.",
    "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "description": "<batch id>-completed: dedupe on it"},
        "source": {"type": "string", "examples": ["//imagegen/projects/my-project/batches"]},
        "type": {"const": COMPLETED},
        "subject": {"type": "string", "description": "the batch id"},
        "time": {"type": "string", "format": "date-time"},
        "datacontenttype": {"const": "application/json"},
        "data": {"$ref": REF.format(model="Batch"), "description": "its state, counts and cost"},
    },
}


def extend(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the batch paths, the event and its webhook to the document (in place)."""
    doc["paths"].update(paths())
    doc["components"]["schemas"]["BatchEvent"] = BATCH_EVENT
    doc.setdefault("webhooks", {})["batchCompleted"] = {
        "post": {
            "operationId": "batchCompleted",
            "summary": "batch.completed, POSTed to the batch's webhook.url",
            "description": "Signed per Standard Webhooks, as job events are.",
            "requestBody": {"required": True, "content": {"application/json": _json("BatchEvent")}},
            "responses": {"200": {"description": "Received"}},
        }
    }
    return doc
