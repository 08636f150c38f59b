"""imagegen.tracing without the stack: propagation through message attributes, and the
cold-start rule (tracing off imports nothing of OpenTelemetry)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagegen import tracing
from imagegen.config import ConfigError, load_settings


@pytest.fixture
def exporter(monkeypatch):
    """Trace to the exporter IMAGEGEN_TRACE_EXPORTER names, through the settings."""

    def use(value: str) -> None:
        monkeypatch.setenv(tracing.EXPORTER_ENV, value)
        tracing.configure(load_settings())

    yield use
    tracing.configure(None)


def test_tracing_off_imports_no_opentelemetry() -> None:
    code = (
        "import sys; from imagegen import tracing\n"
        "with tracing.publishing('j') as attrs: assert attrs == {}\n"
        "with tracing.continuing({'message': {'attributes': {}}}, 'j'): pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2] / "functions")},
    )
    assert out.stdout.strip() == "[]"


def test_context_travels_in_message_attributes(tmp_path, exporter) -> None:
    spans_file = tmp_path / "spans.jsonl"
    exporter(f"file:{spans_file}")
    with tracing.publishing("job-1") as attributes:
        pass
    # W3C trace context and Cloud Trace's header form, both as Pub/Sub attributes
    assert set(attributes) == {"traceparent", "x-cloud-trace-context"}
    with tracing.continuing(
        {"message": {"attributes": {"job_id": "job-1", **attributes}}}, "job-1"
    ):
        pass
    submit, generate = (json.loads(line) for line in spans_file.read_text().splitlines())
    assert (submit["name"], generate["name"]) == ("imagegen.submit", "imagegen.generate")
    assert generate["context"]["trace_id"] == submit["context"]["trace_id"]
    assert generate["parent_id"] == submit["context"]["span_id"]
    with tracing.publishing("job-2"):
        pass
    third = json.loads(spans_file.read_text().splitlines()[2])
    assert third["context"]["trace_id"] != submit["context"]["trace_id"]  # a trace per job


def test_a_message_without_context_starts_its_own_trace(tmp_path, exporter) -> None:
    spans_file = tmp_path / "spans.jsonl"
    exporter(f"file:{spans_file}")
    with tracing.continuing({"message": {"attributes": {"job_id": "old"}}}, "old"):
        pass
    [span] = (json.loads(line) for line in spans_file.read_text().splitlines())
    assert span["name"] == "imagegen.generate" and span["parent_id"] is None


def test_unknown_exporter_is_refused_at_start(exporter) -> None:
    with pytest.raises(ConfigError, match=f"{tracing.EXPORTER_ENV} must be gcp, .*'zipkin'"):
        exporter("zipkin")
