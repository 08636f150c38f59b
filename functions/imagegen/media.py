"""An image's bytes on their way to Cloud Storage, passed through unchanged: counted, and
their pixel size read from the header on the way (Pillow parses the header only; WebP's is
read here).

Unchanged is the point (issue 25): Vertex signs the images of the models it supports with
C2PA Content Credentials, and a C2PA manifest binds the file's bytes by hash, so a single
byte added to the file (imagegen's PNG `tEXt` / JPEG `COM` provenance, before) breaks
Google's signature. Our own provenance lives beside the file (object metadata, the job
record: domain/provenance.py).
"""

from __future__ import annotations

import io
from collections.abc import Callable

# The header (PNG chunks before IDAT, JPEG segments before SOS) must lie within this many
# bytes for the pixel size to be read; beyond it the size is unknown (0 x 0, and the
# delivered-size check warns).
PROBE_LIMIT = 1024 * 1024


class ImageStream:
    """Writes an image to `out` as its bytes arrive, exactly as they arrive, counting them
    and reading the pixel size from the header on the way."""

    def __init__(self, out: Callable[[bytes], object]) -> None:
        self._out = out
        self._probe = bytearray()  # the first bytes, for the pixel size
        self._next_try = 64
        self.size: tuple[int, int] | None = None
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._read_size(data)
        self._out(data)
        self.bytes_written += len(data)

    def finish(self) -> None:
        """The image is complete: settle the pixel size."""
        if self.size is None and self._probe:
            self.size = pixel_size(bytes(self._probe))
        self._probe = bytearray()

    def _read_size(self, data: bytes) -> None:
        if self.size is not None or len(self._probe) >= PROBE_LIMIT:
            return
        self._probe += data[: PROBE_LIMIT - len(self._probe)]
        if len(self._probe) >= self._next_try or len(self._probe) >= PROBE_LIMIT:
            self._next_try = len(self._probe) * 4  # a few tries per image, not one a chunk
            self.size = pixel_size(bytes(self._probe))
            if self.size is not None or len(self._probe) >= PROBE_LIMIT:
                self._probe = bytearray()


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Canvas size from a WebP header (RIFF container; VP8X, VP8L or VP8 first chunk).
    Pillow's WebP reader needs the whole file, so this reads the few header bytes."""
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    kind = head[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
    if kind == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if kind == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        return (
            int.from_bytes(head[26:28], "little") & 0x3FFF,
            int.from_bytes(head[28:30], "little") & 0x3FFF,
        )
    return None


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header (the whole file, or only its start: Pillow
    reads no pixels for this); None when the bytes are not an image known here."""
    from PIL import Image  # only here: ~8 ms on import (`python -X importtime`)

    webp = _webp_size(data[:30])
    if webp is not None:
        return webp
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:  # a header cut short, or not an image: the size is unknown
        return None
