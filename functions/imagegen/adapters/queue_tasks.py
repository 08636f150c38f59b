"""The jobs queue (issue 27): a job waits for its turn as a Cloud Tasks task, in the queue of
its model, and Cloud Tasks dispatches it to `generate` at the queue's rate and concurrency
(terraform/tasks.tf; docs/architecture.md says why Cloud Tasks).

A task carries only the job id (the job document holds the rest) and the trace context.
Names (https://cloud.google.com/python/docs/reference/cloudtasks/latest/google.cloud.tasks_v2.types.CreateTaskRequest,
read 2026-12-06): a task named by the caller is de-duplicated — CreateTask answers
ALREADY_EXISTS while a task of that name exists or ran within about an hour — and Google
recommends hashed or random name prefixes. A job's first task is named by its id (random
hex, `new_job_id`), so a submit retried after a timeout that had in fact created the task
meets it instead of making a second; a job queued again (the sweeper, a park until a quota
resets) gets a fresh name, since its first name stays taken for the hour.

The client is google-cloud-tasks' `CloudTasksClient` over its REST transport; an endpoint
override (`IMAGEGEN_TASKS_ENDPOINT`) points the same client at the local stand-in
(devstack/tasks_standin.py), with anonymous credentials only then.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.protobuf import timestamp_pb2

from imagegen import tracing
from imagegen.errors import Unavailable

# What a CreateTask or GetTask that failed this way may do again within the bound.
TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.TooManyRequests,
)


class TaskQueue:
    """Cloud Tasks queues of one deployment: `queues` maps a model to its own queue (one per
    paced model), every other model goes to `default_queue`."""

    def __init__(
        self,
        client: Any,
        parent: str,
        default_queue: str,
        queues: Mapping[str, str],
        target_url: str,
        timeout: float = 3.0,
    ) -> None:
        self._client = client
        self._parent = parent  # projects/<p>/locations/<l>
        self._default = default_queue
        self._queues = dict(queues)
        self._target_url = target_url
        self._timeout = timeout

    @classmethod
    def connect(
        cls,
        project: str,
        location: str,
        default_queue: str,
        queues: list[str],
        *,
        target_url: str,
        endpoint: str = "",
        timeout: float = 3.0,
    ) -> TaskQueue:
        """`queues`: `model=queue` entries (IMAGEGEN_TASKS_QUEUES)."""
        options: dict[str, Any] = {}
        if endpoint:  # the local stand-in
            options = {"credentials": AnonymousCredentials()}
        client = tasks_v2.CloudTasksClient(
            transport="rest",
            client_options={"api_endpoint": endpoint} if endpoint else None,
            **options,
        )
        pairs = (item.partition("=") for item in queues)
        table = {model.strip(): queue.strip() for model, _, queue in pairs if queue.strip()}
        return cls(
            client,
            f"projects/{project}/locations/{location}",
            default_queue,
            table,
            target_url,
            timeout,
        )

    def task_name(self, job_id: str, model: str, *, fresh: bool = False) -> str:
        """The full name of a task for the job: its first (`<job id>`), or a fresh one
        (`<job id>-<random>`) for a job queued again."""
        queue = self._queues.get(model, self._default)
        task = f"{job_id}-{secrets.token_hex(4)}" if fresh else job_id
        return f"{self._parent}/queues/{queue}/tasks/{task}"

    def enqueue(
        self,
        task: str,
        job_id: str,
        *,
        not_before: dt.datetime | None = None,
        timeout: float | None = None,
    ) -> str:
        """Create the task that delivers `job_id` (not before `not_before`); its name back.
        A task of that name that exists already is the job queued already (a retried
        create whose first try got through). Unavailable when Cloud Tasks cannot take it
        within `timeout` seconds (submit then answers 503 and withdraws the job)."""
        timeout = self._timeout if timeout is None else timeout
        with tracing.publishing(job_id) as trace_headers:
            request = tasks_v2.Task(
                name=task,
                http_request=tasks_v2.HttpRequest(
                    url=self._target_url,
                    http_method=tasks_v2.HttpMethod.POST,
                    headers={"Content-Type": "application/json", **trace_headers},
                    body=json.dumps({"job_id": job_id}).encode(),
                ),
            )
            if not_before is not None:
                stamp = timestamp_pb2.Timestamp()
                stamp.FromDatetime(not_before.astimezone(dt.UTC))
                request.schedule_time = stamp
            try:
                created = self._client.create_task(
                    parent=task.rsplit("/tasks/", 1)[0],
                    task=request,
                    retry=self._retry(timeout),
                    timeout=timeout,
                )
                return created.name
            except gexc.Conflict as exc:
                if not _already_exists(exc):
                    raise Unavailable(f"could not queue job {job_id}: {exc}") from exc
                return task
            except Exception as exc:  # any failure means the job was not queued
                raise Unavailable(f"could not queue job {job_id}: {exc}") from exc

    def waiting(self, task: str) -> bool:
        """Whether the task still waits in its queue (the sweeper asks before queueing a job
        again: a job waiting its turn behind a backlog is not lost). Unavailable when
        Cloud Tasks does not answer."""
        try:
            self._client.get_task(name=task, retry=self._retry(self._timeout))
            return True
        except gexc.NotFound:
            return False
        except Exception as exc:
            raise Unavailable(f"could not look up task {task}: {exc}") from exc

    @staticmethod
    def _retry(timeout: float) -> Retry:
        """Transient errors are tried again for at most `timeout` seconds in all (the
        client's own default retried for 20 s and more)."""
        return Retry(
            initial=0.05,
            maximum=0.5,
            multiplier=2.0,
            timeout=timeout,
            predicate=if_exception_type(*TRANSIENT),
        )


def _already_exists(exc: gexc.Conflict) -> bool:
    """A 409 that is ALREADY_EXISTS: over REST google-api-core raises the HTTP class
    (Conflict) for every 409 and keeps the body's `status` only in the response."""
    if isinstance(exc, gexc.AlreadyExists):
        return True
    response = getattr(exc, "response", None)
    try:
        status = response.json().get("error", {}).get("status") if response is not None else None
    except ValueError:
        status = None
    return status == "ALREADY_EXISTS" or "already exists" in str(exc.message).lower()
