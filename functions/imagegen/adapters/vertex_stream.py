"""Reading a `:generateContent` reply as it arrives, without ever holding an image whole.

The REST reply is JSON with each image as base64 text in `inlineData.data` (~64 MiB for a
48 MiB 4K PNG). ijson (C backend, yajl2_c) parses the reply incrementally, but emits a
string only once it is complete (ICRAR/ijson#162), so the bytes of each `inlineData.data`
string are split off before ijson sees them: ijson gets an empty string in its place, and
the content goes through a JSON-unescape and a chunked base64 decode (whole 4-character
quanta) into the image's sink as it arrives. Everything else of the reply (text, thoughts,
signatures, usage, finish reasons) is small and is built into a dict by ijson.

Telling a string's start from a quote inside one needs only JSON's own rule (a quote in a
string is escaped); which string is an image is decided by ijson's events (the key `data`
of an `inlineData` object in a part), not by guessing.

An image's sink is committed (`close`) when its part ends, so a `thought: true` part (an
interim image, never an output) is aborted instead; a reply cut short aborts its sinks
(`abort`), so nothing of a failed reply becomes an output.
"""

from __future__ import annotations

import binascii
import json
from typing import Any

import ijson

from imagegen.domain.generation import BytesSink, GeneratedImage, ImageSink, OpenImage
from imagegen.domain.request import sniff_image_type

# yajl2_c is the C backend ijson ships wheels with; the pure-Python one is ~50x slower.
_IJSON = ijson.get_backend("yajl2_c")
_PART = "candidates.item.content.parts.item"


def _prefixes(root: str) -> tuple[str, tuple[str, str], frozenset[str]]:
    """ijson's prefixes of a reply's parts, inline images and their MIME types, for a
    reply at the top (`root` empty) or under a key (a batch output line's `response`)."""
    part = f"{root}.{_PART}" if root else _PART
    inline = (f"{part}.inlineData", f"{part}.inline_data")
    return part, inline, frozenset(f"{p}.{k}" for p in inline for k in ("mimeType", "mime_type"))


_WHITESPACE = b" \t\r\n"
_URL_SAFE = bytes.maketrans(b"-_", b"+/")


class ReplyError(Exception):
    """The reply is cut short or is not the JSON it should be (retryable: ask again)."""


class _Base64Image:
    """One image's base64 text → its bytes, into a sink opened on the first bytes."""

    def __init__(self, mime_type: str | None, open_image: OpenImage) -> None:
        self.mime_type = mime_type
        self._open = open_image
        self.sink: ImageSink | None = None
        self._escape = b""  # an escape sequence cut by a chunk boundary
        self._quanta = b""  # base64 characters short of a whole 4-character quantum
        self._head = b""  # decoded bytes held until the type can be sniffed

    def feed(self, raw: bytes) -> None:
        text = self._escape + raw
        self._escape = b""
        if b"\\" in text:
            cut = text.rfind(b"\\", max(0, len(text) - 6))
            if cut >= 0 and not _complete_escape(text[cut:]):
                text, self._escape = text[:cut], text[cut:]
            try:
                text = json.loads(b'"' + text + b'"').encode("ascii")
            except (ValueError, UnicodeEncodeError) as exc:
                raise ReplyError(f"inlineData.data is not base64 text: {exc}") from exc
        text = self._quanta + text.translate(_URL_SAFE, _WHITESPACE)
        whole = len(text) - len(text) % 4
        self._quanta = text[whole:]
        if whole:
            self._emit(_b64decode(text[:whole]))

    def end(self) -> None:
        if self._escape or self._quanta:
            raise ReplyError("inlineData.data ends inside an escape or a base64 quantum")
        self._emit(b"", final=True)

    def _emit(self, data: bytes, final: bool = False) -> None:
        if self.sink is None:
            self._head += data
            if len(self._head) < 16 and not final:
                return
            if self.mime_type is None:
                self.mime_type = sniff_image_type(self._head) or "image/png"
            self.sink = self._open(self.mime_type)
            data, self._head = self._head, b""
        if data:
            self.sink.write(data)


def _complete_escape(tail: bytes) -> bool:
    """Whether a trailing `\\...` is a whole JSON escape."""
    if len(tail) < 2:
        return False
    return tail[1:2] != b"u" or len(tail) >= 6


def _b64decode(text: bytes) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error as exc:
        raise ReplyError(f"inlineData.data is not base64: {exc}") from exc


