"""The buffered way to split a Vertex batch output, kept for the batch benchmark's same-run
baseline only (bench/batch.py): the whole predictions file is read into memory (as
`blob.download_as_bytes()` would), each line goes through `json.loads` with its images'
base64 in it, and each image is decoded whole before it is written. Everything after the
reading (the item's sink, its record, the item index) is the code as it is. `install()`
patches it into the running process (the benchmark's child)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator

from imagegen.adapters.vertex import through_proto
from imagegen.adapters.vertex_wire import read_gemini
from imagegen.domain.batch import LineKey, OpenLineImage, PredictionLine
from imagegen.domain.generation import GeneratedImage


def read_buffered(
    chunks: Iterable[bytes], open_image: OpenLineImage, start: int = 0
) -> Iterator[PredictionLine]:
    """`chunks` are the file from byte `start` (a resumed split); each line's `end` is the
    file's offset after it, as the streamed reader gives it."""
    whole = b"".join(chunks)  # the rest of the file at once
    end = start
    for raw in whole.split(b"\n"):
        end = min(end + len(raw) + 1, start + len(whole))  # the last line may lack a newline
        if not raw.strip():
            continue
        line = json.loads(raw)
        key = LineKey.from_labels((line.get("request") or {}).get("labels"))
        response = line.get("response") or {}
        images = []
        for candidate in response.get("candidates") or []:
            for part in (candidate.get("content") or {}).get("parts") or []:
                inline = part.get("inlineData")
                if inline is None:
                    continue
                data = base64.b64decode(inline["data"])
                image = GeneratedImage(inline.get("mimeType", "image/png"), data)
                if key is not None and not part.get("thought"):
                    sink = open_image(key, image.mime_type)
                    sink.write(data)
                    image.output = sink.close()
                    image.data = b""
                inline["data"] = ""
                images.append(image)
        generation = read_gemini(through_proto(response), images) if response else None
        yield PredictionLine(
            key, status=str(line.get("status") or ""), generation=generation, end=end
        )
    del whole


def install(services) -> None:
    services.vertex_batch.read_results = read_buffered
