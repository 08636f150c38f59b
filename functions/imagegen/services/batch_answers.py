"""The answer of a batch made from a dropped file, rewritten when the batch ends with every
item's outputs (issue 29): `deliver_webhooks` does it on the batch's `batch.completed`
event, as it rewrites an uploaded job's answer on its terminal event, then POSTs the event
to the batch's webhook (services/webhooks.py).

The answer is streamed to the bucket a page of items at a time (a 10,000-item batch's
answer is a few megabytes, and never held whole). It lists each image's gs:// URI and each
item's `status_url`, not signed URLs: a file read later than a signed URL's 15 minutes
would hold dead links; `GET /v1/jobs/{id}` (or `imagegen batch download`) signs fresh ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from imagegen.domain.batch import Batch
from imagegen.domain.batch_view import BatchView, batch_url, item_view
from imagegen.domain.job_view import status_url
from imagegen.logs import get_logger

if TYPE_CHECKING:
    from imagegen.bootstrap import Services

log = get_logger("imagegen.batch_answers")

PAGE = 500  # index entries read at a time while the answer is written


def answer_batch_upload(services: Services, batch: Batch) -> str:
    """Rewrite the dropped file's answer with the ended batch and every item (idempotent)."""
    assert batch.upload is not None
    bucket = services.settings.require("outputs_bucket")
    name = batch.upload["answer"]
    upload = services.storage.open_upload(bucket, name, "application/json", {})
    try:
        for piece in _answer(services, batch):
            upload.write(piece)
        uri = upload.close()
    except BaseException:
        upload.abort()
        raise
    log.info("batch upload answered", extra={"batch_id": batch.id, "answer": uri})
    return uri


def _answer(services: Services, batch: Batch) -> Iterator[bytes]:
    """The answer's JSON in pieces: the batch, its rejections, then its items page by page."""
    api = services.settings.api_url
    head: dict[str, Any] = {
        "upload": batch.upload["uri"] if batch.upload else None,
        "batch_id": batch.id,
        "status": batch.state,
        **BatchView.of(batch, batch_url(api, batch.id) if api else None).to_json(),
        "rejected": _rejected(services, batch),
    }
    text = json.dumps(head, default=str, indent=1)
    yield text[: text.rindex("}")].rstrip().encode() + b',\n "items": ['
    first, after = True, 0
    while page := services.batches.items(batch.id, PAGE, after):
        for record in page:
            item = item_view(record).model_dump(exclude_none=True)
            if api:
                item["status_url"] = status_url(api, item["job_id"])
            yield (b"\n  " if first else b",\n  ") + json.dumps(item, default=str).encode()
            first = False
        after = int(page[-1]["line"])
    yield b"\n ]\n}\n"


def _rejected(services: Services, batch: Batch) -> list[dict[str, Any]]:
    """Every rejected line: the batch keeps the first 50, the rest are in rejected.json."""
    if batch.rejected_uri:
        return json.loads(services.storage.read(batch.rejected_uri, 64 * 1024 * 1024))
    return list(batch.rejected)
