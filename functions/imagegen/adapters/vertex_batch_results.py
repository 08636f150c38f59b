"""Reading a Vertex batch output (`predictions.jsonl`) as a stream (issue 29).

Each line is `{"status", "processed_time", "request", "response"}` (domain/batch_facts.py):
one request's GenerateContentResponse, its images as base64 in `inlineData.data`. A 10,000
line output of 1K images is gigabytes, so it is never held: the bytes are split at newlines
(a JSONL line holds no raw newline) and each line goes through the online path's own reader
(`vertex_stream.ReplyReader`, rooted at `response`), which writes each image into its sink
as it arrives. Which item a line belongs to is read from the echoed request's labels
(`LineKey`); when the request comes before the response (as in Google's sample) the images
go straight to the item's sink, otherwise they are held until the line ends and then
written.

A line that is cut short (the last line of a file Vertex did not finish) or is not JSON is
reported with its `problem` and its images aborted, never half-written; the lines around
it are read as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from imagegen.adapters.vertex import through_proto
from imagegen.adapters.vertex_stream import ReplyError, ReplyReader
from imagegen.adapters.vertex_wire import read_gemini
from imagegen.domain.batch import LineKey, OpenLineImage, PredictionLine
from imagegen.domain.generation import BytesSink, ImageSink


class _LineSink:
    """One image of one line: into the item's own sink when the line's key is known as the
    image starts, else into memory until the line ends (`settle`)."""

    def __init__(self, key: LineKey | None, mime_type: str, open_image: OpenLineImage) -> None:
        self.mime_type = mime_type
        self._open = open_image
        self.held: BytesSink | None = None
        self.sink: ImageSink | None = None
        if key is None:
            self.held = BytesSink()
        else:
            self.sink = open_image(key, mime_type)
        self.result: dict[str, Any] | None = None
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        (self.held if self.held is not None else self.sink).write(data)  # type: ignore[union-attr]

    def close(self) -> dict[str, Any] | None:
        self.closed = True
        if self.held is not None:
            self.held.close()  # kept until the key is known
            return None
        assert self.sink is not None
        self.result = self.sink.close()
        return self.result

    def abort(self) -> None:
        self.aborted = True
        if self.held is not None:
            self.held.abort()
        elif self.sink is not None:
            self.sink.abort()

    def settle(self, key: LineKey) -> dict[str, Any] | None:
        """Write a held image to the item's sink now that the line's key is known."""
        if self.held is None or not self.closed or self.aborted:
            return self.result
        self.sink = self._open(key, self.mime_type)
        try:
            self.sink.write(self.held.data)
            self.result = self.sink.close()
        except BaseException:
            self.sink.abort()
            raise
        finally:
            self.held = None
        return self.result


class _Line:
    """The line being read."""

    def __init__(self, open_image: OpenLineImage) -> None:
        self._open = open_image
        self.reader = ReplyReader(self._image, root="response")
        self.sinks: list[_LineSink] = []
        self.bytes = 0

    def _key(self) -> LineKey | None:
        partial = self.reader.partial()
        request = partial.get("request") if isinstance(partial, dict) else None
        return LineKey.from_labels(request.get("labels")) if isinstance(request, dict) else None

    def _image(self, mime_type: str) -> ImageSink:
        sink = _LineSink(self._key(), mime_type, self._open)
        self.sinks.append(sink)
        return sink

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        self.reader.feed(data)

    def finish(self) -> PredictionLine:
        try:
            line, images = self.reader.finish()
        except ReplyError as exc:
            return self.fail(str(exc))
        if not isinstance(line, dict):
            return self.fail("the line is not a JSON object")
        request = line.get("request")
        key = LineKey.from_labels(request.get("labels") if isinstance(request, dict) else None)
        if key is None:
            self.abort()
            return PredictionLine(None, problem="the line names no item of ours (no labels)")
        try:
            for image, sink in zip(images, self.sinks, strict=True):
                image.output = sink.settle(key)
        except BaseException:
            self.abort()
            raise
        status = str(line.get("status") or "")
        response = line.get("response")
        if not isinstance(response, dict) or not response:
            self.abort()
            return PredictionLine(key, status=status or "the line has no response")
        generation = read_gemini(through_proto(response), images)
        return PredictionLine(key, status=status, generation=generation)

    def fail(self, problem: str) -> PredictionLine:
        key = self._key()
        self.abort()
        return PredictionLine(key, problem=problem)

    def abort(self) -> None:
        self.reader.abort()
        for sink in self.sinks:
            if not sink.aborted:
                sink.abort()


def read_predictions(
    chunks: Iterable[bytes], open_image: OpenLineImage, start: int = 0
) -> Iterator[PredictionLine]:
    """Every line of a predictions file, in file order, as it is read; `start`: the offset
    the chunks begin at (a resumed split), so each line's `end` is the file's offset."""
    line: _Line | None = None
    broken = False  # the current line already failed: skip to its end
    offset = start  # of the chunk being read
    for chunk in chunks:
        begin = 0
        while begin <= len(chunk):
            newline = chunk.find(b"\n", begin)
            piece = chunk[begin:] if newline < 0 else chunk[begin:newline]
            if piece and not broken:
                if line is None:
                    if not piece.strip():
                        piece = b""
                    else:
                        line = _Line(open_image)
                if piece:
                    try:
                        line.feed(piece)  # type: ignore[union-attr]
                    except ReplyError as exc:
                        assert line is not None
                        yield _ending(line.fail(str(exc)), offset + newline + 1)
                        line, broken = None, True
            if newline < 0:
                break
            if line is not None:
                yield _ending(line.finish(), offset + newline + 1)
            line, broken = None, False
            begin = newline + 1
        offset += len(chunk)
    if line is not None:
        yield _ending(line.finish(), offset)  # the last line had no newline: whole, or cut


def _ending(line: PredictionLine, end: int) -> PredictionLine:
    line.end = end
    return line
