"""The OpenAPI 3.1 document of the HTTP API, generated from the pydantic schema so the two
cannot drift apart."""

from __future__ import annotations

from functools import cache
from typing import Any

from imagegen import __version__
from imagegen.domain.request import JobRequest
from imagegen.openapi_events import extend as extend_with_events

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}

_JOB = {
    "type": "object",
    "required": ["id", "state", "status", "status_url"],
    "properties": {
        "id": {"type": "string"},
        "state": {"enum": ["queued", "running", "succeeded", "blocked", "failed", "cancelled"]},
        "status": {"type": "string"},
        "status_url": {"type": "string"},
        "request": {"$ref": "#/components/schemas/JobRequest"},
        "model": {"type": "string"},
        "region": {"type": "string"},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "uri": {"type": "string"},
                    "mime_type": {"type": "string"},
                    "index": {"type": "integer"},
                    "width": {"type": "integer", "description": "delivered pixels"},
                    "height": {"type": "integer", "description": "delivered pixels"},
                    "bytes": {"type": "integer"},
                    "priced_size": {
                        "type": "string",
                        "description": "the size billed: the delivered one, if it differs",
                    },
                    "cost_usd": {"type": "number"},
                },
            },
        },
        "blocked_images": {"type": "array", "items": {"type": "object"}},
        "error": {"type": "object"},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "text": {"type": "array", "items": {"type": "string"}},
        "served_by": {"type": "object"},
        "attempts": {"type": "integer"},
        "estimated_cost_usd": {"type": "number"},
        "cost_usd": {"type": "number"},
        "usage": {"type": "object"},
        "source": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": "string", "format": "date-time"},
    },
}


def _responses(*codes: int, ok: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in codes:
        if code < 400:
            out[str(code)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": ok or {"$ref": "#/components/schemas/Job"}}
                },
            }
        else:
            out[str(code)] = {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
    return out


@cache
def document() -> dict[str, Any]:
    schema = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "imagegen",
            "version": __version__,
            "description": "Image generation jobs on Vertex AI Gemini image models.",
        },
        "paths": {
            "/v1/jobs": {
                "post": {
                    "operationId": "submitJob",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 256},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/JobRequest"}
                            }
                        },
                    },
                    "responses": _responses(200, 202, 400, 409, 413, 415, 429, 503),
                }
            },
            "/v1/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "parameters": [job_id],
                    "responses": _responses(200, 404),
                },
                "delete": {
                    "operationId": "cancelJob",
                    "parameters": [job_id],
                    "responses": _responses(200, 404, 409),
                },
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "responses": _responses(
                        200,
                        ok={
                            "type": "object",
                            "properties": {
                                "models": {"type": "array", "items": {"type": "object"}},
                                "default": {"type": "string"},
                            },
                        },
                    ),
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "responses": _responses(200, ok={"type": "object"}),
                }
            },
        },
        "components": {"schemas": {**defs, "JobRequest": schema, "Job": _JOB, "Error": _ERROR}},
    }
    return extend_with_events(doc)  # issue 16: output URLs, job events, webhooks
