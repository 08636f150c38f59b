"""The streamed reading of a `:generateContent` reply (adapters/vertex_stream.py): whatever
the chunk boundaries and escapes, the images' bytes reach their sinks exactly and the rest
of the reply reads as `json.loads` reads it; a reply cut short is an error and leaves no
image."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest
from PIL import Image

from imagegen.adapters.vertex_stream import ReplyError, ReplyReader
from imagegen.adapters.vertex_wire import read_gemini


def _png(size=(24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "JPEG")
    return buf.getvalue()


PNG, JPEG = _png(), _jpeg()


def _reply(*parts: dict, **extra) -> dict:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 9},
        **extra,
    }


def _image(data: bytes, mime: str = "image/png", **more) -> dict:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}, **more}


class Sink:
    def __init__(self, log: list, mime: str) -> None:
        self.log, self.mime, self.data, self.state = log, mime, b"", "open"
        log.append(self)

    def write(self, data: bytes) -> None:
        assert self.state == "open"
        self.data += data

    def close(self) -> dict:
        self.state = "closed"
        return {"bytes": len(self.data), "mime": self.mime}

    def abort(self) -> None:
        self.state = "aborted"


def _read(raw: bytes, step: int, sinks: list | None = None):
    reader = ReplyReader((lambda mime: Sink(sinks, mime)) if sinks is not None else None)
    for at in range(0, len(raw), step):
        reader.feed(raw[at : at + step])
    return reader.finish()


MIXED = _reply(
    {"text": 'thinking about "quotes", \\ back\\slashes, é, \u2028 and {braces}', "thought": True},
    {"text": "here it is", "thoughtSignature": "c2ln"},
    _image(PNG, thoughtSignature="aW1n"),
    {"text": "and a jpeg"},
    _image(JPEG, "image/jpeg"),
)


def test_every_chunk_boundary_of_a_small_reply():
    """Split at every offset (and in 1-, 2-, 3-byte steps): same images, same dict."""
    raw = json.dumps(MIXED).encode()
    expected = json.loads(raw)
    for part in expected["candidates"][0]["content"]["parts"]:
        if "inlineData" in part:
            part["inlineData"]["data"] = ""
    for step in (1, 2, 3, 5, 4096):
        reply, images = _read(raw, step)
        assert [i.data for i in images] == [PNG, JPEG], step
        assert reply == expected
    for cut in range(1, len(raw)):
        reader = ReplyReader()
        reader.feed(raw[:cut])
        reader.feed(raw[cut:])
        reply, images = reader.finish()
        assert [i.data for i in images] == [PNG, JPEG], cut
        assert reply == expected, cut


def test_escaped_slashes_and_line_broken_base64():
    """Encoders may write `/` as `\\/`, and MIME-style base64 breaks lines (`\\n` in JSON,
    `\\r\\n` too); URL-safe base64 reads as standard. The bytes still come out exact."""
    text = base64.encodebytes(PNG).decode().replace("\n", "\r\n")  # line breaks every 76
    part = {"inlineData": {"mimeType": "image/png", "data": text}}
    raw = json.dumps(_reply(part)).replace("/", "\\/").encode()
    assert b"\\/" in raw and b"\\r\\n" in raw
    for step in (1, 3, 7, 100):
        _, images = _read(raw, step)
        assert images[0].data == PNG
    url_safe = base64.urlsafe_b64encode(PNG).decode()
    raw = json.dumps(_reply({"inlineData": {"mimeType": "image/png", "data": url_safe}})).encode()
    assert _read(raw, 5)[1][0].data == PNG
    # a character escaped as \\u, cut across chunks
    b64 = base64.b64encode(PNG).decode()
    escaped = json.dumps(_reply(_image(PNG))).replace(
        b64[:4], "".join(f"\\u{ord(c):04x}" for c in b64[:4])
    )
    for step in (1, 2, 4, 5, 6):
        assert _read(escaped.encode(), step)[1][0].data == PNG


def test_data_before_mime_type_and_several_candidates():
    """Field order is not fixed: data first, the type sniffed from the bytes; a second
    candidate's image is read too."""
    first = {"inlineData": {"data": base64.b64encode(JPEG).decode(), "mimeType": "image/jpeg"}}
    reply = _reply(first)
    reply["candidates"].append({"content": {"parts": [_image(PNG)]}, "finishReason": "STOP"})
    sinks: list = []
    _, images = _read(json.dumps(reply).encode(), 11, sinks)
    assert [s.mime for s in sinks] == ["image/jpeg", "image/png"]
    assert [s.data for s in sinks] == [JPEG, PNG] and all(s.state == "closed" for s in sinks)
    assert [i.output for i in images] == [
        {"bytes": len(JPEG), "mime": "image/jpeg"},
        {"bytes": len(PNG), "mime": "image/png"},
    ]
    assert all(i.data == b"" for i in images)  # streamed: no bytes kept


def test_sinks_are_committed_when_their_part_ends_and_thought_images_are_not():
    """An interim image of the model's thinking (`thought: true`, after the data) is
    aborted, never an output; read_gemini keeps text, thoughts, signatures and usage."""
    reply = _reply(
        _image(PNG, thought=True),
        {"text": "thought text", "thought": True, "thoughtSignature": "dA=="},
        _image(JPEG, "image/jpeg", thoughtSignature="aW1n"),
        {"text": "caption"},
    )
    sinks: list = []
    raw_reply, images = _read(json.dumps(reply).encode(), 64, sinks)
    assert [s.state for s in sinks] == ["aborted", "closed"]
    result = read_gemini(raw_reply, images)
    assert [i.output for i in result.images] == [{"bytes": len(JPEG), "mime": "image/jpeg"}]
    assert result.text == ["caption"] and result.thoughts == ["thought text"]
    assert result.usage == {"promptTokenCount": 7, "totalTokenCount": 9}
    assert result.model_parts == [
        {"text": "thought text", "thought": True, "thoughtSignature": "dA=="},
        {"image": 0, "thoughtSignature": "aW1n"},
        {"text": "caption"},
    ]


def test_blocked_and_prompt_blocked_replies_have_no_image():
    blocked = {
        "candidates": [
            {"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY", "finishMessage": "no"}
        ],
    }
    raw, images = _read(json.dumps(blocked).encode(), 3)
    assert images == [] and read_gemini(raw, images).blocked == ["IMAGE_SAFETY no"]
    prompt = {"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "m"}}
    raw, images = _read(json.dumps(prompt).encode(), 2)
    assert read_gemini(raw, images).blocked == ["prompt blocked: SAFETY m"]


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.9, 0.999])
def test_a_reply_cut_short_is_an_error_and_leaves_no_image(fraction):
    """The connection drops mid-reply: ReplyError (the adapter makes it retryable), and
    `abort` cancels the open upload and removes the ones already committed."""
    raw = json.dumps(_reply(_image(JPEG, "image/jpeg"), _image(PNG))).encode()
    sinks: list = []
    reader = ReplyReader(lambda mime: Sink(sinks, mime))
    reader.feed(raw[: int(len(raw) * fraction)])
    with pytest.raises(ReplyError):
        reader.finish()
    reader.abort()
    assert all(s.state == "aborted" for s in sinks)


def test_garbage_is_an_error():
    with pytest.raises(ReplyError):
        _read(b'{"candidates": [}', 4)
    bad = json.dumps(_reply({"inlineData": {"mimeType": "image/png", "data": "ab$d"}})).encode()
    with pytest.raises(ReplyError):
        _read(bad, 8)
