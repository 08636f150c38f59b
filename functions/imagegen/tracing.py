"""OpenTelemetry traces across the queue's hop: one trace per job.

Queueing a job opens a new trace (span `imagegen.submit`), and its context travels in the
Cloud Tasks task's HTTP headers (issue 27; W3C `traceparent` plus Cloud Trace's
`x-cloud-trace-context`, via opentelemetry-propagator-gcp). `generate` extracts it and runs
the job inside `imagegen.generate`, a child of that span, so Cloud Trace shows submit and
generate of one job as one trace; generate's log lines carry the same trace id
(`logging.googleapis.com/trace`), so the trace view lists them too.

Where spans go is set by IMAGEGEN_TRACE_EXPORTER (`Settings.trace_exporter`, config.py):
  gcp          Cloud Trace (opentelemetry-exporter-gcp-trace), batched; the deploy sets it
  file:<path>  one JSON object per finished span, appended to <path> (the local stack)
  console      the same JSON lines on stderr (stdout carries the JSON log lines)
  none / unset no tracing at all: nothing of OpenTelemetry is even imported
The entry points hand this module the instance's settings (`configure`); a process that
never does (tests, benchmarks) loads them from the environment on its first traced call.

Cold starts: this module imports only the standard library and the settings; the SDK and
the exporter are imported on the first traced call (bench: see docs/deploy.md, "Traces").
A job queued again by the sweeper starts a new trace (the first one's context is not kept
in the job document).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from imagegen import logs
from imagegen.config import Settings, load_settings

EXPORTER_ENV = "IMAGEGEN_TRACE_EXPORTER"

_lock = threading.Lock()
_state: dict[str, Any] = {}  # "key", "tracer", "provider", "propagator", "project"
_settings: Settings | None = None


def configure(settings: Settings | None) -> None:
    """Trace as `settings` say from now on (None: load them again on the next call)."""
    global _settings
    _settings = settings


def _configured() -> dict[str, Any]:
    """The tracer for the current settings, built once (tracer None: tracing off)."""
    if _settings is None:
        configure(load_settings())
    assert _settings is not None
    key = (_settings.trace_exporter, _settings.service_name or "imagegen", _settings.project)
    if _state.get("key") == key:
        return _state
    with _lock:
        if _state.get("key") != key:
            _state.clear()
            _state.update(_build(*key))
            _state["key"] = key
    return _state


def _build(setting: str, service: str, project: str) -> dict[str, Any]:
    if setting == "none":
        return {"tracer": None}
    from opentelemetry.propagators.cloud_trace_propagator import CloudTraceFormatPropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if setting == "gcp":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        exporter = CloudTraceSpanExporter(project_id=project or None)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    elif setting == "console" or setting.startswith("file:"):
        out = (
            open(setting.removeprefix("file:"), "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            if setting.startswith("file:")
            else sys.stderr
        )
        exporter = ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        raise ValueError(
            f"{EXPORTER_ENV} must be gcp, console, file:<path> or none, got {setting!r}"
        )
    propagator = CompositePropagator(
        [TraceContextTextMapPropagator(), CloudTraceFormatPropagator()]
    )
    return {
        "tracer": provider.get_tracer("imagegen"),
        "provider": provider,
        "propagator": propagator,
        "project": project,
    }


@contextlib.contextmanager
def publishing(job_id: str) -> Iterator[dict[str, str]]:
    """Around the publish of a job message: a new trace for the job (span
    `imagegen.submit`), and the message attributes that carry it to generate."""
    state = _configured()
    tracer = state["tracer"]
    if tracer is None:
        yield {}
        return
    from opentelemetry import context
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        "imagegen.submit",
        context=context.Context(),  # a root span: one trace per job, not per request
        kind=SpanKind.PRODUCER,
        attributes={"imagegen.job_id": job_id, "messaging.system": "gcp_cloud_tasks"},
    ):
        carrier: dict[str, str] = {}
        state["propagator"].inject(carrier)
        yield carrier


@contextlib.contextmanager
def continuing(event_data: Any, job_id: str) -> Iterator[None]:
    """Around one delivery of a job to generate: span `imagegen.generate`, a child of the
    submit span whose context the task's headers (or a Pub/Sub message's attributes) carry."""
    state = _configured()
    tracer = state["tracer"]
    if tracer is None:
        yield
        return
    from opentelemetry.trace import SpanKind

    # a Pub/Sub event carries the context in its message's attributes; a Cloud Tasks
    # dispatch (issue 27) in the request headers the task was made with (lower-cased)
    message = event_data.get("message") if isinstance(event_data, Mapping) else None
    if isinstance(message, Mapping):
        attributes = message.get("attributes")
    else:
        attributes = event_data if isinstance(event_data, Mapping) else None
    parent = state["propagator"].extract(dict(attributes or {}))
    try:
        with tracer.start_as_current_span(
            "imagegen.generate",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={"imagegen.job_id": job_id, "messaging.system": "gcp_cloud_tasks"},
        ) as span:
            ids = span.get_span_context()
            logs.set_trace(f"{ids.trace_id:032x}/{ids.span_id}", state["project"])
            yield
    finally:
        logs.set_trace(None, "")
        # generate's instance may be idle (CPU throttled) right after it answers: send the
        # spans now. submit does not wait for this: its batches go out in the background.
        state["provider"].force_flush(timeout_millis=5000)
