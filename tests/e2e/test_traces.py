"""One trace per job on the local stack, and the log fields the deploy's metrics read.

The stack's functions write their finished spans to <state_dir>/traces.jsonl
(IMAGEGEN_TRACE_EXPORTER=file:..., functions/imagegen/tracing.py) and their log lines to
<state_dir>/logs/<function>.log, so the job's path submit -> Pub/Sub (emulator, relay) ->
generate is checked over the real transports.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from test_api import wait


def _spans(state_dir: Path, job_id: str, want: int, timeout: float = 15) -> list[dict]:
    """The finished spans of one job (generate's span ends just after the job does)."""
    path = state_dir / "traces.jsonl"
    end = time.monotonic() + timeout
    while True:
        spans = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                span = json.loads(line)
                if span.get("attributes", {}).get("imagegen.job_id") == job_id:
                    spans.append(span)
        if len(spans) >= want or time.monotonic() > end:
            return spans
        time.sleep(0.2)


def _log_lines(state_dir: Path, function: str, job_id: str) -> list[dict]:
    lines = []
    for raw in (state_dir / "logs" / f"{function}.log").read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue  # functions-framework's own start-up lines
        if isinstance(entry, dict) and entry.get("job_id") == job_id:
            lines.append(entry)
    return lines


def test_one_trace_per_job_across_pubsub(http, api_url, stack_env, unique):
    state_dir = Path(stack_env["DEVSTACK_STATE_DIR"])
    jobs = []
    for n in range(2):
        response = http.post(
            f"{api_url}/v1/jobs",
            json={"prompt": f"{unique} lantern {n}", "model": "gemini-2.5-flash-image"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        jobs.append(wait(http, response.json()["status_url"]))
    trace_ids = set()
    for job in jobs:
        assert job["state"] == "succeeded", job
        spans = _spans(state_dir, job["id"], want=2)
        by_name = {s["name"]: s for s in spans}
        assert set(by_name) == {"imagegen.submit", "imagegen.generate"}, spans
        submit, generate = by_name["imagegen.submit"], by_name["imagegen.generate"]
        # one trace: generate continues the context the Pub/Sub attributes carried
        assert submit["context"]["trace_id"] == generate["context"]["trace_id"]
        assert generate["parent_id"] == submit["context"]["span_id"]
        assert submit["parent_id"] is None  # the job's trace starts at submit
        assert submit["kind"] == "SpanKind.PRODUCER" and generate["kind"] == "SpanKind.CONSUMER"
        trace_ids.add(submit["context"]["trace_id"])
        # generate's log lines are tied to the same trace (Cloud Logging's trace field)
        generate_logs = _log_lines(state_dir, "generate", job["id"])
        trace_hex = submit["context"]["trace_id"].removeprefix("0x")
        assert any(
            entry.get("logging.googleapis.com/trace", "").endswith(f"/traces/{trace_hex}")
            for entry in generate_logs
        ), generate_logs
    assert len(trace_ids) == len(jobs), "two jobs must not share a trace"


def test_log_lines_carry_the_metric_fields(http, api_url, stack_env, unique):
    """The fields terraform/monitoring.tf's log-based metrics extract."""
    state_dir = Path(stack_env["DEVSTACK_STATE_DIR"])
    response = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": f"{unique} harbour", "model": "imagen-4.0-generate-001"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    job = wait(http, response.json()["status_url"])
    assert job["state"] == "succeeded", job
    _spans(state_dir, job["id"], want=2)  # generate's lines are written by then
    queued = [e for e in _log_lines(state_dir, "submit", job["id"]) if e.get("state")]
    assert [e["state"] for e in queued] == ["queued"]
    lines = _log_lines(state_dir, "generate", job["id"])
    calls = [e for e in lines if "vertex_status" in e]
    assert calls and calls[-1]["vertex_status"] == "200"
    # a retired id is served by its replacement (issue 14): the lines name the served model
    assert calls[-1]["model"] == "gemini-3.1-flash-image" and calls[-1]["location"]
    [terminal] = [e for e in lines if e.get("state") == "succeeded"]
    assert terminal["job_seconds"] > 0
    assert terminal["cost_usd"] > 0
    assert terminal["model"] == "gemini-3.1-flash-image"
