"""Edges an outside tester found (issue 31) that need the whole local stack: bodies larger
than the cap sent to the real submit function (functions-framework's gunicorn, which reads
chunked bodies), the studio's gallery cursor at the ends of the calendar, and a job whose
gs:// reference does not exist, answered by the Vertex stand-in as Vertex does."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

CAP = 32 * 1024 * 1024  # IMAGEGEN_MAX_BODY_BYTES's default, the local stack's value
CHUNK = b"x" * (256 * 1024)
# How long a test waits for an answer the server owes: an answer that never comes (the
# server waiting for the rest of a body it should have refused) fails the test there.
ANSWER_WAIT = 60.0


def _send(url: str, head: list[str], body: Iterator[bytes]) -> tuple[int, dict, bytes]:
    """Send a request over a plain socket, write `body` (chunks as given: the caller frames
    them), leave the body unfinished unless `body` finished it, and read the answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=ANSWER_WAIT) as sock:
        lines = [*head, f"Host: {parts.netloc}", "", ""]
        sock.sendall("\r\n".join(lines).encode())
        try:
            for piece in body:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        return _read_answer(sock)


def _read_answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    raw = b""
    while b"\r\n\r\n" not in raw:
        data = sock.recv(65536)
        assert data, f"the connection closed without an answer: {raw!r}"
        raw += data
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        data = sock.recv(65536)
        assert data, "the connection closed inside the answer"
        rest += data
    return int(status_line.split()[1]), headers, rest[:length]


def _chunked(total: int, end: bool) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = CHUNK[: total - sent]
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
        sent += len(piece)
    if end:
        yield b"0\r\n\r\n"


def _raw(total: int) -> Iterator[bytes]:
    for start in range(0, total, len(CHUNK)):
        yield CHUNK[: min(len(CHUNK), total - start)]


def _json_head(path: str, caller: str, framing: str) -> list[str]:
    return [
        f"POST {path} HTTP/1.1",
        "Content-Type: application/json",
        f"X-Imagegen-Caller: {caller}",
        framing,
    ]


# -- 3. bodies over the cap ------------------------------------------------------------------


def test_a_chunked_body_over_the_cap_is_413_before_it_ends(api_url, unique):
    """No Content-Length: the 413 comes once the body passes the cap, while the client has
    not finished it (main read the whole body first, so no answer ever came here)."""
    status, headers, body = _send(
        api_url,
        _json_head("/v1/jobs", f"big-{unique}", "Transfer-Encoding: chunked"),
        _chunked(CAP + 2 * len(CHUNK), end=False),
    )
    assert status == 413, body[:300]
    assert headers["content-type"] == "application/json"
    assert b'"payload_too_large"' in body


def test_a_chunked_upload_to_the_openai_edits_door_is_413_before_it_ends(api_url, unique):
    """The same class at a front door (issue 28): `/v1/images/edits` takes multipart, which
    werkzeug's form parser read to its end with no limit when no Content-Length bounded it
    (no answer came here; the files spooled to /tmp, memory on Cloud Run). It stops at the
    cap, answered in OpenAI's error shape."""
    part = (
        b"--b\r\n"
        b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )

    def body() -> Iterator[bytes]:
        yield b"%x\r\n" % len(part) + part + b"\r\n"
        yield from _chunked(CAP + 2 * len(CHUNK), end=False)

    status, headers, answer = _send(
        api_url,
        [
            "POST /v1/images/edits HTTP/1.1",
            "Content-Type: multipart/form-data; boundary=b",
            f"X-Imagegen-Caller: big-{unique}",
            "Transfer-Encoding: chunked",
        ],
        body(),
    )
    assert status == 413, answer[:300]
    assert headers["content-type"] == "application/json"
    error = json.loads(answer)["error"]
    assert error["code"] == "payload_too_large" and error["type"] == "invalid_request_error"


def test_a_declared_length_over_the_cap_is_413_without_reading_it(api_url, unique):
    """Content-Length of 300 MB, a few bytes sent: refused at once (main refused, then
    functions-framework's after-request hook waited to read all 300 MB)."""
    status, _, body = _send(
        api_url,
        _json_head("/v1/jobs", f"big-{unique}", f"Content-Length: {300 * 1024 * 1024}"),
        iter([b'{"prompt": "'] + [CHUNK] * 4),
    )
    assert status == 413 and b'"payload_too_large"' in body


