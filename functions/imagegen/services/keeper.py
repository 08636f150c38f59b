"""The images of a running job: each streamed to Cloud Storage as its bytes arrive and recorded
on the job (`Job.progress`) when its reply is complete, so a failed call, a retry or a
redelivery asks Vertex only for the missing ones and no image is generated (and billed)
twice. Outputs carry their pixel size and bytes; one whose size differs from what was asked
gets a warning and is priced as delivered.
"""

from __future__ import annotations

import hashlib
import itertools
import threading

from imagegen.bootstrap import Services
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import GeneratedImage, Generation, OpenImage
from imagegen.domain.job import Job, utcnow
from imagegen.domain.job_values import Output
from imagegen.domain.request import JobRequest, extension
from imagegen.media import ProvenanceStream
from imagegen.services.routes import Route


class Keeper:
    """The images a job has (see the module). Each is written to Cloud Storage as its bytes
    arrive (`opener`, issue 18)."""

    def __init__(self, services: Services, job: Job, attempt: int, req: JobRequest):
        self.services, self.job_id, self.attempt, self.req = services, job.id, attempt, req
        self.outputs: list[Output] = list(job.partial_outputs or [])
        self.blocked: list[str] = list(job.partial_blocked or [])
        self.size_warnings: list[str] = list(job.partial_warnings or [])
        # the replies' text, thoughts and model turn; image bytes are never kept
        self.generation = Generation(
            images=[GeneratedImage(o.mime_type or "image/png") for o in self.outputs]
        )
        self._lock = threading.Lock()  # images open from the calls' threads at once
        self._taken: set[int] = set()  # indexes of this attempt's uploads, not aborted

    @property
    def missing(self) -> int:
        return self.req.number_of_images - len(self.outputs) - len(self.blocked)

    def rerouted(self, req: JobRequest) -> None:
        """The job now runs as `req` (its model was retired and replaced on the way)."""
        self.req = req

    def opener(self, route: Route) -> OpenImage:
        """Opens the upload each image of a call on `route` streams into."""
        return lambda mime_type: OutputUpload(self, route, mime_type)

    def keep(self, reply: Generation, route: Route) -> None:
        for image in reply.images:
            output = image.output if image.output is not None else self._store(image, route)
            self.outputs.append(output)
            image.data = b""
            _, warning = delivered_size(
                route.spec, self.req, output.width or 0, output.height or 0, output.index or 0
            )
            if warning:
                self.size_warnings.append(warning)
        self.outputs.sort(key=lambda o: o.index or 0)
        self.blocked.extend(reply.blocked)
        self.generation.merge(reply)
        outputs, blocked, warnings = list(self.outputs), list(self.blocked), self.size_warnings
        self.services.jobs.transact(
            self.job_id,
            lambda job: job.progress(
                self.attempt, utcnow(), outputs=outputs, blocked=blocked, warnings=list(warnings)
            ),
        )

    def _store(self, image: GeneratedImage, route: Route) -> Output:
        """An image read into memory (a caller that passed no opener) goes the same way."""
        upload = OutputUpload(self, route, image.mime_type)
        upload.write(image.data)
        return upload.close()

    def take_index(self) -> int:
        """The lowest output index neither stored nor being written."""
        with self._lock:
            used = {o.index for o in self.outputs} | self._taken
            index = next(i for i in itertools.count() if i not in used)
            self._taken.add(index)
            return index

    def release_index(self, index: int) -> None:
        with self._lock:
            self._taken.discard(index)

    def provenance(self, route: Route) -> dict[str, str]:
        """Object metadata, also spliced into the file itself (media.py)."""
        req = self.req
        metadata = {
            "imagegen-job-id": self.job_id,
            "imagegen-model": route.spec.id,
            "imagegen-region": route.location,
            "imagegen-prompt-sha256": hashlib.sha256(req.prompt.encode()).hexdigest(),
            "imagegen-watermark": "synthid",
        }
        if req.seed is not None:
            metadata["imagegen-seed"] = str(req.seed)
        return metadata


class OutputUpload:
    """One output image streamed to `jobs/<id>/<index>.<ext>` as its bytes arrive, with its
    provenance spliced in; `close` returns its output record (the pixel size read from
    the header on the way), `abort` leaves no object and frees the index."""

    def __init__(self, keeper: Keeper, route: Route, mime_type: str) -> None:
        self.keeper, self.route, self.mime_type = keeper, route, mime_type
        self.index = keeper.take_index()
        metadata = keeper.provenance(route)
        ext = extension(mime_type)
        try:
            self._upload = keeper.services.storage.open_upload(
                keeper.services.settings.require("outputs_bucket"),
                f"jobs/{keeper.job_id}/{self.index}.{ext}",
                mime_type,
                metadata,
            )
        except BaseException:
            keeper.release_index(self.index)
            raise
        self._stream = ProvenanceStream(self._upload.write, mime_type, metadata)

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> Output:
        self._stream.finish()
        uri = self._upload.close()
        width, height = self._stream.size or (0, 0)
        spec = self.route.spec
        priced, _ = delivered_size(spec, self.keeper.req, width, height, self.index)
        return Output(
            uri=uri,
            mime_type=self.mime_type,
            index=self.index,
            width=width,
            height=height,
            bytes=self._stream.bytes_written,
            priced_size=priced,
            model=spec.id,
            cost_usd=spec.price(priced),
        )

    def abort(self) -> None:
        try:
            self._upload.abort()
        finally:
            self.keeper.release_index(self.index)


def delivered_size(
    spec: ModelSpec, req: JobRequest, width: int, height: int, index: int
) -> tuple[str, str | None]:
    """The size an image is priced at, and a warning when it is not what was asked (users
    of the Gemini APIs report imageSize being silently ignored)."""
    size = req.image_size or spec.default_size
    table = spec.sizes.get(size, {})
    if req.aspect_ratio:
        want = table.get(req.aspect_ratio)
        fits = want == (width, height)
        asked = f"{size} {req.aspect_ratio}" + (f" ({want[0]}x{want[1]})" if want else "")
    else:
        fits = (width, height) in table.values()
        asked = f"{size} (the input's shape)"
    if fits:
        return size, None
    priced = spec.size_of(width, height) or spec.nearest_size(width, height)
    return priced, (
        f"image {index} was delivered at {width}x{height}, not the {asked} asked for; "
        f"priced as {priced}"
    )
