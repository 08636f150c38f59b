"""An image streamed to storage (media.py) is passed through byte for byte whatever the
write boundaries (a C2PA manifest binds the file's bytes: issue 25), and its pixel size is
read from the header on the way (PNG, JPEG, WebP)."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from imagegen.media import ImageStream, pixel_size


def _encode(fmt: str, size=(40, 30), **options) -> bytes:
    buf = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buf, fmt, **options)
    return buf.getvalue()


def _stream(data: bytes, step: int) -> tuple[bytes, ImageStream]:
    out = io.BytesIO()
    stream = ImageStream(out.write)
    for at in range(0, len(data), step):
        stream.write(data[at : at + step])
    stream.finish()
    return out.getvalue(), stream


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_any_write_boundaries_pass_the_bytes_unchanged_and_read_the_size(fmt):
    data = _encode(fmt)
    for step in (1, 2, 7, 33, 34, 1000, len(data)):
        out, stream = _stream(data, step)
        assert out == data, step  # not a byte added: Google's C2PA hash still matches
        assert stream.size == (40, 30), step
        assert stream.bytes_written == len(data)


def test_the_size_comes_from_the_header_alone():
    """A few hundred bytes of the start are enough: the rest of the image never has to
    be held to know its size (PNG IHDR, JPEG SOF, WebP VP8/VP8L/VP8X)."""
    assert pixel_size(_encode("PNG", (300, 200))[:200]) == (300, 200)
    assert pixel_size(_encode("JPEG", (300, 200))[:1000]) == (300, 200)
    assert pixel_size(_encode("WEBP", (300, 200))[:30]) == (300, 200)
    assert pixel_size(_encode("WEBP", (300, 200), lossless=True)[:30]) == (300, 200)
    assert pixel_size(b"not an image at all") is None


def test_bytes_that_are_not_an_image_pass_through():
    junk = b"\x00" * 100
    out, stream = _stream(junk, 10)
    assert out == junk and stream.size is None
    assert _stream(b"ab", 1)[0] == b"ab"  # shorter than a header
