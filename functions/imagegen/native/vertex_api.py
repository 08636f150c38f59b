"""Vertex AI's own routes (issue 28): `:generateContent` for the Gemini image models (what
google-genai and the REST API call), Imagen's `:predict` (the guide's
`vertexai.preview.vision_models` code) and the Model Garden look-up that code makes first.

Each makes an ordinary job (services.submission: validation, routing of retired names,
pricing, budgets, idempotency, the job record, events, webhooks), waits for it up to
IMAGEGEN_SYNC_WAIT_SECONDS and answers in Vertex's shape; the job's id is in the
`X-Imagegen-Job-Id` header of every answer that has a job. The project in the path is the
caller's own Vertex project: jobs run in the deployment's project, whatever it says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask

from imagegen.domain.job import Job, State
from imagegen.domain.job_view import status_url
from imagegen.errors import InvalidRequest, JobStillRunning, NotFound
from imagegen.http_io import base_url, idempotency_key, json_response
from imagegen.native import imagen_request, vertex_reply, vertex_request, waiting
from imagegen.native.streaming import Images
from imagegen.services import submission

JOB_ID_HEADER = "X-Imagegen-Job-Id"
WEBHOOK_HEADER = "X-Imagegen-Webhook"
# an output read back to answer with it (4K incompressible PNG: ~64 MB)
MAX_OUTPUT_BYTES = 100 * 1024 * 1024
# what `ImageGenerationModel.from_pretrained` checks in Model Garden's answer
IMAGEN_INSTANCE_SCHEMA = (
    "gs://google-cloud-aiplatform/schema/predict/instance/vision_generative_model_1.0.0.yaml"
)


def reader(api: Any) -> Callable[[str], Callable[[], bytes]]:
    storage = api.services.storage
    return lambda uri: lambda: storage.read(uri, MAX_OUTPUT_BYTES)


def wait_seconds(request: flask.Request, longest: float) -> float:
    """How long to wait: the deployment's IMAGEGEN_SYNC_WAIT_SECONDS, or less when the
    caller asks with `Prefer: wait=N` (RFC 7240, section 4.3); never more."""
    for preference in request.headers.get("Prefer", "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return max(0.0, min(longest, float(value.strip())))
            except ValueError:
                break
    return longest


def finished(api: Any, request: flask.Request, job: Job) -> tuple[Job, dict[str, str]]:
    """The job once it ended (JobStillRunning at the deadline) and the answer's headers."""
    url = status_url(base_url(request), job.id, api.jobs_path)
    seconds = wait_seconds(request, api.services.settings.sync_wait_seconds)
    try:
        job = waiting.wait(api.services, job, seconds)
    except waiting.StillRunning as late:
        raise JobStillRunning(
            f"job {job.id} is still {late.job.state} after {late.waited:.0f} s; it goes on: "
            f"GET {url}",
            job_id=job.id,
            status_url=url,
        ) from None
    return job, {JOB_ID_HEADER: job.id, "Location": url}


def submit(api: Any, request: flask.Request, body: dict[str, Any], **kw: Any) -> Job:
    return submission.submit(
        api.services,
        body,
        caller=api.caller(request).id,
        idempotency_key=idempotency_key(request),
        **kw,
    ).job


# -- :generateContent --------------------------------------------------------------------


def generate_content(
    api: Any, request: flask.Request, version: str, project: str, location: str, model: str
) -> flask.Response:
    api.caller(request)  # before the body is read: no identity, no work
    native = vertex_request.parse(
        api.read_json(request), model=model, location=location, version=version
    )
    body = native.job_body(webhook=request.headers.get(WEBHOOK_HEADER))
    try:
        job = submit(api, request, body, source="vertex", native=native)
    except InvalidRequest as exc:
        raise native.translated(exc) from None
    job, headers = finished(api, request, job)
    if job.state in (State.SUCCEEDED, State.BLOCKED):
        images = Images()
        payload = vertex_reply.response(job, images, reader(api))
        return flask.Response(
            images.chunks(payload), status=200, mimetype="application/json", headers=headers
        )
    code, error = vertex_reply.failure(job)
    return json_response(error, code, headers)


# -- Imagen's :predict ---------------------------------------------------------------------


def predict(
    api: Any, request: flask.Request, version: str, project: str, location: str, model: str
) -> flask.Response:
    api.caller(request)
    raw = api.read_json(request)
    body, paths = imagen_request.job_body(raw, model=model, location=location)
    try:
        job = submit(api, request, body, source="vertex")
    except InvalidRequest as exc:
        raise imagen_request.translated(exc, paths) from None
    job, headers = finished(api, request, job)
    if job.state not in (State.SUCCEEDED, State.BLOCKED):
        code, error = vertex_reply.failure(job)
        return json_response(error, code, headers)
    params = raw.get("parameters") or {}
    images = Images()
    read = reader(api)
    predictions: list[dict[str, Any]] = [
        {"bytesBase64Encoded": images.mark(read(o.uri)), "mimeType": o.mime_type}
        for o in sorted(job.outputs or [], key=lambda o: o.index or 0)
    ]
    if params.get("includeRaiReason"):
        predictions += [{"raiFilteredReason": b.reason} for b in job.blocked_images or []]
    answer = {"predictions": predictions, "modelVersionId": job.served_model}
    return flask.Response(
        images.chunks(answer), status=200, mimetype="application/json", headers=headers
    )


# -- Model Garden's GetPublisherModel -----------------------------------------------------


def publisher_model(api: Any, request: flask.Request, version: str, model: str) -> flask.Response:
    """What `ImageGenerationModel.from_pretrained` asks before its first call: a publisher
    model answering Imagen's instance schema, for every Imagen id this deployment routes
    (and the served Gemini models, without one). Anything else is Vertex's 404."""
    api.caller(request)
    catalog = api.services.catalog
    retired = catalog.retired_model(model)
    served = catalog.get(model)
    routed = retired is not None and api.services.settings.retired_models == "route"
    if served is None and not routed:
        raise NotFound(f"Publisher Model `publishers/google/models/{model}` not found.")
    answer: dict[str, Any] = {
        "name": f"publishers/google/models/{model}",
        "versionId": "001",
        "openSourceCategory": "PROPRIETARY",
        "launchStage": "GA",
        "publisherModelTemplate": (
            f"projects/{{user-project}}/locations/{{location}}/publishers/google/models/{model}"
        ),
    }
    if retired is not None and retired.takes_imagen_parameters:
        answer["predictSchemata"] = {"instanceSchemaUri": IMAGEN_INSTANCE_SCHEMA}
    return json_response(answer, 200)
