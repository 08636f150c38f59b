"""What a job gets back from an image model, and the reference images it sends: pure data,
shared by the worker (which keeps and stores it) and the Vertex adapter (which reads it off
the wire). No I/O here.

Images are not held in memory on the production path: the adapter streams each image's
bytes into an `ImageSink` the worker opens for it (an upload to Cloud Storage), and the
`GeneratedImage` it reports carries the stored output instead of the bytes (issue 18).
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from imagegen.domain.job_values import Output
from imagegen.domain.request import ReferenceImage, sniff_image_type


class ImageSink(Protocol):
    """Where one image's bytes go as they arrive. `close` commits it (and returns what the
    opener wants to know about the stored image); `abort` leaves nothing visible."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> Output | None: ...

    def abort(self) -> None: ...


# Opens the sink for the next image of a reply, given its MIME type.
OpenImage = Callable[[str], ImageSink]


class BytesSink:
    """The in-memory sink: the image's bytes end up in `data` (tests, and callers that pass
    no sink of their own)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self.data = b""

    def write(self, data: bytes) -> None:
        self._chunks.append(bytes(data))

    def close(self) -> None:
        self.data = b"".join(self._chunks)
        self._chunks = []

    def abort(self) -> None:
        self._chunks = []


@dataclass
class GeneratedImage:
    """One image of a reply: its bytes when read into memory, or `output` (what the sink's
    `close` returned, e.g. the stored object's record) when it was streamed to a sink."""

    mime_type: str
    data: bytes = b""
    output: Output | None = None


@dataclass
class Generation:
    """What one job got back from the model, across however many calls it took."""

    images: list[GeneratedImage] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # a reason per missing image
    text: list[str] = field(default_factory=list)
    enhanced_prompt: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    # Gemini: thought summaries (`thought: true` text parts), and the model turn to store
    # for a later turn: the reply's parts in order, an image as `{"image": n}` (index into
    # `images`), text as `{"text": ...}`, each with the `thoughtSignature` it came with.
    thoughts: list[str] = field(default_factory=list)
    model_parts: list[dict[str, Any]] = field(default_factory=list)
    # the candidate's groundingMetadata (Google Search grounding): the search queries and
    # the suggestions Google requires to be shown with a grounded answer (issue 28)
    grounding: dict[str, Any] | None = None

    def merge(self, other: Generation) -> None:
        """Add another call's reply. The model turn stays the first reply's that holds an
        image (with several images a job makes several calls, but continues only one)."""
        has_image = any("image" in p for p in self.model_parts)
        other_has_image = any("image" in p for p in other.model_parts)
        if other.model_parts and not has_image and (other_has_image or not self.model_parts):
            offset = len(self.images)
            self.model_parts = [
                {**p, "image": p["image"] + offset} if "image" in p else dict(p)
                for p in other.model_parts
            ]
        self.thoughts.extend(other.thoughts)
        self.grounding = self.grounding or other.grounding
        self.images.extend(other.images)
        self.blocked.extend(other.blocked)
        self.text.extend(other.text)
        for key, value in other.usage.items():
            self.usage[key] = self.usage.get(key, 0) + value


def reference_mime(ref: ReferenceImage) -> str:
    """The MIME type a reference image is sent with: the caller's, else guessed from the
    gs:// name or sniffed from the first bytes, else PNG."""
    if ref.mime_type:
        return ref.mime_type
    if ref.gcs_uri:
        return mimetypes.guess_type(ref.gcs_uri)[0] or "image/png"
    return sniff_image_type(base64.b64decode(ref.data[:64])) or "image/png"


def reference_bytes(ref: ReferenceImage) -> bytes:
    """The bytes of an inline reference image (validation has already checked the base64)."""
    return base64.b64decode(ref.data)
