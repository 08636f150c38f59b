"""Provenance inside the image files themselves, added without re-encoding a pixel: PNG
`tEXt` chunks spliced in before `IEND`, a JPEG `COM` segment after `SOI`. Object metadata
can be lost when a file is copied out of the bucket; these travel with the file."""

from __future__ import annotations

import json
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def embed_text_metadata(data: bytes, mime_type: str, fields: dict[str, str]) -> bytes:
    """The same image with `fields` embedded as text; unchanged for other formats."""
    if mime_type == "image/png" and data.startswith(PNG_SIGNATURE) and data.endswith(_IEND):
        chunks = b"".join(
            _png_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
            for key, value in fields.items()
        )
        return data[: -len(_IEND)] + chunks + _IEND
    if mime_type == "image/jpeg" and data.startswith(b"\xff\xd8"):
        comment = json.dumps(fields, sort_keys=True).encode()[:65000]
        segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
        return data[:2] + segment + data[2:]
    return data


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header (Pillow reads no pixels for this); None when
    the bytes are not an image Pillow knows."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
