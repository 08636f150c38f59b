"""Provenance inside the image files themselves, added without re-encoding a pixel: PNG
`tEXt` chunks right after `IHDR`, a JPEG `COM` segment right after `SOI`. Object metadata
can be lost when a file is copied out of the bucket; these travel with the file.

Both go at the very start of the file, so they are spliced into the byte stream as it
passes (`ProvenanceStream`): a 4K image is written to Cloud Storage as it arrives from
Vertex and never held whole (issue 18). The stream also reads the pixel size from the
header it passes (Pillow parses the header only; WebP's is read here).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_HEAD = len(PNG_SIGNATURE) + 8 + 13 + 4  # signature + the IHDR chunk
# The header (PNG chunks before IDAT, JPEG segments before SOS) must lie within this many
# bytes for the pixel size to be read; beyond it the size is unknown (0 x 0, and the
# delivered-size check warns).
PROBE_LIMIT = 1024 * 1024


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _provenance(mime_type: str, fields: dict[str, str]) -> tuple[int, bytes] | None:
    """(offset, bytes to insert there) for a format that carries text; None otherwise."""
    if mime_type == "image/png":
        chunks = b"".join(
            _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
            for key, value in fields.items()
        )
        return _PNG_HEAD, chunks
    if mime_type == "image/jpeg":
        comment = json.dumps(fields, sort_keys=True).encode()[:65000]
        return 2, b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    return None


def _head_fits(mime_type: str, head: bytes) -> bool:
    if mime_type == "image/png":
        return head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR"
    return head.startswith(b"\xff\xd8")


class ProvenanceStream:
    """Writes an image to `out` as its bytes arrive, with `fields` spliced in at the start,
    counting the bytes written and reading the pixel size from the header on the way.
    Bytes that are not the declared format pass through unchanged."""

    def __init__(
        self, out: Callable[[bytes], object], mime_type: str, fields: dict[str, str]
    ) -> None:
        self._out = out
        self._mime = mime_type
        self._splice = _provenance(mime_type, fields)
        self._head = b""  # held until the splice point has passed
        self._probe = bytearray()  # the first bytes, for the pixel size
        self._next_try = 64
        self.size: tuple[int, int] | None = None
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._read_size(data)
        if self._splice is not None:
            self._head += data
            offset, insert = self._splice
            if len(self._head) < offset:
                return
            head, self._head, self._splice = self._head, b"", None
            fits = _head_fits(self._mime, head)
            data = head[:offset] + insert + head[offset:] if fits else head
        self._emit(data)

    def finish(self) -> None:
        """The image is complete: write what is still held, settle the pixel size."""
        if self._head:
            self._emit(self._head)  # shorter than a header: not the declared format
            self._head, self._splice = b"", None
        if self.size is None and self._probe:
            self.size = pixel_size(bytes(self._probe))
        self._probe = bytearray()

    def _emit(self, data: bytes) -> None:
        self._out(data)
        self.bytes_written += len(data)

    def _read_size(self, data: bytes) -> None:
        if self.size is not None or len(self._probe) >= PROBE_LIMIT:
            return
        self._probe += data[: PROBE_LIMIT - len(self._probe)]
        if len(self._probe) >= self._next_try or len(self._probe) >= PROBE_LIMIT:
            self._next_try = len(self._probe) * 4  # a few tries per image, not one a chunk
            self.size = pixel_size(bytes(self._probe))
            if self.size is not None or len(self._probe) >= PROBE_LIMIT:
                self._probe = bytearray()


def embed_text_metadata(data: bytes, mime_type: str, fields: dict[str, str]) -> bytes:
    """The same image with `fields` embedded as text; unchanged for other formats."""
    out = io.BytesIO()
    stream = ProvenanceStream(out.write, mime_type, fields)
    stream.write(data)
    stream.finish()
    return out.getvalue()


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
