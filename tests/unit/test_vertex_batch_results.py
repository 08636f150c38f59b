"""Reading a Vertex batch output as a stream (adapters/vertex_batch_results.py): whatever
the chunk boundaries, each line's images reach the sink of the item its echoed request
names, exactly; a line cut short or not JSON is reported and leaves no image; the lines
around it read as usual."""

from __future__ import annotations

import base64
import io
import json
import os

import pytest
from PIL import Image

from imagegen.adapters.vertex_batch_results import read_predictions
from imagegen.domain.batch import LineKey


def _png(size=(20, 12)) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, "PNG")
    return buf.getvalue()


def _key(line: int, image: int = 0, images: int = 1) -> LineKey:
    return LineKey(line, image, images, f"job{line}")


def _response(*parts) -> dict:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1120},
    }


def _image(data: bytes, **more) -> dict:
    return {
        "inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()},
        **more,
    }


def _line(
    key: LineKey | None, response: dict | None = None, status: str = "", first="request"
) -> bytes:
    request = {"contents": [{"role": "user", "parts": [{"text": "p"}]}]}
    if key is not None:
        request["labels"] = {"team": "art", **key.labels("b1")}
    fields = {"status": status, "processed_time": "2026-12-06T00:00:00Z", "request": request}
    if response is not None:
        fields["response"] = response
    order = ["status", "processed_time", "request", "response"]
    if first == "response":
        order = ["response", "status", "processed_time", "request"]
    return json.dumps({k: fields[k] for k in order if k in fields}).encode()


class Sink:
    def __init__(self, opened: list, key: LineKey, mime: str) -> None:
        self.key, self.mime, self.data, self.state = key, mime, b"", "open"
        opened.append(self)

    def write(self, data: bytes) -> None:
        assert self.state == "open"
        self.data += data

    def close(self) -> dict:
        self.state = "closed"
        return {"line": self.key.line, "index": self.key.image, "bytes": len(self.data)}

    def abort(self) -> None:
        self.state = "aborted"


def _read(raw: bytes, chunk: int = 1 << 20):
    opened: list[Sink] = []
    chunks = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]
    lines = list(read_predictions(chunks, lambda key, mime: Sink(opened, key, mime)))
    return lines, opened


PNG_A, PNG_B = _png(), _png((8, 30))


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("first", ["request", "response"])
def test_each_image_reaches_its_item_whatever_the_chunks_and_order(chunk, first):
    raw = (
        b"\n".join(
            [
                _line(_key(1), _response(_image(PNG_A)), first=first),
                b"",
                _line(_key(2, 1, 2), _response({"text": "here"}, _image(PNG_B)), first=first),
            ]
        )
        + b"\r\n"
    )
    lines, opened = _read(raw, chunk)
    assert [line.key for line in lines] == [_key(1), _key(2, 1, 2)]
    assert [(s.key.line, s.data, s.state) for s in opened] == [
        (1, PNG_A, "closed"),
        (2, PNG_B, "closed"),
    ]
    first_gen = lines[0].generation
    assert first_gen is not None and first_gen.images[0].output == {
        "line": 1,
        "index": 0,
        "bytes": len(PNG_A),
    }
    assert first_gen.usage["candidatesTokenCount"] == 1120
    assert lines[1].generation.text == ["here"]


def test_a_failed_request_is_its_status_and_a_blocked_one_its_reason():
    blocked = {
        "candidates": [
            {"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY", "finishMessage": "no"}
        ],
    }
    raw = b"\n".join(
        [
            _line(_key(1), status='{"error": {"code": 400, "message": "bad"}}'),
            _line(_key(2), blocked),
            _line(_key(3), {"promptFeedback": {"blockReason": "SAFETY"}}),
        ]
    )
    lines, opened = _read(raw)
    assert lines[0].status.startswith('{"error"') and lines[0].generation is None
    assert lines[1].generation.images == [] and "no" in lines[1].generation.blocked[0]
    assert lines[2].generation.blocked == ["prompt blocked: SAFETY"]
    assert opened == []


def test_a_line_cut_short_leaves_no_image_and_names_its_item():
    whole = _line(_key(1), _response(_image(PNG_A)))
    cut = _line(_key(2), _response(_image(PNG_B)))[:-25]  # the image closed, the line not
    lines, opened = _read(whole + b"\n" + cut, chunk=50)
    assert lines[0].problem is None and lines[1].key == _key(2)
    assert "cut short" in lines[1].problem or "ends inside" in lines[1].problem
    assert [s.state for s in opened] == ["closed", "aborted"]


def test_a_line_that_is_not_json_is_skipped_and_the_next_read():
    raw = b"\n".join(
        [b'{"status": "", "request": {', b"}}}garbage", _line(_key(3), _response(_image(PNG_A)))]
    )
    lines, opened = _read(raw, chunk=16)
    assert [line.problem is not None for line in lines] == [True, True, False]
    assert lines[2].key == _key(3) and opened[-1].data == PNG_A


def test_a_line_naming_no_item_is_reported_and_its_images_dropped():
    lines, opened = _read(_line(None, _response(_image(PNG_A)), first="response"))
    assert lines[0].key is None and "names no item" in lines[0].problem
    assert opened == []  # held until the line ended, then dropped: never written


def test_a_thought_image_is_never_an_output():
    response = _response(_image(PNG_B, thought=True), _image(PNG_A))
    lines, opened = _read(_line(_key(1), response))
    assert [(s.data, s.state) for s in opened] == [(PNG_B, "aborted"), (PNG_A, "closed")]
    assert [image.output is not None for image in lines[0].generation.images] == [True]
