"""A job's input images in Cloud Storage: each inline reference image is written to
`jobs/<id>/inputs/<n>.<ext>` of the outputs bucket and referred to by its gs:// URI from then
on, so the job store holds references, never image bytes (a Firestore document is at most
1 MiB; Vertex takes 7 MB per inline image). Submit stores a request's inline references
before the job is recorded; the worker stores those of a job recorded before that (an older
document) when it writes the job's conversation.

The worker also reads them back: a Vertex-native job's request (issue 28) gets its inline
images again before it is sent as it was, and when Vertex answers 404 the job's gs:// inputs
are checked (issue 31: a missing input and a model that is gone look alike)."""

from __future__ import annotations

import dataclasses
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.generation import reference_bytes, reference_mime
from imagegen.domain.job import Job
from imagegen.domain.request import ReferenceImage, ValidatedRequest, extension
from imagegen.errors import Unavailable
from imagegen.logs import get_logger
from imagegen.native import vertex_request

# (body, API version) of a Vertex-native request, as the worker sends it (issue 28)
NativeCall = tuple[dict[str, Any], str]

log = get_logger("imagegen.submit")
worker_log = get_logger("imagegen.generate")  # what the worker meets reading them back


def store_inline(
    services: Services, validated: ValidatedRequest, job_id: str
) -> tuple[ValidatedRequest, list[str]]:
    """The request with each inline reference stored and named by URI, and the URIs written
    (removed again if anything fails: Unavailable)."""
    refs, written = stored_references(services, validated.request.reference_images, job_id)
    if not written:
        return validated, []
    request = validated.request.model_copy(update={"reference_images": refs})
    return dataclasses.replace(validated, request=request), written


def stored_references(
    services: Services, refs: list[ReferenceImage], job_id: str
) -> tuple[list[ReferenceImage], list[str]]:
    """`refs` with every inline one written to the job's inputs, and the URIs written."""
    if not any(ref.data is not None for ref in refs):
        return list(refs), []
    bucket = services.settings.require("outputs_bucket")
    written: list[str] = []
    stored = []
    try:
        for index, ref in enumerate(refs):
            if ref.data is None:
                stored.append(ref)
                continue
            mime = reference_mime(ref)
            uri = services.storage.write(
                bucket,
                f"jobs/{job_id}/inputs/{index}.{extension(mime)}",
                reference_bytes(ref),
                mime,
                {"imagegen-job-id": job_id},
            )
            written.append(uri)
            stored.append(ref.model_copy(update={"data": None, "gcs_uri": uri, "mime_type": mime}))
    except Exception as exc:
        remove(services, written, job_id)
        raise Unavailable(f"could not store the reference images: {exc}") from exc
    return stored, written


def remove(services: Services, uris: list[str], job_id: str) -> None:
    """Delete inputs no job needs (a refused request, a replay); best effort."""
    for uri in uris:
        try:
            services.storage.delete(uri)
        except Exception:  # the bucket's lifecycle rule removes it later
            log.warning("could not delete an unused input", extra={"job_id": job_id, "uri": uri})


def native_call(services: Services, job: Job) -> NativeCall | None:
    """(body, API version) of a Vertex-native job (issue 28): the caller's request, its
    inline images read back from where submit stored them; None for other jobs."""
    if not job.native_request:
        return None
    limit = services.settings.max_inline_image_bytes
    return vertex_request.restore(job.native_request, lambda uri: services.storage.read(uri, limit))


def missing(
    services: Services,
    refs: list[ReferenceImage],
    history: list[dict[str, Any]],
    job_id: str,
) -> list[str]:
    """The gs:// inputs of a call (references and earlier turns' images, `history` in
    Vertex's JSON form) that do not exist. Vertex answers a missing input 404 NOT_FOUND as
    it does a model that is gone
    (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/api-errors,
    read 2026-12-06); its message is not relied on to tell them apart. An input that cannot
    be checked counts as present, so the 404 stays the model's, as before."""
    uris = [ref.gcs_uri for ref in refs if ref.gcs_uri]
    for turn in history:
        uris += [p["fileData"].get("fileUri") for p in turn.get("parts") or [] if "fileData" in p]
    gone = []
    for uri in dict.fromkeys(u for u in uris if isinstance(u, str) and u.startswith("gs://")):
        try:
            if services.storage.generation(uri) is None:
                gone.append(uri)
        except Exception as exc:
            worker_log.warning(f"could not check the input {uri}: {exc}", extra={"job_id": job_id})
    return gone
