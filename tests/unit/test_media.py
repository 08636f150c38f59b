"""Provenance spliced into an image as it streams past (media.py): the same file whatever
the write boundaries, readable by Pillow with the text inside, and the pixel size read from
the header on the way (PNG, JPEG, WebP)."""

from __future__ import annotations

import io
import json
import os

import pytest
from PIL import Image

from imagegen.media import ProvenanceStream, embed_text_metadata, pixel_size

FIELDS = {"imagegen-job-id": "j1", "imagegen-seed": "7"}


def _encode(fmt: str, size=(40, 30), **options) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, fmt, **options)
    return buf.getvalue()


def _stream(data: bytes, mime: str, step: int) -> tuple[bytes, ProvenanceStream]:
    out = io.BytesIO()
    stream = ProvenanceStream(out.write, mime, FIELDS)
    for at in range(0, len(data), step):
        stream.write(data[at : at + step])
    stream.finish()
    return out.getvalue(), stream


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_any_write_boundaries_give_the_same_file_and_size(fmt, mime):
    data = _encode(fmt)
    whole = embed_text_metadata(data, mime, FIELDS)
    for step in (1, 2, 7, 33, 34, 1000, len(data)):
        out, stream = _stream(data, mime, step)
        assert out == whole, step
        assert stream.size == (40, 30), step
        assert stream.bytes_written == len(out)
    image = Image.open(io.BytesIO(whole))
    image.load()  # the pixels still decode
    assert image.size == (40, 30)
    if mime == "image/png":
        assert image.text == FIELDS
        assert whole[37:41] == b"tEXt"  # right after IHDR
    elif mime == "image/jpeg":
        assert json.loads(image.info["comment"]) == FIELDS
    else:
        assert whole == data  # WebP carries no text here: unchanged


def test_the_size_comes_from_the_header_alone():
    """A few hundred bytes of the start are enough: the rest of the image never has to
    be held to know its size (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X)."""
    assert pixel_size(_encode("PNG", (300, 200))[:200]) == (300, 200)
    assert pixel_size(_encode("JPEG", (300, 200))[:1000]) == (300, 200)
    assert pixel_size(_encode("WEBP", (300, 200))[:30]) == (300, 200)
    assert pixel_size(_encode("WEBP", (300, 200), lossless=True)[:30]) == (300, 200)
    assert pixel_size(b"not an image at all") is None


def test_bytes_that_are_not_the_declared_format_pass_through():
    junk = b"\x00" * 100
    assert _stream(junk, "image/png", 10)[0] == junk
    assert _stream(b"ab", "image/png", 1)[0] == b"ab"  # shorter than a header
