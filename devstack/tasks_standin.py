"""Local stand-in for Cloud Tasks (issue 27): the REST surface imagegen uses, and dispatch to
the local generate at each queue's rate and concurrency with Cloud Tasks' retry backoff.

Why a stand-in: Google ships no Cloud Tasks emulator (googleapis/nodejs-tasks#130, open).
The community ones do not fit: aertje/cloud-tasks-emulator is a Go binary that speaks gRPC
only (no binary can be fetched here, and our adapter uses the REST transport); PyPI's
`gcloud-tasks-emulator` 0.6.2 calls itself "a stub emulator", serves gRPC only, ignores
`rateLimits`, `maxConcurrentDispatches` and retry backoff (a failed task is dispatched
again at once), and pins protobuf < 5 (the functions run protobuf 7). Pacing is the reason
imagegen uses Cloud Tasks, so the stand-in must enforce exactly that.

What it does, after Google's v2 reference (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues,
https://cloud.google.com/python/docs/reference/cloudtasks/latest/google.cloud.tasks_v2.types.HttpRequest,
.../google.cloud.tasks_v2.types.CreateTaskRequest, read 2026-12-06):
- queues: CreateQueue, GetQueue, PatchQueue, PauseQueue, ResumeQueue with `rateLimits`
  (a token bucket: refilled at `maxDispatchesPerSecond`, at most `maxBurstSize` =
  max(1, ceil(rate / 5)) at once (Google picks the burst and does not say how); retries
  count against the rate too,
  `maxConcurrentDispatches`, `retryConfig` (`minBackoff`, doubled `maxDoublings` times,
  then growing linearly, capped at `maxBackoff`; the task is deleted once it has had
  `maxAttempts` attempts (-1: unlimited) and `maxRetryDuration` has passed since its
  first attempt (0: unlimited)) and the queue-level `httpTarget.uriOverride` (scheme,
  host, port, path), which replaces the task's URL as `uriOverrideEnforceMode` ALWAYS does.
- tasks: CreateTask (a name of a task that exists or ended within the dedup window, one hour
  by default, is ALREADY_EXISTS; `scheduleTime`; `dispatchDeadline`, default 600 s),
  GetTask, DeleteTask, ListTasks.
- dispatch: POST of the task's body and headers plus `X-CloudTasks-QueueName`,
  `-TaskName`, `-TaskRetryCount` (0 on the first dispatch), `-TaskExecutionCount`,
  `-TaskETA`; 2xx deletes the task; any other answer, no answer or one later than the
  dispatch deadline is retried; after 429 or 503 the backoff is doubled ("a higher backoff
  rate": Google gives no factor) and a Retry-After longer than the backoff is waited.
- Not modelled: the slow ramp-up after idle, OIDC tokens (the local functions check none),
  App Engine targets. Tasks are dispatched in schedule order (Cloud Tasks promises no
  order; `--shuffle` dispatches due tasks in random order instead).
- Faults for tests (`POST /_standin/faults`): `duplicate` (the next N dispatches are sent
  twice at once), `drop` (the next N tasks created are lost: created, never dispatched,
  not found), `unavailable` (the next N CreateTask calls answer 503).
- `GET /_standin/stats`: per queue the dispatches, answers by status, the most in flight
  at once, pending and exhausted tasks, and dispatches per task.

One JSON line per dispatch on stdout.

Run: python -m devstack.tasks_standin --host 127.0.0.1 --port 8691
"""

from __future__ import annotations

import argparse
import base64
import collections
import datetime as dt
import itertools
import json
import math
import random
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_QUEUE = re.compile(r"^projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]{1,100}$")
_TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")
_SCHEMES: dict[Any, str] = {1: "http", 2: "https"}  # UriOverride.Scheme as a number
DEFAULT_DEADLINE = 600.0  # HttpRequest tasks: 10 minutes unless the task says
_print_lock = threading.Lock()


def log(**fields: Any) -> None:
    line = json.dumps({"ts": round(time.time(), 3), **fields}, default=str)
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def seconds(value: Any, default: float) -> float:
    """A protobuf Duration in JSON ("10s", "0.5s") as seconds."""
    if value in (None, ""):
        return default
    text = str(value)
    return float(text[:-1]) if text.endswith("s") else float(text)


def duration(value: float) -> str:
    return f"{value:g}s"


