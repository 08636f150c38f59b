"""A finished job as Vertex AI answers `:generateContent`: a `GenerateContentResponse`
(https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference, read
2026-12-06) — the model's parts in order (thought summaries, text, each image as
`inlineData` with the stored file's bytes, provenance included, and each part's
`thoughtSignature`, so a conversation can go on), `finishReason`, `usageMetadata`,
`modelVersion`; a prompt block as `promptFeedback`. A job that failed is Vertex's error
for the same cause. Pure: the images are marks of a `streaming.Images`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from imagegen.domain.job import Job, State
from imagegen.domain.job_view import iso
from imagegen.native import google_errors
from imagegen.native.streaming import Images

Reader = Callable[[str], Callable[[], bytes]]  # gs:// URI -> reads its bytes
ENUM_WORD = re.compile(r"^([A-Z][A-Z_]+)\b\s*(.*)$", re.S)
NOT_AN_IMAGE = re.compile(r"^no image returned \(([A-Z_]+)\)\s*(.*)$", re.S)
PROMPT_BLOCKED = "prompt blocked: "


def response(job: Job, images: Images, read: Reader) -> dict[str, Any]:
    """The GenerateContentResponse of a succeeded or blocked job."""
    parts = _parts(job, images, read)
    candidate: dict[str, Any] = {"content": {"role": "model"}, "index": 0}
    if parts:
        candidate["content"]["parts"] = parts
    answer: dict[str, Any] = {}
    reason = _block_reason(job)
    if job.grounding_metadata:
        candidate["groundingMetadata"] = job.grounding_metadata
    if job.state == State.SUCCEEDED or reason is None:
        candidate["finishReason"] = "STOP"
        answer["candidates"] = [candidate]
    elif reason.startswith(PROMPT_BLOCKED):
        block, message = _enum(reason.removeprefix(PROMPT_BLOCKED), "OTHER")
        answer["promptFeedback"] = {"blockReason": block, "blockReasonMessage": message}
    else:
        found = NOT_AN_IMAGE.match(reason)
        finish, message = (found.group(1), found.group(2)) if found else _enum(reason, "OTHER")
        candidate["finishReason"] = finish
        if message:
            candidate["finishMessage"] = message
        answer["candidates"] = [candidate]
    if job.usage:
        answer["usageMetadata"] = job.usage
    answer["modelVersion"] = job.served_model
    if job.created_at is not None:
        answer["createTime"] = iso(job.created_at)
    answer["responseId"] = job.id
    return answer


def _parts(job: Job, images: Images, read: Reader) -> list[dict[str, Any]]:
    last = (job.conversation or [None])[-1]
    model_parts = [p.to_json() for p in last.parts] if last and last.role == "model" else []
    if not job.outputs:
        model_parts = [{"text": text} for text in job.text or []]
    signed = {p.get("text") for p in model_parts if p.get("thought")}
    parts: list[dict[str, Any]] = [
        {"text": thought, "thought": True}
        for thought in job.thoughts or []
        if thought not in signed
    ]
    for part in model_parts:
        stored = part.get("fileData")
        if stored is None:
            parts.append(dict(part))
            continue
        uri = str(stored.get("fileUri", ""))
        blob = {"mimeType": stored.get("mimeType", "image/png"), "data": images.mark(read(uri))}
        extra = {k: v for k, v in part.items() if k != "fileData"}
        parts.append({"inlineData": blob, **extra})
    return parts


def _block_reason(job: Job) -> str | None:
    if job.state == State.SUCCEEDED:
        return None
    for blocked in job.blocked_images or []:
        if blocked.reason:
            return blocked.reason
    return (job.error.message if job.error else "") or None


def _enum(text: str, default: str) -> tuple[str, str]:
    """`"IMAGE_SAFETY the model's words"` -> ("IMAGE_SAFETY", "the model's words")."""
    found = ENUM_WORD.match(text.strip())
    return (found.group(1), found.group(2)) if found else (default, text.strip())


def failure(job: Job) -> tuple[int, dict[str, Any]]:
    """(HTTP status, Google error body) of a job that failed or was cancelled: the status
    Vertex gave when the failure was its answer, else the nearest Google code."""
    if job.state == State.CANCELLED:
        code, message, reason = 499, f"job {job.id} was cancelled", "CANCELLED"
    else:
        error, last = job.error, job.error.last_error if job.error else None
        kind = (error.code if error else "") or "internal"
        message = (error.message if error else "") or "the job failed"
        status = (error.status if error else None) or (last.status if last else None)
        code = {
            "upstream_final": status if status in (400, 403, 404) else 400,
            "model_retired": 404,
            "reference_not_found": 404,  # Vertex's own answer for a missing gs:// input
            "deadline_exceeded": 504,
            "attempts_exhausted": 429 if status == 429 else 503,
        }.get(kind, 500)
        reason = kind.upper()
    metadata = {"job_id": job.id}
    return code, google_errors.body(code, message, reason=reason, metadata=metadata)