def test_a_body_nobody_reads_is_not_waited_for(api_url):
    """A GET with an endless chunked body: answered, the body left unread (main's
    functions-framework hook read it to its end after the answer, holding all of it)."""
    status, _, body = _send(
        api_url,
        ["GET /healthz HTTP/1.1", "Transfer-Encoding: chunked"],
        _chunked(4 * len(CHUNK), end=False),
    )
    assert status == 200 and b'"ok"' in body


def test_a_chunked_body_under_the_cap_is_read(api_url, http, unique):
    """Chunked bodies are still read whole (werkzeug reads them because gunicorn marks its
    input terminated)."""
    payload = f'{{"prompt": "{unique} sent in chunks"}}'.encode()
    pieces = [payload[:10], payload[10:]]
    framed = [b"%x\r\n" % len(p) + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]
    status, _, body = _send(
        api_url,
        _json_head("/v1/jobs", f"chunks-{unique}", "Transfer-Encoding: chunked"),
        iter(framed),
    )
    assert status == 202, body
    job_id = json.loads(body)["id"]
    job = http.get(f"{api_url}/v1/jobs/{job_id}", headers={"X-Imagegen-Caller": f"chunks-{unique}"})
    assert job.json()["request"]["prompt"] == f"{unique} sent in chunks"


# -- 2. the studio's gallery cursor at the ends of the calendar ---------------------------


@pytest.mark.parametrize(
    "before", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "yesterday"]
)
def test_a_gallery_cursor_outside_the_calendar_in_utc_is_400(http, stack_env, unique, before):
    studio = stack_env["DEVSTACK_STUDIO_URL"]
    answer = http.get(
        f"{studio}/api/jobs",
        params={"before": before},
        headers={"X-Imagegen-Caller": f"cursor-{unique}"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["details"][0]["field"] == "before"


def test_a_gallery_cursor_at_the_edge_still_pages(http, stack_env, unique):
    studio = stack_env["DEVSTACK_STUDIO_URL"]
    for before in ("0001-01-01T01:00:00+01:00", "9999-12-31T23:59:59Z", "2026-12-06T10:00:00"):
        answer = http.get(
            f"{studio}/api/jobs",
            params={"before": before},
            headers={"X-Imagegen-Caller": f"cursor-{unique}"},
            timeout=30,
        )
        assert answer.status_code == 200, (before, answer.text)


# -- 7. a gs:// reference that does not exist ----------------------------------------------


def test_the_stand_in_answers_a_missing_gs_reference_as_vertex_does(http, vertex_url, stack_env):
    """404 NOT_FOUND, the status Vertex's error table gives for "Image file not found in
    the storage URL"; the stand-in used to make an image for it."""
    missing = f"gs://{stack_env['IMAGEGEN_UPLOADS_BUCKET']}/missing/{time.time_ns()}.png"
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"fileData": {"fileUri": missing, "mimeType": "image/png"}},
                    {"text": "make it night"},
                ],
            }
        ]
    }
    model = "projects/p/locations/global/publishers/google/models/gemini-3.1-flash-image"
    answer = http.post(f"{vertex_url}/v1/{model}:generateContent", json=body, timeout=30)
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND"


def test_a_job_with_a_missing_reference_fails_once_naming_it(
    http, api_url, vertex_url, stack_env, unique
):
    caller = {"X-Imagegen-Caller": f"missing-{unique}"}
    missing = f"gs://{stack_env['IMAGEGEN_UPLOADS_BUCKET']}/missing/{unique}.png"
    submitted = http.post(
        f"{api_url}/v1/jobs",
        json={"prompt": f"{unique} night", "reference_images": [{"gcs_uri": missing}]},
        headers=caller,
        timeout=30,
    )
    assert submitted.status_code == 202, submitted.text
    url = submitted.json()["status_url"]
    end = time.monotonic() + 90
    while (job := http.get(url, headers=caller, timeout=30).json())["state"] in {
        "queued",
        "running",
    }:
        assert time.monotonic() < end, job
        time.sleep(0.3)
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "reference_not_found"
    assert missing in job["error"]["message"]
    # one call: no failover to the model's other locations, no retry, no second attempt
    calls = [
        r
        for r in http.get(f"{vertex_url}/_standin/requests", timeout=30).json()
        if unique in str(r["body"])
    ]
    assert len(calls) == 1, [c["location"] for c in calls]
    assert job.get("attempts", 1) == 1
