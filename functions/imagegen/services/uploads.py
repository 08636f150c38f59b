"""Jobs from files dropped in the uploads bucket: the third entry point, on the same submit
path as the HTTP API.

- `requests/<name>.json`: a job request in the API's schema.
- `edits/<image>` with object metadata `prompt` (and optionally other request fields), or
  with a sidecar `edits/<image>.json`: a job that uses the image as a reference image.
- `batches/<name>.jsonl`: a batch, one job request a line (issue 29,
  services/batch_uploads.py), answered the same way.
- anything else: ignored, with a log line.
The suffixes match in any case (`upper.JSON`, `cat.PNG`).

Every upload that is meant as a job gets an answer object at `results/<name>.json` in the
OUTPUTS bucket (no trigger listens there, so this function never triggers itself): the job
id and status, or the validation error, or the error that kept the file from being read.
A read error a retry may fix (429, 5xx, a dropped connection) is answered as `retrying`
and raised, so the trigger retries; any other is answered once and not raised (Eventarc
would retry it for a day to the same end, and the person who dropped the file would never
learn why). Ids derive from bucket, name and generation, so a redelivered event finds the
job it made before.
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.auth.exceptions import TransportError

from imagegen.bootstrap import Services
from imagegen.domain import bounded_json
from imagegen.domain.job_view import status_url
from imagegen.domain.request import JobRequest
from imagegen.errors import ImagegenError, InvalidRequest, Unavailable
from imagegen.events import STORAGE_FINALIZED
from imagegen.logs import get_logger
from imagegen.services import batch_uploads, submission

log = get_logger("imagegen.uploads")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_REQUEST_BYTES = 1024 * 1024
# An integer field in object metadata: ASCII digits only (str.isdigit() also takes "²",
# which int() refuses, and int() refuses over 4,300 digits: both were uncaught errors).
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_INT_FIELDS = {"number_of_images", "seed"}
_BOOL_FIELDS = {"add_watermark", "enhance_prompt"}
_METADATA_FIELDS = set(JobRequest.model_fields) - {
    "reference_images",
    "output",
    "labels",
    "fallback_models",
}


def _from_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    """Request fields from object metadata (all strings there) in their JSON types."""
    body: dict[str, Any] = {}
    for key, value in metadata.items():
        if key not in _METADATA_FIELDS:
            continue
        if key in _INT_FIELDS and _INTEGER.fullmatch(value.strip()):
            body[key] = int(value)
        elif key in _BOOL_FIELDS and value.lower() in ("true", "false"):
            body[key] = value.lower() == "true"
        else:
            body[key] = value
    return body


def answer_name(name: str) -> str:
    """`requests/x.json` -> `results/requests/x.json`; `edits/a.png` and its sidecar
    `edits/a.png.json` -> `results/edits/a.png.json` (one job, one answer)."""
    return f"results/{name if _is_json(name) else name + '.json'}"


def _is_json(name: str) -> bool:
    return name.lower().endswith(".json")


def _answer(services: Services, name: str, body: dict[str, Any]) -> str:
    bucket = services.settings.require("outputs_bucket")
    answer = answer_name(name)
    services.storage.write(
        bucket, answer, json.dumps(body, default=str, indent=2).encode(), "application/json"
    )
    return f"gs://{bucket}/{answer}"


def handle_upload(services: Services, event_type: str, data: dict[str, Any]) -> str:
    """Turn one finalized object into a job (or an error answer); returns what it did."""
    if event_type != STORAGE_FINALIZED:
        log.warning(f"ignored event type {event_type}")
        return "ignored"
    bucket, name = data.get("bucket", ""), data.get("name", "")
    generation = str(data.get("generation", ""))
    uploads = services.settings.require("uploads_bucket")
    if bucket != uploads:
        log.warning(
            "ignored object outside the uploads bucket", extra={"bucket": bucket, "object": name}
        )
        return "ignored"
    uri = f"gs://{bucket}/{name}"
    if batch_uploads.is_batch_file(name):
        return _batch_file(services, data, name, uri)
    try:
        built = _build(services, data, uri)
    except FileNotFoundError:
        log.warning("the object is gone; nothing to do", extra={"object": uri})
        return "ignored"
    except InvalidRequest as exc:
        _answer(services, name, {"upload": uri, **exc.to_json()})
        log.warning("upload refused", extra={"object": uri, "error": exc.message})
        return "refused"
    except Exception as exc:  # the file could not be read: answered, raised if transient
        return _unreadable(services, name, uri, exc)
    if built is None:
        log.info("ignored upload", extra={"object": uri})
        return "ignored"
    body, key = built
    key = key or f"{uri}#{generation}"
    try:
        result = submission.submit(
            services,
            body,
            caller=f"upload:{bucket}",
            idempotency_key=key,
            source="upload",
            upload={"uri": uri, "answer": answer_name(name)},
        )
    except Unavailable:
        raise  # transient: let the trigger retry
    except ImagegenError as exc:
        _answer(services, name, {"upload": uri, **exc.to_json()})
        log.warning("upload refused", extra={"object": uri, "error": exc.message})
        return "refused"
    job = result.job
    # `status` here is the upload answer's own field (its readers expect it): the job's state
    answer = {"upload": uri, "job_id": job.id, "status": job.state}
    if services.settings.api_url:
        answer["status_url"] = status_url(services.settings.api_url, job.id)
    _answer(services, name, answer)
    log.info("upload queued", extra={"job_id": job.id, "object": uri, "new_job": result.created})
    return "queued" if result.created else "duplicate"


def _batch_file(services: Services, data: dict[str, Any], name: str, uri: str) -> str:
    """A dropped batch file: submitted and answered (refused ones too), read errors as
    every upload's are."""
    try:
        done, answer = batch_uploads.submit_file(services, data, answer_name(name))
    except FileNotFoundError:
        log.warning("the object is gone; nothing to do", extra={"object": uri})
        return "ignored"
    except Unavailable:
        raise  # transient: let the trigger retry
    except Exception as exc:  # the file could not be read: answered, raised if transient
        return _unreadable(services, name, uri, exc)
    _answer(services, name, answer)
    return done


