"""Multi-turn conversations of the Gemini image models, as stored on a job and sent again.

A conversation is a list of turns in the Vertex AI JSON form of `Content`:
`{"role": "user" | "model", "parts": [...]}`, with parts `{"text": ...}`,
`{"fileData": {"fileUri": "gs://...", "mimeType": ...}}` and, where the model returned one,
`"thoughtSignature"` on a part. Images are always `fileData` references to stored objects:
the job store holds references, never image bytes.

A job that continues another (`parent_job_id`) is sent the parent's conversation (its turns
before, the parent's own user turn and the parent's model turn) and then its own user turn.
Pure functions: the parent is loaded and checked in services/refine.py, the worker sends the
prefix and stores the finished conversation.
"""

from __future__ import annotations

import copy
import mimetypes
from typing import Any

Turn = dict[str, Any]

# A model turn must keep at least one part when its images are left out.
OMITTED_IMAGE_TEXT = "(an earlier image is left out here: the model's input image limit)"
SIGNATURE = "thoughtSignature"


def file_part(uri: str, mime_type: str, signature: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"fileData": {"fileUri": uri, "mimeType": mime_type}}
    if signature:
        part[SIGNATURE] = signature
    return part


def user_turn(references: list[tuple[str, str]], prompt: str) -> Turn:
    """The user turn of a job: its reference images ((gs:// URI, MIME type) each, in request
    order), then the prompt, the same order as the request sends them."""
    parts = [file_part(uri, mime) for uri, mime in references]
    parts.append({"text": prompt})
    return {"role": "user", "parts": parts}


def model_turn(parts: list[dict[str, Any]], images: list[tuple[str, str]]) -> Turn:
    """The model turn from the reply's parts as `read_gemini` keeps them: an image part is
    `{"image": n}` (index into the job's stored outputs, given here as (gs:// URI, MIME
    type)); text and thought-signature parts are kept as they came."""
    out: list[dict[str, Any]] = []
    for part in parts:
        if "image" in part:
            index = part["image"]
            if index >= len(images):
                continue  # not stored (cannot happen for a succeeded job)
            uri, mime = images[index]
            out.append(file_part(uri, mime, part.get(SIGNATURE)))
        else:
            out.append(dict(part))
    if not out:
        out = [file_part(uri, mime) for uri, mime in images[:1]] or [{"text": ""}]
    return {"role": "model", "parts": out}


def is_image(part: dict[str, Any]) -> bool:
    return "fileData" in part or "inlineData" in part


def count_images(turns: list[Turn]) -> int:
    return sum(1 for turn in turns for part in turn.get("parts") or [] if is_image(part))


def trim_images(turns: list[Turn], allowed: int) -> tuple[list[Turn], int]:
    """Leave out images, oldest first, until at most `allowed` remain: (turns, dropped).
    A turn that loses every part keeps a short text in their place (a turn must have one).
    The turns given are not changed."""
    turns = copy.deepcopy(turns)
    excess = count_images(turns) - max(0, allowed)
    dropped = 0
    for turn in turns:
        if excess <= 0:
            break
        kept = []
        for part in turn.get("parts") or []:
            if excess > 0 and is_image(part):
                excess -= 1
                dropped += 1
                continue
            kept.append(part)
        if not kept:
            kept = [{"text": OMITTED_IMAGE_TEXT}]
        turn["parts"] = kept
    return turns, dropped


def without_signatures(turns: list[Turn]) -> list[Turn]:
    """The turns without thought signatures and thought parts: what to send a model other
    than the one that wrote them (signatures belong to the model that made them)."""
    out = []
    for turn in turns:
        parts = []
        for part in turn.get("parts") or []:
            if part.get("thought"):
                continue
            parts.append({k: v for k, v in part.items() if k != SIGNATURE})
        out.append({**turn, "parts": parts or [{"text": ""}]})
    return out


def reconstruct(job: dict[str, Any]) -> tuple[list[Turn], list[str]]:
    """The conversation of a finished Gemini job that has none stored (it ran before
    conversations were kept): its request's gs:// references and prompt, then its text and
    outputs. Inline references were never stored as objects, so they are left out."""
    request = job.get("request") or {}
    warnings: list[str] = []
    references = []
    inline = 0
    for ref in request.get("reference_images") or []:
        if ref.get("gcs_uri"):
            references.append((ref["gcs_uri"], ref.get("mime_type") or _guess(ref["gcs_uri"])))
        else:
            inline += 1
    if inline:
        warnings.append(
            f"job {job.get('id')} stored no conversation; its {inline} inline reference "
            "image(s) are left out of the conversation"
        )
    turns = [user_turn(references, str(request.get("prompt", "")))]
    parts: list[dict[str, Any]] = [{"text": text} for text in job.get("text") or [] if text]
    outputs = sorted(job.get("outputs") or [], key=lambda o: o.get("index", 0))
    parts.extend(file_part(o["uri"], o.get("mime_type") or "image/png") for o in outputs[:1])
    turns.append({"role": "model", "parts": parts or [{"text": ""}]})
    return turns, warnings


def _guess(uri: str) -> str:

    return mimetypes.guess_type(uri)[0] or "image/png"


def continue_from(
    parent_turns: list[Turn],
    *,
    parent_model: str,
    model: str,
    max_images: int,
    new_images: int,
) -> tuple[list[Turn], list[str]]:
    """The turns a job sends before its own user turn, and warnings.

    `parent_turns` is the parent's whole conversation (up to its model turn). Images are
    left out oldest first so that they and the job's own `new_images` reference images fit
    the model's input image limit `max_images`. A different model than the parent's gets
    the conversation without the parent's thought signatures."""
    warnings: list[str] = []
    turns = copy.deepcopy(parent_turns)
    if parent_model != model:
        turns = without_signatures(turns)
        warnings.append(
            f"the conversation was made with {parent_model}; {model} continues it without "
            f"{parent_model}'s thought signatures"
        )
    total = count_images(turns) + new_images
    turns, dropped = trim_images(turns, max_images - new_images)
    if dropped:
        warnings.append(
            f"the conversation holds {total} input images and {model} takes at most "
            f"{max_images}: the {dropped} oldest image(s) were left out"
        )
    return turns, warnings
