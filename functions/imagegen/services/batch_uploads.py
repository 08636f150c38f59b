"""A batch from a dropped file (issue 29): `batches/<name>.jsonl` in the uploads bucket, one
job request a line, becomes a batch as `POST /v1/batches` makes one, and is answered like a
request file: `results/batches/<name>.jsonl.json` in the outputs bucket says the batch id,
its status URL, the items accepted, every rejected line and the estimate, or why the file
was refused as a whole. When the batch ends, the answer is rewritten with every item's
outputs (services/batch_answers.py).

The caller is `upload:<bucket>` (every verified caller may read such a batch, only admins
cancel it, as for uploaded jobs) and the key is `gs://bucket/name#generation`, so a
redelivered event finds the batch it made before; a file written again is a new batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagegen.domain.batch_request import too_large
from imagegen.domain.batch_view import SubmittedBatchView, batch_url
from imagegen.errors import ImagegenError, Unavailable
from imagegen.logs import get_logger
from imagegen.services import batches

if TYPE_CHECKING:
    from imagegen.bootstrap import Services

log = get_logger("imagegen.uploads")

PREFIX = "batches/"
SUFFIX = ".jsonl"


def is_batch_file(name: str) -> bool:
    return name.startswith(PREFIX) and name.lower().endswith(SUFFIX)


def submit_file(
    services: Services, data: dict[str, Any], answer: str
) -> tuple[str, dict[str, Any]]:
    """(what happened, the answer's body) for one dropped batch file. Unavailable and
    errors reading the file are raised for the caller to answer (services/uploads.py)."""
    bucket, name = data["bucket"], data["name"]
    uri = f"gs://{bucket}/{name}"
    limit = services.settings.batch_max_bytes
    size = int(data.get("size") or 0)
    try:
        if size > limit:
            raise too_large(limit, size)
        try:
            raw = services.storage.read(uri, limit)
        except ValueError:  # larger than it said, or over the cap once decompressed
            raise too_large(limit) from None
        result = batches.submit_batch(
            services,
            raw,
            "application/jsonl",
            caller=f"upload:{bucket}",
            idempotency_key=f"{uri}#{data.get('generation', '')}",
            source="upload",
            upload={"uri": uri, "answer": answer},
        )
    except Unavailable:
        raise  # transient: the trigger retries
    except ImagegenError as exc:
        log.warning("batch upload refused", extra={"object": uri, "error": exc.message})
        return "refused", {"upload": uri, **exc.to_json()}
    api = services.settings.api_url
    url = batch_url(api, result.batch.id) if api else None
    view = SubmittedBatchView.of(result.batch, result.rejected, url).to_json()
    log.info(
        "batch upload queued",
        extra={"batch_id": result.batch.id, "object": uri, "new_batch": result.created},
    )
    return ("queued" if result.created else "duplicate"), {
        "upload": uri,
        "batch_id": result.batch.id,
        **view,
    }
