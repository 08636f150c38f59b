"""scripts/smoke_test.py, the pipeline's last step: it waits out the invoker grant's
propagation (401/403, bounded), fails on a job that does not succeed, and passes against
the real local stack.

The 403 cases run against a small local HTTP server (real sockets) that answers as Cloud
Run does while a new run.invoker grant propagates.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from .conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "smoke_test.py"


class _Deployment(BaseHTTPRequestHandler):
    """`refusal` (403) for the first `forbidden` POSTs, then 202; the job is `final` when
    polled."""

    forbidden = 2
    refusal = 403
    final = "succeeded"
    posts: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        type(self).posts.append(json.loads(self.rfile.read(length))["model"])
        if len(type(self).posts) <= type(self).forbidden:
            self._answer(type(self).refusal, {"error": "refused"})
        else:
            self._answer(202, {"id": "job-1", "status": "queued"})

    def do_GET(self) -> None:
        self._answer(200, {"id": "job-1", "status": type(self).final})


@pytest.fixture
def deployment() -> Iterator[tuple[str, type[_Deployment]]]:
    handler = type("Handler", (_Deployment,), {"posts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler
    finally:
        server.shutdown()


def _smoke(url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, "--caller", "smoke@example.com", "--poll", "0.1",
         "--timeout", "30", *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_403_while_the_grant_propagates_is_retried(deployment) -> None:
    url, handler = deployment
    proc = _smoke(url, "--auth-wait", "60", "--auth-retry", "0.1")
    # two 403s, each followed by a wait, then the job
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("retrying") == 2 and "succeeded" in proc.stdout
    assert handler.posts == ["gemini-3.1-flash-image"] * 3, "a current model by default"


def test_503_while_the_queues_enqueuer_grant_propagates_is_retried(deployment) -> None:
    """A first apply grants the enqueuer role on the jobs' queues near its end (issue 27):
    until it propagates Cloud Tasks refuses submit's task and submit answers 503."""
    url, handler = deployment
    handler.refusal = 503
    proc = _smoke(url, "--auth-wait", "60", "--auth-retry", "0.1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("enqueuer grant may still be propagating") == 2
    assert len(handler.posts) == 3 and "succeeded" in proc.stdout


def test_403_beyond_the_wait_fails_the_build(deployment) -> None:
    url, handler = deployment
    handler.forbidden = 1000
    proc = _smoke(url, "--auth-wait", "0")
    assert proc.returncode == 1
    assert "POST /v1/jobs answered 403" in proc.stderr


def test_a_job_that_fails_fails_the_build(deployment) -> None:
    url, handler = deployment
    handler.forbidden, handler.final = 0, "failed"
    proc = _smoke(url)
    assert proc.returncode == 1 and "the job ended failed" in proc.stderr


def test_the_smoke_test_passes_against_the_local_stack(stack_env: dict[str, str]) -> None:
    proc = _smoke(stack_env["IMAGEGEN_API_URL"], "--idempotency-key", "smoke-test-stack")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "smoke: succeeded" in proc.stdout
