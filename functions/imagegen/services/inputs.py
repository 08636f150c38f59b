"""A job's input images in Cloud Storage: each inline reference image is written to
`jobs/<id>/inputs/<n>.<ext>` of the outputs bucket and referred to by its gs:// URI from then
on, so the job store holds references, never image bytes (a Firestore document is at most
1 MiB; Vertex takes 7 MB per inline image). Submit stores a request's inline references
before the job is recorded; the worker stores those of a job recorded before that (an older
document) when it writes the job's conversation."""

from __future__ import annotations

import dataclasses

from imagegen.bootstrap import Services
from imagegen.domain.generation import reference_bytes, reference_mime
from imagegen.domain.request import ReferenceImage, ValidatedRequest, extension
from imagegen.errors import Unavailable
from imagegen.logs import get_logger

log = get_logger("imagegen.submit")


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
