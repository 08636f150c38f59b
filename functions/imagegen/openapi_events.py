"""The OpenAPI additions of issue 16: the output redirect, the webhook deliveries on a job,
and the job event (a CloudEvent) as sent on `job-events` and to webhooks (OpenAPI 3.1
`webhooks`). The job itself (outputs with their signed URLs) is generated from JobView in
openapi.py. docs/events.md describes the same in prose."""

from __future__ import annotations

from typing import Any

from imagegen.domain.job_events import ALL_EVENTS, TYPE_PREFIX

WEBHOOK_DELIVERY = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "type": {"type": "string"},
        "status": {"enum": ["pending", "delivered", "failed", "dead_lettered"]},
        "attempts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": {"type": "string", "format": "date-time"},
                    "status": {
                        "type": ["integer", "null"],
                        "description": "HTTP status; null when nothing answered",
                    },
                    "error": {"type": "string"},
                },
            },
        },
        "first_attempt_at": {"type": "string", "format": "date-time"},
        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "error": {"type": ["string", "null"]},
    },
}

JOB_EVENT = {
    "type": "object",
    "description": "A structured-mode CloudEvent (JSON, spec 1.0): one per job state change.",
    "required": ["specversion", "id", "source", "type", "subject", "time", "data"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {
            "type": "string",
            "description": "<job id>-<sequence>: the same on every re-publish and webhook "
            "retry; dedupe on it.",
        },
        "source": {"type": "string", "examples": ["//imagegen/projects/my-project/jobs"]},
        "type": {"enum": [f"{TYPE_PREFIX}{state}" for state in ALL_EVENTS]},
        "subject": {"type": "string", "description": "the job id"},
        "time": {"type": "string", "format": "date-time", "description": "of the transition"},
        "datacontenttype": {"const": "application/json"},
        "data": {
            "$ref": "#/components/schemas/Job",
            "description": "The public job view (inline reference image bytes left out). On "
            "job-events outputs carry gs:// URIs; webhooks add signed `url`s.",
        },
    },
}


def extend(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the issue-16 parts to the generated document (in place) and return it."""
    schemas = doc["components"]["schemas"]
    schemas["WebhookDelivery"] = WEBHOOK_DELIVERY
    schemas["JobEvent"] = JOB_EVENT
    doc["paths"]["/v1/jobs/{job_id}/outputs/{n}"] = {
        "get": {
            "operationId": "getOutput",
            "parameters": [
                {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "responses": {
                "302": {
                    "description": "Redirect to a freshly signed URL of output n.",
                    "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                },
                "404": {
                    "description": "No such job or output",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
            },
        }
    }
    doc["webhooks"] = {
        "jobEvent": {
            "post": {
                "operationId": "jobEvent",
                "summary": "A job event, POSTed to the job's webhook.url",
                "description": "Signed per Standard Webhooks: verify webhook-signature "
                "(v1, HMAC-SHA256 over `<webhook-id>.<webhook-timestamp>.<body>` with the "
                "deployment's whsec_ secret), e.g. with imagegen_client.client.verify_webhook. "
                "Answer 2xx; 5xx, 408, 429 and timeouts are retried for at least 24 hours.",
                "parameters": [
                    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                    for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/JobEvent"}}
                    },
                },
                "responses": {"200": {"description": "Received"}},
            }
        }
    }
    return doc