def _unreadable(services: Services, name: str, uri: str, exc: Exception) -> str:
    """Answer an upload that could not be read with the error; raise it again when a retry
    may help (the answer then says `retrying`, and a later delivery replaces it)."""
    retry = _transient(exc)
    message = f"could not read {uri}: {type(exc).__name__}: {exc}"[:500]
    answer: dict[str, Any] = {"upload": uri, "error": {"code": "unreadable", "message": message}}
    if retry:
        answer["status"] = "retrying"
    try:
        _answer(services, name, answer)
    except Exception:
        if not retry:
            raise  # no answer could be written: the trigger's retry is the next chance
        log.exception("could not write the retrying answer", extra={"object": uri})
    if retry:
        log.warning("upload unreadable for now; retrying", extra={"object": uri, "error": message})
        raise exc
    log.error("upload unreadable; answered", extra={"object": uri, "error": message})
    return "refused"


def _transient(exc: Exception) -> bool:
    """Errors a later delivery may well not meet: Cloud Storage's 429 and 5xx, the
    network's timeouts and dropped connections, and our own Unavailable."""
    transient = (
        gexc.TooManyRequests,
        gexc.ServerError,
        gexc.RetryError,  # the client's own retries of one of these ran out of time
        requests.ConnectionError,
        requests.Timeout,
        TransportError,
        ConnectionError,
        TimeoutError,
        Unavailable,
    )
    return isinstance(exc, transient)


def _build(services: Services, data: dict[str, Any], uri: str):
    """(request body, idempotency key or None), or None when the object is not a job."""
    name = data["name"]
    size = int(data.get("size") or 0)
    if name.startswith("requests/") and _is_json(name):
        if size > MAX_REQUEST_BYTES:
            raise InvalidRequest(
                f"a request file may be at most {MAX_REQUEST_BYTES} bytes",
                details=[{"field": "body", "message": "too large"}],
            )
        return _read_json(services, uri), None
    if not name.startswith("edits/"):
        return None
    if name.lower().endswith(IMAGE_SUFFIXES):
        if size > services.settings.max_inline_image_bytes:
            raise InvalidRequest(
                "the image is too large to use as a reference",
                details=[
                    {
                        "field": "reference_images.0",
                        "message": f"at most {services.settings.max_inline_image_bytes} bytes",
                    }
                ],
            )
        fields = _from_metadata(data.get("metadata") or {})
        if "prompt" not in fields:
            sidecar = f"{uri}.json"
            if services.storage.generation(sidecar) is None:
                return None  # the sidecar's own event will start the job
            fields = _read_json(services, sidecar)
        # image and sidecar events both land here: key on the image so they make one job
        return _edit_body(fields, uri), f"{uri}#{data.get('generation', '')}"
    if _is_json(name) and name[: -len(".json")].lower().endswith(IMAGE_SUFFIXES):
        image = uri[: -len(".json")]
        generation = services.storage.generation(image)
        if generation is None:
            return None  # the image's event will find this sidecar
        return _edit_body(_read_json(services, uri), image), f"{image}#{generation}"
    return None


def _edit_body(fields: Any, image_uri: str) -> dict[str, Any]:
    if not isinstance(fields, dict):
        raise InvalidRequest(
            "the sidecar must hold a JSON object",
            details=[{"field": "body", "message": "expected a JSON object"}],
        )
    refs = list(fields.get("reference_images") or [])
    return {**fields, "reference_images": [{"gcs_uri": image_uri}, *refs]}


def _read_json(services: Services, uri: str) -> Any:
    try:
        raw = services.storage.read(uri, MAX_REQUEST_BYTES)
    except ValueError as exc:
        raise InvalidRequest(str(exc), details=[{"field": "body", "message": str(exc)}]) from None
    try:  # the HTTP API's parser: a file nested thousands deep is refused, not a crash
        return bounded_json.loads(raw, services.settings.max_json_depth)
    except InvalidRequest as exc:
        raise InvalidRequest("the upload is not valid JSON", details=exc.details) from None
