"""Vertex AI batch prediction in the local stand-in (issue 29): development and tests only.

It serves `projects.locations.batchPredictionJobs` over REST as the
`aiplatform_v1.JobServiceClient` (transport="rest") and google-genai call it:

- `POST /v1/projects/{p}/locations/{l}/batchPredictionJobs`: create (a `BatchPredictionJob`)
- `GET  /v1/projects/{p}/locations/{l}/batchPredictionJobs[?filter=labels.k="v" AND ...]`
- `GET  /v1/projects/{p}/locations/{l}/batchPredictionJobs/{id}`
- `POST /v1/projects/{p}/locations/{l}/batchPredictionJobs/{id}:cancel`

A job moves over time as Vertex's do: JOB_STATE_QUEUED, PENDING, RUNNING, then SUCCEEDED,
FAILED, CANCELLED or EXPIRED (one state a step, `DEVSTACK_VERTEX_BATCH_STEP_SECONDS`,
default 0.5). Running, it reads the input JSONL from the storage emulator, answers each
`{"request": ...}` line with the stand-in's own `:generateContent` (the same placeholder
images, at the catalog's pixel sizes, and the same per-prompt faults: `[[block:...]]`,
`[[fail:400]]`, ...), and writes `<outputUriPrefix>/prediction-model-<time>/predictions.jsonl`
with one `{"status", "processed_time", "request", "response"}` line per request
(`status` empty on success, the error's JSON otherwise), the format of Google's own sample
(functions/imagegen/domain/batch_facts.py). Completed rows are written when a job is
cancelled or fails midway, as Vertex does.

Whole-job faults, asked for in any line's prompt:
`[[batch:fail]]` (fails before any row), `[[batch:fail_midway]]` (fails after half the rows,
which are written), `[[batch:truncate]]` (the output's last line is cut short),
`[[batch:expire]]` (stays queued, then expires with no output), `[[batch:partial]]`
(ends JOB_STATE_PARTIALLY_SUCCEEDED), `[[batch:slow:<seconds>]]` (each state step lasts that
long: time to cancel mid-run). The calls themselves fail by the stand-in's fault rules
(`POST /_standin/faults`, `match.method` `batchPredictionJobs.create`, `.get` or `.cancel`,
`match.prompt_contains` on the job's display name). Nothing it writes is a Vertex AI image.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flask

BATCH_DIRECTIVE = re.compile(
    r"\[\[batch:(fail_midway|fail|truncate|expire|partial|slow)(?::([^\]]*))?\]\]"
)
STATE_NUMBERS = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}
TERMINAL = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
ROUTE = "/v1/projects/<project>/locations/<location>/batchPredictionJobs"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass
class BatchJob:
    """One job and its worker thread's progress."""

    name: str
    project: str
    location: str
    model: str
    display_name: str
    input_uri: str
    output_prefix: str
    labels: dict[str, str]
    step: float
    state: str = "JOB_STATE_QUEUED"
    create_time: str = field(default_factory=_now)
    start_time: str | None = None
    end_time: str | None = None
    update_time: str = field(default_factory=_now)
    output_dir: str | None = None
    error: dict[str, Any] | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"successfulCount": 0, "failedCount": 0, "incompleteCount": 0}
    )
    cancel: threading.Event = field(default_factory=threading.Event)

    def move(self, state: str) -> None:
        self.state, self.update_time = state, _now()
        if state == "JOB_STATE_RUNNING" and self.start_time is None:
            self.start_time = self.update_time
        if state in TERMINAL:
            self.end_time = self.update_time

    def to_json(self, numbers: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "displayName": self.display_name,
            "model": self.model,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [self.input_uri]}},
            "outputConfig": {
                "predictionsFormat": "jsonl",
                "gcsDestination": {"outputUriPrefix": self.output_prefix},
            },
            "state": STATE_NUMBERS[self.state] if numbers else self.state,
            "createTime": self.create_time,
            "updateTime": self.update_time,
            "labels": self.labels,
            "completionStats": {k: str(v) for k, v in self.counts.items()},
        }
        for key, value in (
            ("startTime", self.start_time),
            ("endTime", self.end_time),
            ("error", self.error),
        ):
            if value is not None:
                body[key] = value
        if self.output_dir:
            body["outputInfo"] = {"gcsOutputDirectory": self.output_dir}
        return body


