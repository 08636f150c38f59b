"""Cloud Functions entry points, and nothing else: each parses its trigger and delegates.

Deployed as six functions (terraform/functions.tf) and the studio service
(terraform/studio.tf) from this one source. Imports stay light at module level so each
function's cold start pays only for what it uses: each entry point imports its own service
inside its body (the worker's modules take ~0.2 s, `python -X importtime`), and the Vertex
client is imported on `generate`'s first job, never by `submit` (bench/coldstart.py).
"""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.http import CloudEvent

from imagegen import logs, tracing
from imagegen.bootstrap import services
from imagegen.events import decode_event, decoded, job_message

# The settings are read here, at start: a bad value stops the instance with its name.
logs.setup(services().settings.log_level)
tracing.configure(services().settings)
_api = None
_studio = None


@functions_framework.http
def submit(request: flask.Request) -> flask.Response:
    """HTTP API: POST /v1/jobs, GET|DELETE /v1/jobs/{id}, GET /v1/models, /v1/openapi.json."""
    global _api
    if _api is None:
        from imagegen.http_api import Api

        _api = Api(services())  # IMAGEGEN_TRUST_CALLER_HEADER: Settings, through auth
    return _api.handle(request)


@functions_framework.http
def generate(request: flask.Request) -> flask.Response:
    """Cloud Tasks dispatch of a job -> run it; the status says whether the queue tries the
    task again (dispatch_http.py). A Pub/Sub push of the path before issue 27 is handed to
    the job's queue."""
    from imagegen.dispatch_http import answer

    return answer(services(), request)


@functions_framework.cloud_event
def dead_letter(event: CloudEvent) -> None:
    """Dead-letter topic message -> the job fails with its last error."""
    from imagegen.services.upkeep import dead_letter as fail

    message = decoded(event, job_message, "dead letter")
    if message is None:
        return
    fail(services(), message.job_id, message.delivery_attempt)


@functions_framework.cloud_event
def on_upload(event: CloudEvent) -> None:
    """Uploads bucket `object.finalized` -> a job from a request file or an image."""
    from imagegen.services.uploads import handle_upload

    handle_upload(services(), event["type"], event.data)


@functions_framework.cloud_event
def deliver_webhooks(event: CloudEvent) -> None:
    """`job-events` / `webhook-retries` message -> webhook delivery and upload answers."""
    from imagegen.services.webhooks import handle_event

    job_event = decoded(event, decode_event, "job event")
    if job_event is None:
        return
    handle_event(services(), job_event)


@functions_framework.http
def sweep(request: flask.Request) -> flask.Response:
    """Cloud Scheduler -> re-queue idle jobs, fail overdue ones; `?mode=models`: the daily
    model lifecycle check (issue 17)."""
    if request.args.get("mode") == "models":
        from imagegen.services.lifecycle import check_models

        return flask.jsonify(check_models(services()))
    from imagegen.services.upkeep import sweep as run

    return flask.jsonify(run(services()))


@functions_framework.http
def studio(request: flask.Request) -> flask.Response:
    """imagegen studio: the page, its assets and its JSON API (behind IAP; docs/studio.md)."""
    global _studio
    if _studio is None:
        from imagegen.studio.api import Studio

        _studio = Studio(services())
    return _studio.handle(request)
