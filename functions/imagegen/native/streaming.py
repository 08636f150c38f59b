"""JSON answers that carry whole images as base64 (Vertex's `inlineData.data`, Imagen's
`bytesBase64Encoded`, OpenAI's `b64_json`), written as a stream.

A 4K image is up to ~64 MB, ~85 MB as base64: building the answer as one string would hold
it several times over, and Cloud Run limits a response that is not streamed to 32 MiB
(https://cloud.google.com/run/quotas, read 2026-12-06). So the answer is the JSON of a
payload whose image fields hold markers, cut at each marker, and each image's bytes are
read and base64-encoded in between, chunk by chunk (chunked transfer encoding). An
answer holds one image's bytes at a time.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

# a multiple of 3: each chunk's base64 is whole, so the pieces join into one string
CHUNK_BYTES = 3 * 256 * 1024


class Images:
    """The images of one answer: `mark(read)` is the placeholder string to put where the
    image's base64 goes; `read()` returns its bytes when the answer reaches it."""

    def __init__(self) -> None:
        self._nonce = secrets.token_hex(8)
        self._readers: list[Callable[[], bytes]] = []

    def mark(self, read: Callable[[], bytes]) -> str:
        self._readers.append(read)
        return f"@@imagegen-image-{len(self._readers) - 1}-{self._nonce}@@"

    def chunks(self, payload: Any) -> Iterator[bytes]:
        """The payload's JSON, each marker replaced by its image's base64."""
        text = json.dumps(payload, separators=(",", ":"))
        for n, read in enumerate(self._readers):
            head, found, text = text.partition(f"@@imagegen-image-{n}-{self._nonce}@@")
            yield head.encode()
            if not found:
                continue
            raw = read()
            for start in range(0, len(raw), CHUNK_BYTES):
                yield base64.b64encode(raw[start : start + CHUNK_BYTES])
            del raw
        yield text.encode()