class Storage:
    """The storage emulator's JSON API, as the stand-in needs it."""

    def __init__(self, endpoint: str | None) -> None:
        self.endpoint = endpoint

    def _url(self, uri: str, upload: bool = False) -> str:
        if not self.endpoint:
            raise OSError("the stand-in has no storage endpoint (--storage-endpoint)")
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        b = urllib.parse.quote(bucket, safe="")
        if upload:
            query = urllib.parse.urlencode({"uploadType": "media", "name": name})
            return f"{self.endpoint}/upload/storage/v1/b/{b}/o?{query}"
        return f"{self.endpoint}/storage/v1/b/{b}/o/{urllib.parse.quote(name, safe='')}?alt=media"

    def read_lines(self, uri: str):
        with urllib.request.urlopen(self._url(uri), timeout=30) as response:  # noqa: S310
            yield from response

    def write_file(self, uri: str, path: str, size: int) -> None:
        with open(path, "rb") as body:
            request = urllib.request.Request(  # noqa: S310 (the local emulator)
                self._url(uri, upload=True),
                data=body,
                method="POST",
                # not application/jsonl: the emulator parses any application/json* body
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            )
            with urllib.request.urlopen(request, timeout=120):  # noqa: S310
                pass


class BatchError(Exception):
    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def response(self) -> flask.Response:
        body = {"error": {"code": self.status, "message": self.message, "status": self.code}}
        return flask.Response(json.dumps(body), status=self.status, mimetype="application/json")


@dataclass(frozen=True)
class Answering:
    """What the batch routes borrow from the stand-in (devstack/vertex_standin.py), passed
    in so the two modules do not import each other."""

    generate: Callable[[str, str, dict], tuple[int, dict]]  # (model, location, request)
    catalog: Callable[[], Any]  # the model catalog the stand-in serves
    prompt_of: Callable[[dict], str]  # a request's prompt (where the directives are)
    not_found: str  # Vertex's 404 message for a model, format(project, location, model)
    # the fault rules (`/_standin/faults`, match.method `batchPredictionJobs.create|get|
    # cancel`): (method, model, location, display name) -> (status, message, status name)
    fault: Callable[[str, str, str, str], tuple[int, str, str] | None] = lambda *_: None


def batch_routes(app: flask.Flask, state: Any, answering: Answering, step_seconds: float) -> None:
    """Add the batch routes to the stand-in: jobs run in threads, one step a state."""
    jobs: dict[str, BatchJob] = {}
    lock = threading.Lock()
    storage = Storage(state.storage_endpoint)

    def numbers() -> bool:
        return "enum-encoding=int" in flask.request.args.get("$alt", "")

    def record(method: str, project: str, location: str, model: str, body: Any) -> None:
        state.record(
            {
                "method": method,
                "project": project,
                "location": location,
                "model": model,
                "body": body,
                "query": dict(flask.request.args),
                "headers": {"content-type": flask.request.headers.get("Content-Type")},
                "time": _now(),
            },
            len(json.dumps(body)),
        )

    def faulted(method: str, model: str, location: str, name: str) -> flask.Response | None:
        fault = answering.fault(method, model, location, name)
        return BatchError(*fault).response() if fault else None

    @app.post(ROUTE)
    def create_job(project: str, location: str):
        body = flask.request.get_json(silent=True)
        if isinstance(body, dict):
            model = str(body.get("model") or "").rsplit("/", 1)[-1]
            failed = faulted(
                "batchPredictionJobs.create", model, location, str(body.get("displayName"))
            )
            if failed is not None:
                return failed
        try:
            job = _new_job(project, location, body, step_seconds, answering)
        except BatchError as exc:
            return exc.response()
        record("batchPredictionJobs.create", project, location, job.model, body)
        with lock:
            jobs[job.name] = job
        threading.Thread(
            target=_run, args=(job, storage, answering), name=f"batch-{job.name}", daemon=True
        ).start()
        return flask.jsonify(job.to_json(numbers()))

    @app.get(ROUTE)
    def list_jobs(project: str, location: str):
        wanted = dict(
            re.findall(r'labels\.([\w-]+)\s*=\s*"([^"]*)"', flask.request.args.get("filter", ""))
        )
        with lock:
            mine = [
                j.to_json(numbers())
                for j in jobs.values()
                if j.project == project
                and j.location == location
                and all(j.labels.get(k) == v for k, v in wanted.items())
            ]
        record("batchPredictionJobs.list", project, location, "", {"filter": wanted})
        return flask.jsonify({"batchPredictionJobs": mine} if mine else {})

    @app.route(f"{ROUTE}/<target>", methods=["GET", "POST"])
    def one_job(project: str, location: str, target: str):
        job_id, _, verb = target.partition(":")
        name = f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}"
        with lock:
            job = jobs.get(name)
        if job is None:
            return BatchError(
                404, f"BatchPredictionJob {name} not found. (stand-in)", "NOT_FOUND"
            ).response()
        method = "batchPredictionJobs." + (verb or "get")
        failed = faulted(method, job.model.rsplit("/", 1)[-1], location, job.display_name)
        if failed is not None:
            return failed
        if flask.request.method == "GET" and not verb:
            record("batchPredictionJobs.get", project, location, job.model, {})
            return flask.jsonify(job.to_json(numbers()))
        if flask.request.method == "POST" and verb == "cancel":
            record("batchPredictionJobs.cancel", project, location, job.model, {})
            with lock:
                if job.state in TERMINAL:
                    return BatchError(
                        400,
                        f"BatchPredictionJob {name} is in state {job.state} and cannot be "
                        "cancelled. (stand-in)",
                        "FAILED_PRECONDITION",
                    ).response()
                job.cancel.set()
                if job.state in ("JOB_STATE_QUEUED", "JOB_STATE_PENDING"):
                    job.error = {"code": 1, "message": "CANCELED"}
                    job.move("JOB_STATE_CANCELLED")
                else:
                    job.move("JOB_STATE_CANCELLING")
            return flask.jsonify({})
        return BatchError(404, f"Method {target!r} not found. (stand-in)", "NOT_FOUND").response()


