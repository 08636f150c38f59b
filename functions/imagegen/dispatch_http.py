"""generate's answer to a Cloud Tasks dispatch (issue 27), and to a Pub/Sub push of the path
before it.

A task is an HTTP POST of `{"job_id": ...}` with Cloud Tasks' headers
(`X-CloudTasks-TaskRetryCount`: 0 on the first dispatch, `X-CloudTasks-TaskName`,
`X-CloudTasks-QueueName`). How Cloud Tasks reads the answer
(https://cloud.google.com/python/docs/reference/cloudtasks/latest/google.cloud.tasks_v2.types.HttpRequest,
read 2026-12-06): a 2xx removes the task; anything else is retried by the queue's retry
config, and after a 429 or 503 with a higher backoff that "considers" Retry-After. So:

  200  the job ended, was parked until its quota resets (a task scheduled then), or the
       delivery had nothing to do (a duplicate, a finished job) or could not name a job (a
       retry cannot help: acknowledged and logged, never retried for the task's life)
  429  + Retry-After: no Vertex slot soon (the shared limiter): unclaimed, no attempt spent
  503  + Retry-After when known: handed back after a retryable fault, or a dependency
       (Firestore, Cloud Tasks) failed; Cloud Tasks tries the task again
  500  an unexpected error (functions-framework's answer to what is raised)

A Pub/Sub push body (`{"message": ..., "subscription": ...}`) is a message the `jobs` topic
held when the deployment moved to Cloud Tasks: the job is handed to its queue (its first
task, named by its id, so a redelivered message makes no second one) and the message
acknowledged.
"""

from __future__ import annotations

import math
from typing import Any

import flask

from imagegen import http_io, tracing
from imagegen.bootstrap import Services
from imagegen.domain import bounded_json
from imagegen.errors import ImagegenError, Unavailable
from imagegen.events import JOB_ID, PUBSUB_EVENT, BadEvent, job_message
from imagegen.logs import get_logger
from imagegen.services.worker import PacedLater, RetryLater, generate

log = get_logger("imagegen.main")  # the entry points' logger: these lines are theirs

MAX_BODY_BYTES = 64 * 1024  # a task body is `{"job_id": ...}`; a push body is small too


def answer(services: Services, request: flask.Request) -> flask.Response:
    """The HTTP answer to one delivery (see the module)."""
    if request.method != "POST":  # Cloud Tasks and Pub/Sub POST; a probe gets nothing
        return _json({"outcome": "method not allowed"}, 405)
    try:
        body = bounded_json.loads(http_io.read_body(request, MAX_BODY_BYTES), 8)
    except (ImagegenError, ValueError) as exc:
        return _ignored(f"the body is not a job: {exc}")
    if isinstance(body, dict) and isinstance(body.get("message"), dict):
        return _forward(services, body)
    job_id = body.get("job_id") if isinstance(body, dict) else None
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return _ignored(f"the task names no valid job id: {str(job_id)[:140]!r}")
    return _run(services, request, job_id)


def _run(services: Services, request: flask.Request, job_id: str) -> flask.Response:
    """Run the job's delivery and say how it went."""
    retries = _count(request.headers.get("X-CloudTasks-TaskRetryCount"))
    attempt = retries + 1 if retries is not None else None
    carrier = {k.lower(): v for k, v in request.headers.items()}
    try:
        with tracing.continuing(carrier, job_id):  # the job's trace, from submit
            outcome = generate(services, job_id, attempt)
    except PacedLater as exc:
        return _json({"job_id": job_id, "outcome": "paced"}, 429, exc.retry_after)
    except RetryLater as exc:
        return _json({"job_id": job_id, "outcome": "retry"}, 503, exc.retry_after)
    except Unavailable as exc:
        log.error("a dependency failed; the task is tried again", extra={"job_id": job_id})
        return _json({"job_id": job_id, "outcome": "unavailable", "error": exc.message}, 503)
    return _json({"job_id": job_id, "outcome": outcome}, 200)


def _forward(services: Services, body: dict[str, Any]) -> flask.Response:
    """A message of the Pub/Sub path (before issue 27): queue its job as a task."""
    try:
        message = job_message(PUBSUB_EVENT, body)
    except BadEvent as exc:
        return _ignored(f"unusable Pub/Sub message acknowledged: {exc}")
    job = services.jobs.get(message.job_id)
    if job is None or job.terminal:
        return _json({"job_id": message.job_id, "outcome": "nothing to forward"}, 200)
    try:
        task = services.queue.task_name(job.id, job.model)
        services.queue.enqueue(task, job.id)
    except Unavailable as exc:
        return _json({"job_id": job.id, "outcome": "unavailable", "error": exc.message}, 503)
    log.info("Pub/Sub job message forwarded to the job's queue", extra={"job_id": job.id})
    return _json({"job_id": job.id, "outcome": "forwarded", "task": task}, 200)


def _ignored(reason: str) -> flask.Response:
    log.error(f"delivery acknowledged: {reason}")
    return _json({"outcome": "ignored", "reason": reason}, 200)


def _json(body: dict[str, Any], status: int, retry_after: float | None = None) -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = status
    if retry_after is not None and retry_after > 0:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def _count(value: str | None) -> int | None:
    """A count header as sent, or None when it is missing or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