class ReplyReader:
    """Feed the reply's body chunk by chunk (`feed`), then `finish` for the reply as a
    dict (each image's `data` empty) and its images in order, each as its sink's result.
    `open_image(mime_type)` opens the sink of each image; None keeps the bytes in memory
    (`GeneratedImage.data`). On any failure call `abort`: no image of the reply stays."""

    def __init__(self, open_image: OpenImage | None = None, root: str = "") -> None:
        self._open = open_image
        self._part, self._inline, self._mime_keys = _prefixes(root)
        self._events = ijson.sendable_list()
        self._parser = _IJSON.parse_coro(self._events, use_float=True)
        self._builder = ijson.ObjectBuilder()
        self._last: tuple[str, str, Any] | None = None
        self._in_string = False
        self._escaped = False  # the chunk ended right after a backslash inside a string
        self._image: _Base64Image | None = None  # the image whose base64 is being read
        self._part_images: list[_Base64Image] = []  # read, waiting for their part's end
        self._part_thought = False
        self._mime: str | None = None  # the current inlineData's declared mimeType
        self.images: list[GeneratedImage] = []
        self._sinks: list[ImageSink] = []  # every sink opened, for abort

    # -- the byte stream
    def feed(self, chunk: bytes) -> None:
        pos, start, end = 0, 0, len(chunk)
        while pos < end:
            if self._image is not None:  # inside an image's base64: to the image
                stop = self._string_end(chunk, pos)
                self._image.feed(chunk[pos : end if stop < 0 else stop])
                if stop < 0:
                    return
                self._image.end()
                self._part_images.append(self._image)
                self._image = None
                pos = start = stop + 1  # the closing quote was sent with the placeholder
                continue
            if self._in_string:
                stop = self._string_end(chunk, pos)
                if stop < 0:
                    break
                self._in_string, pos = False, stop + 1
                continue
            quote = chunk.find(b'"', pos)
            if quote < 0:
                break
            self._send(chunk[start:quote])
            start = quote
            if self._at_image_data():
                self._send(b'""')  # ijson sees an empty string; the content goes aside
                self._image = _Base64Image(self._mime, self._opener())
                pos = start = quote + 1
            else:
                self._in_string, pos = True, quote + 1
        self._send(chunk[start:])

    def _string_end(self, chunk: bytes, pos: int) -> int:
        """Index of the quote closing the current string, or -1 if not in this chunk."""
        if self._escaped:
            self._escaped = False
            pos += 1
        while True:  # bytes.find is memchr: a 64 MiB string is scanned at memory speed
            quote = chunk.find(b'"', pos)
            at = chunk.find(b"\\", pos, quote if quote >= 0 else len(chunk))
            if at < 0:
                return quote
            if at + 1 >= len(chunk):
                self._escaped = True
                return -1
            pos = at + 2

    def _opener(self) -> OpenImage:
        def open_image(mime_type: str) -> ImageSink:
            sink = self._open(mime_type) if self._open else BytesSink()
            self._sinks.append(sink)
            return sink

        return open_image

    # -- ijson's events
    def _send(self, data: bytes) -> None:
        if not data:
            return
        try:
            self._parser.send(data)
        except ijson.JSONError as exc:
            raise ReplyError(f"the reply is not JSON: {exc}") from exc
        self._handle()

    def _at_image_data(self) -> bool:
        return (
            self._last is not None
            and self._last[1:] == ("map_key", "data")
            and (self._last[0] in self._inline)
        )

    def _handle(self) -> None:
        for prefix, event, value in self._events:
            self._builder.event(event, value)
            if prefix == self._part and event == "start_map":
                self._part_thought, self._mime = False, None
            elif prefix == f"{self._part}.thought":
                self._part_thought = bool(value)
            elif prefix in self._mime_keys:
                self._mime = value
            elif prefix == self._part and event == "end_map":
                self._end_part()
            self._last = (prefix, event, value)
        del self._events[:]

    def _end_part(self) -> None:
        for image in self._part_images:
            sink = image.sink
            output = None
            if sink is not None and self._part_thought:
                sink.abort()  # an interim image of the model's thinking: never an output
            elif sink is not None:
                output = sink.close()
            in_memory = self._open is None and isinstance(sink, BytesSink)
            data = sink.data if in_memory else b""
            self.images.append(GeneratedImage(image.mime_type or "image/png", data, output))
        self._part_images = []

    def partial(self) -> Any:
        """What of the reply has been read so far (None before its first value): a batch
        output line's `request` is here once read, before its `response` is."""
        return getattr(self._builder, "value", None)

    def finish(self) -> tuple[dict[str, Any], list[GeneratedImage]]:
        """The whole reply has been fed: its dict and images. ReplyError if it is cut
        short (the connection dropped before the JSON closed)."""
        if self._image is not None or self._in_string:
            raise ReplyError("the reply ends inside a string")
        try:
            self._parser.close()
        except ijson.JSONError as exc:
            raise ReplyError(f"the reply is cut short: {exc}") from exc
        self._handle()
        if self._part_images:
            raise ReplyError("the reply ends inside a part")
        return self._builder.value, self.images

    def abort(self) -> None:
        """Undo every image of this reply: open uploads are cancelled, committed ones
        removed (a failed reply is asked for again, whole)."""
        for sink in self._sinks:
            sink.abort()
        self._sinks = []