def _new_job(project: str, location: str, body: Any, step: float, answering: Answering) -> BatchJob:
    """Vertex's 400s for a request it would refuse; the job otherwise."""
    if not isinstance(body, dict):
        raise BatchError(
            400, "The request body must be a BatchPredictionJob. (stand-in)", "INVALID_ARGUMENT"
        )
    model_path = str(body.get("model") or "")
    model = model_path.rsplit("/", 1)[-1]
    if not model_path.startswith(("publishers/google/models/", f"projects/{project}/")):
        raise BatchError(400, f"Invalid model {model_path!r}. (stand-in)", "INVALID_ARGUMENT")
    spec = answering.catalog().get(model)
    if spec is None or location not in spec.locations:
        message = answering.not_found.format(project=project, location=location, model=model)
        raise BatchError(404, message, "NOT_FOUND")
    if not spec.batch_prediction:  # the catalog's fact of the model (issue 29)
        raise BatchError(
            400, f"Model {model} does not support batch prediction. (stand-in)", "INVALID_ARGUMENT"
        )
    source = body.get("inputConfig") or {}
    uris = (source.get("gcsSource") or {}).get("uris") or []
    dest = body.get("outputConfig") or {}
    prefix = (dest.get("gcsDestination") or {}).get("outputUriPrefix") or ""
    problems = []
    if (
        source.get("instancesFormat") != "jsonl"
        or len(uris) != 1
        or not str(uris[0]).startswith("gs://")
    ):
        problems.append("inputConfig must be jsonl with one gcsSource uri")
    if dest.get("predictionsFormat") != "jsonl" or not prefix.startswith("gs://"):
        problems.append("outputConfig must be jsonl with a gcsDestination outputUriPrefix")
    if not body.get("displayName"):
        problems.append("displayName is required")
    if problems:
        raise BatchError(400, "; ".join(problems) + ". (stand-in)", "INVALID_ARGUMENT")
    number = uuid.uuid4().int % 10**18
    return BatchJob(
        name=f"projects/{project}/locations/{location}/batchPredictionJobs/{number}",
        project=project,
        location=location,
        model=model_path,
        display_name=str(body["displayName"]),
        input_uri=str(uris[0]),
        output_prefix=prefix,
        labels={str(k): str(v) for k, v in (body.get("labels") or {}).items()},
        step=step,
    )


