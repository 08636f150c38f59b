"""Local servers the unit tier shares: an in-memory storage emulator (the Vertex stand-in's
tests) and a capture server that records what is POSTed to it (the google-genai parity
tests). Both run in this process on free ports; nothing leaves the machine."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    """gcp-storage-emulator with a bucket `outputs`, and a bucket `refs` holding `a.png`
    and `ref.png` (the gs:// references the stand-in's tests send: it refuses a missing one,
    as Vertex does); google-cloud-storage clients made meanwhile talk to it
    (STORAGE_EMULATOR_HOST, restored after)."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="outputs")
    server.start()
    url = f"http://127.0.0.1:{port}"
    _store_references(url)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = url
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous
        server.stop()


def _store_references(url: str) -> None:
    requests.post(f"{url}/storage/v1/b?project=p", json={"name": "refs"}, timeout=10)
    png = io.BytesIO()
    Image.new("RGB", (64, 48), "teal").save(png, "PNG")
    for name in ("a.png", "ref.png"):
        requests.post(
            f"{url}/upload/storage/v1/b/refs/o",
            params={"uploadType": "media", "name": name},
            data=png.getvalue(),
            headers={"Content-Type": "image/png"},
            timeout=10,
        ).raise_for_status()


class _Capture(BaseHTTPRequestHandler):
    """Records each POST ({path, body}) and answers as Vertex would enough for the caller
    to go on: a batch prediction job for `.../batchPredictionJobs`, else a text reply."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self.server.records.append({"path": self.path, "body": body})
        path = self.path.split("?")[0]
        if path.endswith("/batchPredictionJobs"):
            reply = {**body, "name": f"{path.lstrip('/').split('/', 1)[1]}/1"}
            reply["state"] = "JOB_STATE_PENDING"
        else:
            reply = {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": "ok"}]},
                        "finishReason": "STOP",
                    }
                ]
            }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def capture() -> Iterator[ThreadingHTTPServer]:
    """The capture server; `capture.records` holds what was sent, in order."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.records = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
