"""An image once it is stored: its output record, the same for an online job's image
(services/keeper.py) and a batch item's (services/batch_results.py).

The bytes went up exactly as Vertex sent them (media.ImageStream); the record says where
they are, what they are (pixel size read from the header, bytes), what they cost (priced at
the size they came in, `ModelSpec.priced_as`; a batch item at the batch price) and what
their Content Credentials say, read back from the stored object (issue 25).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagegen import content_credentials
from imagegen.domain.job_values import ContentCredentials, Output
from imagegen.domain.provenance import SYNTHID
from imagegen.logs import get_logger

if TYPE_CHECKING:
    from imagegen.bootstrap import Services
    from imagegen.domain.catalog import ModelSpec
    from imagegen.media import ImageStream

log = get_logger("imagegen.outputs")


def read_credentials(
    services: Services, job_id: str, uri: str, mime_type: str
) -> ContentCredentials | None:
    """The stored image's Content Credentials as recorded on its output (read back from
    the bucket through a seekable ranged reader); None when verification is off or the
    object could not be read back (logged; the image is kept either way)."""
    if not services.settings.verify_content_credentials:
        return None
    try:
        with services.storage.open_read(uri) as stream:
            found = content_credentials.read(stream, mime_type)
    except Exception as exc:  # storage: the job keeps its image; the warning says why
        log.warning(
            "content credentials not read",
            extra={"job_id": job_id, "uri": uri, "error": f"{type(exc).__name__}"},
        )
        return None
    log.info(
        "content credentials read",
        extra={
            "job_id": job_id,
            "uri": uri,
            "c2pa_present": found.present,
            "c2pa_valid": found.valid,
        },
    )
    # the stored form: the fields with a value (as recorded since issue 25)
    return ContentCredentials.model_validate(found.record())


def output_record(
    spec: ModelSpec,
    stream: ImageStream,
    *,
    uri: str,
    mime_type: str,
    index: int,
    priced_size: str,
    credentials: ContentCredentials | None,
    price_factor: float = 1.0,
) -> Output:
    """The output record of one stored image (see the module)."""
    width, height = stream.size or (0, 0)
    return Output(
        uri=uri,
        mime_type=mime_type,
        index=index,
        width=width,
        height=height,
        bytes=stream.bytes_written,
        priced_size=priced_size,
        model=spec.id,
        cost_usd=round(spec.price(priced_size) * price_factor, 6),
        synthid=SYNTHID,
        **({"content_credentials": credentials} if credentials is not None else {}),
    )