def parse_time(value: Any) -> float | None:
    """An RFC 3339 timestamp as epoch seconds."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # Python reads at most 6 fractional digits
        head, _, rest = text.partition(".")
        digits = re.match(r"\d*", rest).group(0)  # type: ignore[union-attr]
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    return dt.datetime.fromisoformat(text).timestamp()


def rfc3339(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class Retry:
    min_backoff: float = 0.1
    max_backoff: float = 3600.0
    max_doublings: int = 16
    max_attempts: int = 100
    max_retry_duration: float = 0.0

    def backoff(self, failures: int) -> float:
        """The wait before retry number `failures` (1-based): doubled `max_doublings`
        times from `min_backoff`, then growing by the last doubled step, capped."""
        doublings = min(failures - 1, self.max_doublings)
        step = self.min_backoff * 2**doublings
        linear = max(0, failures - 1 - self.max_doublings) * step
        return min(self.max_backoff, step + linear)

    def exhausted(self, attempts: int, first: float, now: float) -> bool:
        """Cloud Tasks stops only when both limits are met."""
        out_of_attempts = self.max_attempts != -1 and attempts >= self.max_attempts
        out_of_time = self.max_retry_duration <= 0 or now - first >= self.max_retry_duration
        return out_of_attempts and out_of_time

    def to_json(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "maxRetryDuration": duration(self.max_retry_duration),
            "minBackoff": duration(self.min_backoff),
            "maxBackoff": duration(self.max_backoff),
            "maxDoublings": self.max_doublings,
        }


@dataclass
class Queue:
    name: str
    rate: float = 500.0
    max_concurrent: int = 1000
    retry: Retry = field(default_factory=Retry)
    http_target: dict[str, Any] = field(default_factory=dict)
    tokens: float = 1.0
    refilled: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    paused: bool = False
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def burst(self) -> int:
        return max(1, math.ceil(self.rate / 5))

    def configure(self, body: dict[str, Any]) -> None:
        limits = body.get("rateLimits") or {}
        if "maxDispatchesPerSecond" in limits:
            self.rate = max(0.001, min(500.0, float(limits["maxDispatchesPerSecond"])))
        if "maxConcurrentDispatches" in limits:
            self.max_concurrent = max(1, min(5000, int(limits["maxConcurrentDispatches"])))
        config = body.get("retryConfig") or {}
        r = self.retry
        self.retry = Retry(
            min_backoff=seconds(config.get("minBackoff"), r.min_backoff),
            max_backoff=seconds(config.get("maxBackoff"), r.max_backoff),
            max_doublings=int(config.get("maxDoublings", r.max_doublings)),
            max_attempts=int(config.get("maxAttempts", r.max_attempts)),
            max_retry_duration=seconds(config.get("maxRetryDuration"), r.max_retry_duration),
        )
        if "httpTarget" in body:
            self.http_target = body.get("httpTarget") or {}

    def take_token(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def url_of(self, url: str) -> str:
        """The task's URL with the queue's uriOverride applied."""
        override = self.http_target.get("uriOverride") or {}
        if not override:
            return url
        parts = urllib.parse.urlsplit(url)
        scheme = override.get("scheme") or parts.scheme
        scheme = _SCHEMES.get(scheme, str(scheme)).lower()  # an enum's number or its name
        host = override.get("host") or parts.hostname or ""
        port = override.get("port") or (parts.port if not override.get("host") else None)
        path = (override.get("pathOverride") or {}).get("path") or parts.path or "/"
        netloc = f"{host}:{port}" if port else host
        return urllib.parse.urlunsplit((scheme, netloc, path, parts.query, ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rateLimits": {
                "maxDispatchesPerSecond": self.rate,
                "maxBurstSize": self.burst,
                "maxConcurrentDispatches": self.max_concurrent,
            },
            "retryConfig": self.retry.to_json(),
            "httpTarget": self.http_target,
            "state": "PAUSED" if self.paused else "RUNNING",
        }


@dataclass
class Task:
    name: str
    queue: str
    url: str
    method: str
    headers: dict[str, str]
    body: bytes
    schedule: float
    created: float
    deadline: float = DEFAULT_DEADLINE
    dispatches: int = 0
    responses: int = 0
    first_attempt: float | None = None
    last_status: int | None = None
    running: bool = False
    started: float = 0.0  # when its latest dispatch began
    order: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "httpRequest": {
                "url": self.url,
                "httpMethod": self.method,
                "headers": self.headers,
            },
            "scheduleTime": rfc3339(self.schedule),
            "createTime": rfc3339(self.created),
            "dispatchDeadline": duration(self.deadline),
            "dispatchCount": self.dispatches,
            "responseCount": self.responses,
            "view": "BASIC",
        }


_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 503: "UNAVAILABLE"}


class ApiError(Exception):
    """An error of the API, in Google's JSON error shape."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    def to_json(self) -> dict[str, Any]:
        status = _STATUS[self.code]
        return {"error": {"code": self.code, "message": str(self), "status": status}}


