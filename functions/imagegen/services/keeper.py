"""The images of a running job: each streamed to Cloud Storage as its bytes arrive, byte for
byte as Vertex sent it, its Content Credentials read back from the stored object (issue 25),
and recorded on the job (`Job.progress`) when its reply is complete, so a failed call, a
retry or a redelivery asks Vertex only for the missing ones and no image is generated (and
billed) twice. Outputs carry their pixel size, bytes and credentials; one whose size differs
from what was asked, or that lacks the credentials its model carries, gets a warning (and
is priced as delivered).
"""

from __future__ import annotations

import itertools
import threading

from imagegen.bootstrap import Services
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import GeneratedImage, Generation, OpenImage
from imagegen.domain.job import Job, utcnow
from imagegen.domain.job_values import ContentCredentials, Output
from imagegen.domain.job_view import iso
from imagegen.domain.provenance import credentials_warning, object_metadata
from imagegen.domain.request import JobRequest, extension
from imagegen.media import ImageStream
from imagegen.services.outputs import output_record, read_credentials
from imagegen.services.routes import Route


class Keeper:
    """The images a job has (see the module). Each is written to Cloud Storage as its bytes
    arrive (`opener`, issue 18)."""

    def __init__(self, services: Services, job: Job, attempt: int, req: JobRequest):
        self.services, self.job_id, self.attempt, self.req = services, job.id, attempt, req
        self.job = job
        self.outputs: list[Output] = list(job.partial_outputs or [])
        self.blocked: list[str] = list(job.partial_blocked or [])
        self.warnings: list[str] = list(job.partial_warnings or [])
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
                self.warnings.append(warning)
            warning = credentials_warning(
                route.spec.c2pa_content_credentials,
                output.content_credentials,
                output.index or 0,
                route.spec.id,
            )
            if warning and self.services.settings.verify_content_credentials:
                self.warnings.append(warning)
        self.outputs.sort(key=lambda o: o.index or 0)
        self.blocked.extend(reply.blocked)
        self.generation.merge(reply)
        outputs, blocked, warnings = list(self.outputs), list(self.blocked), self.warnings
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
        """The object metadata of an output made on `route`: our provenance, kept beside
        the file (the file itself stays as Vertex sent it)."""
        job, req = self.job, self.req
        return object_metadata(
            job_id=self.job_id,
            model_requested=req.model_requested or job.model or route.spec.id,
            model=route.spec.id,
            location=route.location,
            request=job.request,
            prompt=req.prompt,
            created_at=iso(job.created_at) if job.created_at else "",
            seed=req.seed,
        )

    def credentials(self, uri: str, mime_type: str) -> ContentCredentials | None:
        """The stored image's Content Credentials (services/outputs.py)."""
        return read_credentials(self.services, self.job_id, uri, mime_type)


class OutputUpload:
    """One output image streamed to `jobs/<id>/<index>.<ext>` as its bytes arrive, exactly
    as they arrive; `close` returns its output record (the pixel size read from the header
    on the way, the Content Credentials read back), `abort` leaves no object and frees
    the index."""

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
        self._stream = ImageStream(self._upload.write)

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> Output:
        self._stream.finish()
        uri = self._upload.close()
        width, height = self._stream.size or (0, 0)
        priced, _ = delivered_size(self.route.spec, self.keeper.req, width, height, self.index)
        return output_record(
            self.route.spec,
            self._stream,
            uri=uri,
            mime_type=self.mime_type,
            index=self.index,
            priced_size=priced,
            credentials=self.keeper.credentials(uri, self.mime_type),
        )

    def abort(self) -> None:
        try:
            self._upload.abort()
        finally:
            self.keeper.release_index(self.index)


def delivered_size(
    spec: ModelSpec, req: JobRequest, width: int, height: int, index: int
) -> tuple[str, str | None]:
    """The size an image of `req` is priced at, and a warning when it is not what was
    asked (ModelSpec.priced_as: the one rule, shared with batch items)."""
    size = req.image_size or spec.default_size
    return spec.priced_as(size, req.aspect_ratio, width, height, index)