def _directives(lines: list[dict[str, Any]], prompt_of: Callable[[dict], str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        for name, arg in BATCH_DIRECTIVE.findall(prompt_of(line.get("request") or {})):
            found.setdefault(name, arg)
    return found


def _run(job: BatchJob, storage: Storage, answering: Answering) -> None:
    """The job's life, one state a step; every path ends in a terminal state."""
    try:
        _life(job, storage, answering)
    except Exception as exc:  # the stand-in's own fault: the job fails as Vertex's would
        if job.state not in TERMINAL:
            job.error = {"code": 13, "message": f"(stand-in) internal error: {exc}"}
            job.move("JOB_STATE_FAILED")


def _wait(job: BatchJob, seconds: float) -> bool:
    """Sleep a step; True if the job was cancelled meanwhile."""
    return job.cancel.wait(seconds)


def _life(job: BatchJob, storage: Storage, answering: Answering) -> None:
    if _wait(job, job.step):
        return  # cancelled while queued (the cancel call ended it)
    try:
        lines = [json.loads(raw) for raw in storage.read_lines(job.input_uri) if raw.strip()]
    except (OSError, ValueError) as exc:
        job.error = {
            "code": 3,
            "message": f"Failed to read the input {job.input_uri}: {exc} (stand-in)",
        }
        job.move("JOB_STATE_FAILED")
        return
    faults = _directives(lines, answering.prompt_of)
    step = float(faults["slow"]) if faults.get("slow") else job.step
    if "expire" in faults:
        time.sleep(step)
        job.error = {"code": 4, "message": "The job expired in the queue. (stand-in)"}
        job.move("JOB_STATE_EXPIRED")
        return
    job.move("JOB_STATE_PENDING")
    if _wait(job, step):
        return
    job.move("JOB_STATE_RUNNING")
    if "fail" in faults:
        time.sleep(step)
        job.error = {"code": 13, "message": "(stand-in) the batch job failed by request"}
        job.move("JOB_STATE_FAILED")
        return
    stop_at = len(lines) // 2 if "fail_midway" in faults else len(lines)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    directory = f"{job.output_prefix.rstrip('/')}/prediction-model-{stamp}"
    cancelled = False
    with tempfile.NamedTemporaryFile("w+b", suffix=".jsonl") as out:
        for index, line in enumerate(lines[:stop_at]):
            if index and job.cancel.is_set():
                cancelled = True
                break
            out.write(_answer(job, line, answering.generate) + b"\n")
            if index == 0 and "slow" in faults:
                _wait(job, step)  # time to cancel with rows already done
        out.flush()
        size = out.tell()
        if "truncate" in faults and size:
            size = max(1, size - 40)  # the last line loses its end and its newline
        job.counts["incompleteCount"] = (
            len(lines) - job.counts["successfulCount"] - job.counts["failedCount"]
        )
        storage.write_file(f"{directory}/predictions.jsonl", out.name, size)
    job.output_dir = directory
    if cancelled or job.cancel.is_set():
        job.error = {"code": 1, "message": "CANCELED"}
        job.move("JOB_STATE_CANCELLED")
    elif "fail_midway" in faults:
        job.error = {"code": 13, "message": "(stand-in) the batch job failed midway by request"}
        job.move("JOB_STATE_FAILED")
    elif "partial" in faults:
        job.move("JOB_STATE_PARTIALLY_SUCCEEDED")
    else:
        job.move("JOB_STATE_SUCCEEDED")


def _answer(job: BatchJob, line: dict[str, Any], generate: Any) -> bytes:
    """One output line: the request echoed, and its response or its error."""
    request = line.get("request") if isinstance(line, dict) else None
    out: dict[str, Any] = {"status": "", "processed_time": _now(), "request": request}
    if not isinstance(request, dict):
        out["status"] = json.dumps({"error": {"code": 400, "message": "no request in the line"}})
        job.counts["failedCount"] += 1
        return json.dumps(out).encode()
    status, reply = generate(job.model.rsplit("/", 1)[-1], job.location, request)
    if status == 200:
        out["response"] = reply
        job.counts["successfulCount"] += 1
    else:
        out["status"] = json.dumps(reply)
        job.counts["failedCount"] += 1
    return json.dumps(out).encode()