_METHODS = {1: "POST", 2: "GET", 3: "HEAD", 4: "PUT", 5: "DELETE", 6: "PATCH", 7: "OPTIONS"}


class TasksStandin:
    """The queues, their tasks, and the dispatcher (see the module)."""

    def __init__(self, dedup_seconds: float = 3600.0, shuffle: bool = False) -> None:
        self.queues: dict[str, Queue] = {}
        self.tasks: dict[str, Task] = {}
        self.ended: dict[str, float] = {}  # task name -> when it ended (the dedup window)
        self.dedup_seconds = dedup_seconds
        self.shuffle = shuffle
        self.faults: collections.Counter = collections.Counter()
        self.lock = threading.RLock()
        self.counter = itertools.count()
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="dispatch")

    # --- the API ------------------------------------------------------------------------

    def create_queue(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name") or ""
        if not _QUEUE.match(name) or not name.startswith(parent + "/queues/"):
            raise ApiError(400, f"invalid queue name {name!r}")
        with self.lock:
            if name in self.queues:
                raise ApiError(409, f"queue {name} already exists")
            queue = self.queues[name] = Queue(name)
            queue.configure(body)
            return queue.to_json()

    def patch_queue(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            queue = self._queue(name)
            queue.configure(body)
            return queue.to_json()

    def pause_queue(self, name: str, paused: bool) -> dict[str, Any]:
        """PauseQueue / ResumeQueue: a paused queue dispatches nothing."""
        with self.lock:
            queue = self._queue(name)
            queue.paused = paused
            return queue.to_json()

    def get_queue(self, name: str) -> dict[str, Any]:
        with self.lock:
            return self._queue(name).to_json()

    def create_task(self, parent: str, body: dict[str, Any]) -> dict[str, Any]:
        request = body.get("task") or {}
        with self.lock:
            self._queue(parent)
            if self.faults["unavailable"] > 0:
                self.faults["unavailable"] -= 1
                raise ApiError(503, "The service is currently unavailable.")
            name = request.get("name") or f"{parent}/tasks/{random.getrandbits(63)}"
            task_id = name.rpartition("/tasks/")[2]
            if not name.startswith(parent + "/tasks/") or not _TASK_ID.match(task_id):
                raise ApiError(400, f"invalid task name {name!r}")
            now = time.time()
            if name in self.tasks or now - self.ended.get(name, -1e18) < self.dedup_seconds:
                raise ApiError(409, "Requested entity already exists")
            http = request.get("httpRequest") or {}
            method = http.get("httpMethod", "POST")
            task = Task(
                name=name,
                queue=parent,
                url=http.get("url") or "",
                method=_METHODS.get(method, method) if isinstance(method, int) else str(method),
                headers=dict(http.get("headers") or {}),
                body=base64.b64decode(http.get("body") or ""),
                schedule=max(now, parse_time(request.get("scheduleTime")) or now),
                created=now,
                deadline=seconds(request.get("dispatchDeadline"), DEFAULT_DEADLINE),
                order=next(self.counter),
            )
            if self.faults["drop"] > 0:  # lost: created, never dispatched, not found
                self.faults["drop"] -= 1
                self._count(parent, "dropped")
                return task.to_json()
            self.tasks[name] = task
            return task.to_json()

    def get_task(self, name: str) -> dict[str, Any]:
        with self.lock:
            task = self.tasks.get(name)
            if task is None:
                raise ApiError(404, f"task {name} not found")
            return task.to_json()

    def delete_task(self, name: str) -> dict[str, Any]:
        with self.lock:
            if self.tasks.pop(name, None) is None:
                raise ApiError(404, f"task {name} not found")
            self.ended[name] = time.time()
            return {}

    def list_tasks(self, parent: str) -> dict[str, Any]:
        with self.lock:
            self._queue(parent)
            found = [t.to_json() for t in self.tasks.values() if t.queue == parent]
            return {"tasks": found}

    def _queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        if queue is None:
            raise ApiError(404, f"queue {name} not found")
        return queue

    # --- test controls ----------------------------------------------------------------

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            for key in ("duplicate", "drop", "unavailable"):
                if key in body:
                    self.faults[key] = max(0, int(body[key]))
            return dict(self.faults)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            out: dict[str, Any] = {}
            for name, queue in self.queues.items():
                pending = sum(1 for t in self.tasks.values() if t.queue == name)
                out[name] = {**queue.stats, "pending": pending, "in_flight": queue.in_flight}
                out[name].setdefault("per_task", {})
            return {"queues": out}

    def reset_stats(self) -> None:
        with self.lock:
            for queue in self.queues.values():
                queue.stats = {}

    def _count(self, queue: str, key: str, amount: int = 1) -> None:
        stats = self.queues[queue].stats
        stats[key] = stats.get(key, 0) + amount

    # --- dispatch -----------------------------------------------------------------------

    def run(self) -> None:
        """Dispatch due tasks until stopped: each queue within its rate and concurrency."""
        while not self.stop.wait(0.01):
            now, mono = time.time(), time.monotonic()
            with self.lock:
                due = [t for t in self.tasks.values() if not t.running and t.schedule <= now]
                if self.shuffle:
                    random.shuffle(due)
                else:
                    due.sort(key=lambda t: (t.schedule, t.order))
                for task in due:
                    queue = self.queues.get(task.queue)
                    if queue is None or queue.paused or queue.in_flight >= queue.max_concurrent:
                        continue
                    if not queue.take_token(mono):
                        continue
                    self._start(queue, task, now)

    def _start(self, queue: Queue, task: Task, now: float) -> None:
        task.running = True
        task.started = now
        task.dispatches += 1
        task.first_attempt = task.first_attempt or now
        queue.in_flight += 1
        queue.stats["max_in_flight"] = max(queue.stats.get("max_in_flight", 0), queue.in_flight)
        self._count(queue.name, "dispatched")
        per_task = queue.stats.setdefault("per_task", {})
        short = task.name.rpartition("/tasks/")[2]
        per_task[short] = per_task.get(short, 0) + 1
        copies = 1
        if self.faults["duplicate"] > 0:
            self.faults["duplicate"] -= 1
            copies = 2
            self._count(queue.name, "duplicated")
        self.pool.submit(self._dispatch, queue, task, copies)

    def _dispatch(self, queue: Queue, task: Task, copies: int) -> None:
        url = queue.url_of(task.url)
        headers = {
            **task.headers,
            "X-CloudTasks-QueueName": queue.name.rpartition("/queues/")[2],
            "X-CloudTasks-TaskName": task.name.rpartition("/tasks/")[2],
            "X-CloudTasks-TaskRetryCount": str(task.dispatches - 1),
            "X-CloudTasks-TaskExecutionCount": str(task.responses),
            "X-CloudTasks-TaskETA": f"{task.schedule:.6f}",
            "User-Agent": "Google-Cloud-Tasks",
        }
        if task.last_status is not None:
            headers["X-CloudTasks-TaskPreviousResponse"] = str(task.last_status)
        results: list[tuple[int | None, float | None]] = [(None, None)] * copies

        def one(index: int) -> None:
            results[index] = _post(url, task.method, headers, task.body, task.deadline)

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(copies)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        status, retry_after = results[0]  # the task's own dispatch; a copy is extra
        self._finish(queue, task, status, retry_after, time.monotonic() - started)

    def _finish(
        self, queue: Queue, task: Task, status: int | None, retry_after: float | None, took: float
    ) -> None:
        now = time.time()
        with self.lock:
            queue.in_flight -= 1
            task.running = False
            self._count(queue.name, f"status_{status}")
            entry = {
                "event": "dispatch",
                "task": task.name.rpartition("/tasks/")[2],
                "queue": queue.name.rpartition("/queues/")[2],
                "status": status,
                "dispatch": task.dispatches,
                "started": round(task.started, 3),
                "ms": round(took * 1000, 1),
            }
            if status is not None:
                task.responses += 1
                task.last_status = status
            if status is not None and 200 <= status < 300:
                self.tasks.pop(task.name, None)
                self.ended[task.name] = now
                log(**entry, outcome="done")
                return
            if queue.retry.exhausted(task.dispatches, task.first_attempt or now, now):
                self.tasks.pop(task.name, None)
                self.ended[task.name] = now
                self._count(queue.name, "exhausted")
                log(**entry, outcome="deleted: retries exhausted")
                return
            wait = queue.retry.backoff(task.dispatches)
            if status in (429, 503):
                wait = min(queue.retry.max_backoff, wait * 2)
            if retry_after is not None:
                wait = max(wait, retry_after)
            task.schedule = now + wait
            log(**entry, outcome="retry", retry_in_s=round(wait, 3))


def _post(
    url: str, method: str, headers: dict[str, str], body: bytes, timeout: float
) -> tuple[int | None, float | None]:
    """(status or None when no answer came in time, Retry-After in seconds or None)."""
    request = urllib.request.Request(  # noqa: S310 (the local stack's functions)
        url, data=body if method in ("POST", "PUT", "PATCH") else None, method=method
    )
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read()
            return response.status, _retry_after(response.headers.get("Retry-After"))
    except urllib.error.HTTPError as err:
        err.read()
        return err.code, _retry_after(err.headers.get("Retry-After"))
    except (TimeoutError, urllib.error.URLError, OSError):
        return None, None


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def make_handler(standin: TasksStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # keep-alive, as Google's front ends: HTTP/1.0 closed every connection, and a submit
        # burst of new connections overflowed the listen backlog (1 s SYN retransmits)
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes: without this, Nagle holds the body for the
        # client's delayed ACK (40 ms a request on a kept-alive connection)
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # one JSON line per dispatch instead
            pass

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            return json.loads(raw or b"{}")

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            path = urllib.parse.urlsplit(self.path).path
            try:
                self._send(200, self._answer(method, path))
            except ApiError as err:
                self._send(err.code, err.to_json())
            except (ValueError, KeyError) as err:
                self._send(400, ApiError(400, str(err)).to_json())

        def _answer(self, method: str, path: str) -> dict[str, Any]:
            if path == "/_standin/health":
                return {"ok": True}
            if path == "/_standin/stats":
                if method == "DELETE":
                    standin.reset_stats()
                return standin.stats()
            if path == "/_standin/faults" and method == "POST":
                return standin.set_faults(self._body())
            name = path.removeprefix("/v2/")
            if method == "POST" and name.endswith((":pause", ":resume")):
                queue, _, verb = name.rpartition(":")
                return standin.pause_queue(queue, verb == "pause")
            if method == "POST" and name.endswith("/queues"):
                return standin.create_queue(name.removesuffix("/queues"), self._body())
            if method == "POST" and name.endswith("/tasks"):
                return standin.create_task(name.removesuffix("/tasks"), self._body())
            if method == "GET" and name.endswith("/tasks"):
                return standin.list_tasks(name.removesuffix("/tasks"))
            if "/tasks/" in name:
                if method == "GET":
                    return standin.get_task(name)
                if method == "DELETE":
                    return standin.delete_task(name)
            if _QUEUE.match(name):
                if method == "GET":
                    return standin.get_queue(name)
                if method == "PATCH":
                    return standin.patch_queue(name, self._body())
            raise ApiError(404, f"no such method: {method} {path}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PATCH(self) -> None:
            self._route("PATCH")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # socketserver's 5 drops a burst of 32 clients' connections
    daemon_threads = True


def serve(host: str, port: int, standin: TasksStandin) -> ThreadingHTTPServer:
    """Start the API server and the dispatcher in threads; returns the server."""
    server = _Server((host, port), make_handler(standin))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="tasks-api").start()
    threading.Thread(target=standin.run, daemon=True, name="tasks-dispatch").start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.tasks_standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8691)
    parser.add_argument("--dedup-seconds", type=float, default=3600.0)
    parser.add_argument("--shuffle", action="store_true", help="dispatch due tasks in any order")
    args = parser.parse_args(argv)
    standin = TasksStandin(args.dedup_seconds, args.shuffle)
    server = serve(args.host, args.port, standin)
    log(event="tasks_standin_started", host=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    standin.stop.set()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
