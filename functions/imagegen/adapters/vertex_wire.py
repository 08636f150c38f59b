"""The Vertex AI `:generateContent` wire format of the Gemini image models, as plain JSON
(camelCase, as REST sends it). Pure functions: the request a job makes is built and
unit-tested here; vertex.py only sends it. Reading responses is here too, on the JSON form of
the reply. Google's own SDK (google-genai) is the reference: tests/unit/test_genai_parity.py
compares what both put on the wire, field by field."""

from __future__ import annotations

import base64
from typing import Any

from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import GeneratedImage, Generation, reference_mime
from imagegen.domain.request import (
    JobRequest,
    PersonGeneration,
    ProminentPeople,
    ReferenceImage,
    SafetyLevel,
)

GEMINI_PERSON = {
    PersonGeneration.DONT_ALLOW: "ALLOW_NONE",
    PersonGeneration.ALLOW_ADULT: "ALLOW_ADULT",
    PersonGeneration.ALLOW_ALL: "ALLOW_ALL",
}
GEMINI_PROMINENT = {
    ProminentPeople.ALLOW: "ALLOW_PROMINENT_PEOPLE",
    ProminentPeople.BLOCK: "BLOCK_PROMINENT_PEOPLE",
}
# Fields google-genai (3.6.1, `_ImageConfig_to_vertex`) sends that the aiplatform_v1 proto of
# google-cloud-aiplatform 2.7.0 does not know yet: kept out of the proto's round trip
# (adapters/vertex.py `rest_request`) and put back into the JSON body as google-genai sends
# them (enum names).
BEYOND_PROTO: tuple[tuple[str, ...], ...] = (
    ("generationConfig", "imageConfig", "prominentPeople"),
)
HARM_CATEGORIES = (
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
)
# finishReason values that mean the model refused on safety grounds. IMAGE_SAFETY and
# friends are newer than the client's proto enum, whose REST parser drops unknown values:
# such a reply arrives with no finishReason, and a reply with no image is treated as
# blocked with the model's finishMessage as the reason.
GEMINI_BLOCK_REASONS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
        "IMAGE_OTHER",
    }
)


def model_path(project: str, location: str, model: str) -> str:
    return f"projects/{project}/locations/{location}/publishers/google/models/{model}"


def api_host(location: str) -> str:
    """The regional endpoint; the global location has no region prefix."""
    if location == "global":
        return "aiplatform.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def reference_part(ref: ReferenceImage) -> dict:
    """A reference image as a request part: `fileData` for gs://, else `inlineData`."""
    if ref.gcs_uri:
        return {"fileData": {"fileUri": ref.gcs_uri, "mimeType": reference_mime(ref)}}
    return {"inlineData": {"mimeType": reference_mime(ref), "data": ref.data}}


def gemini_body(req: JobRequest, spec: ModelSpec, history: list[dict] | None = None) -> dict:
    """The JSON body of `:generateContent` for a Gemini image model (one image a call), with
    only what the caller set, as google-genai sends it: no aspectRatio unless asked (an edit
    keeps its input's shape), no imageSize unless asked, responseModalities [IMAGE] unless
    text is asked for.
    `history`: the turns of the conversation this job continues (domain/conversation.py),
    sent before the job's own user turn."""
    parts = [reference_part(ref) for ref in req.reference_images]
    prompt = req.prompt
    if req.negative_prompt:  # a request routed from Imagen: Gemini has no negative prompt
        prompt = f"{prompt}\n\nAvoid: {req.negative_prompt}"
    parts.append({"text": prompt})
    body: dict[str, Any] = {
        "contents": [*(history or []), {"role": "user", "parts": parts}],
        "generationConfig": _generation_config(req),
    }
    if req.system_instruction:
        body["systemInstruction"] = {"role": "user", "parts": [{"text": req.system_instruction}]}
    if req.google_search:
        body["tools"] = [{"googleSearch": {}}]
    if req.safety_settings:
        body["safetySettings"] = [
            setting.model_dump(exclude_none=True) for setting in req.safety_settings
        ]
    elif req.safety_filter_level is not None:
        threshold = _gemini_threshold(req.safety_filter_level)
        body["safetySettings"] = [
            {"category": category, "threshold": threshold} for category in HARM_CATEGORIES
        ]
    return body


def _generation_config(req: JobRequest) -> dict[str, Any]:
    """`generationConfig`: modalities, image config, seed, thinking, media resolution."""
    generation: dict[str, Any] = {
        "responseModalities": ["TEXT", "IMAGE"] if req.response_text else ["IMAGE"],
    }
    image_config = _image_config(req)
    if image_config:
        generation["imageConfig"] = image_config
    if req.seed is not None:
        generation["seed"] = req.seed
    thinking: dict[str, Any] = {}
    if req.include_thoughts:
        thinking["includeThoughts"] = True
    if req.thinking_level:
        thinking["thinkingLevel"] = req.thinking_level.upper()
    if thinking:
        generation["thinkingConfig"] = thinking
    if req.media_resolution:
        generation["mediaResolution"] = f"MEDIA_RESOLUTION_{req.media_resolution.upper()}"
    return generation


def _image_config(req: JobRequest) -> dict[str, Any]:
    """`imageConfig`, with only what the caller set."""
    image_config: dict[str, Any] = {}
    if req.aspect_ratio:
        image_config["aspectRatio"] = req.aspect_ratio
    if req.image_size:  # only when asked: Vertex's default is the model's (1K)
        image_config["imageSize"] = req.image_size
    if req.person_generation is not None:
        image_config["personGeneration"] = GEMINI_PERSON[req.person_generation]
    if req.prominent_people is not None:
        image_config["prominentPeople"] = GEMINI_PROMINENT[req.prominent_people]
    output: dict[str, Any] = {}
    if req.output.mime_type != "image/png" or req.output.compression_quality is not None:
        output["mimeType"] = req.output.mime_type
    if req.output.compression_quality is not None:
        output["compressionQuality"] = req.output.compression_quality
    if output:
        image_config["imageOutputOptions"] = output
    return image_config


def split_beyond_proto(body: dict) -> tuple[dict, list[tuple[tuple[str, ...], Any]]]:
    """The body without the BEYOND_PROTO fields (the caller's dict is left as it is), and
    those fields as (path, value)."""
    extras = []
    out = body
    for path in BEYOND_PROTO:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            continue
        extras.append((path, node[path[-1]]))
        out = top = dict(out)  # copy the branch down to the field, then drop it
        for key in path[:-1]:
            top[key] = dict(top[key])
            top = top[key]
        del top[path[-1]]
    return out, extras


def merge_beyond_proto(body: dict, extras: list[tuple[tuple[str, ...], Any]]) -> dict:
    """Put the fields `split_beyond_proto` took out back into a (camelCase) JSON body."""
    for path, value in extras:
        node = body
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return body


def _gemini_threshold(level: SafetyLevel) -> str:
    return level.value.upper()


def read_gemini(reply: dict, images: list[GeneratedImage] | None = None) -> Generation:
    """Images from `inlineData` parts; safety finish reasons and prompt blocks as reasons.

    `images`: the images of every `inlineData` part, in order, when the caller read them
    off the stream itself (vertex_stream.py: a 4K image is tens of MB, and is streamed to
    its sink rather than held); the reply's own `data` is then ignored."""
    given = iter(images) if images is not None else None
    result = Generation()
    usage = reply.get("usageMetadata") or {}
    result.usage = {
        k: int(v) for k, v in usage.items() if isinstance(v, int | float | str) and str(v).isdigit()
    }
    feedback = reply.get("promptFeedback") or {}
    if feedback.get("blockReason"):
        message = feedback.get("blockReasonMessage", "")
        result.blocked.append(f"prompt blocked: {feedback['blockReason']} {message}".strip())
        return result
    for candidate in reply.get("candidates", []):
        result.grounding = result.grounding or candidate.get("groundingMetadata") or None
        for part in (candidate.get("content") or {}).get("parts", []):
            streamed = next(given) if given is not None and "inlineData" in part else None
            signature = (
                {"thoughtSignature": part["thoughtSignature"]}
                if part.get("thoughtSignature")
                else {}
            )
            if part.get("thought"):
                # A thought summary (or an interim image): kept apart, never an output.
                if part.get("text"):
                    result.thoughts.append(part["text"])
                if signature:
                    result.model_parts.append(
                        {"text": part.get("text", ""), "thought": True, **signature}
                    )
            elif "inlineData" in part:
                inline = part["inlineData"]
                result.model_parts.append({"image": len(result.images), **signature})
                if streamed is None:
                    mime = inline.get("mimeType", "image/png")
                    streamed = GeneratedImage(mime, base64.b64decode(inline.get("data", "")))
                result.images.append(streamed)
            elif part.get("text"):
                result.text.append(part["text"])
                result.model_parts.append({"text": part["text"], **signature})
            elif signature:
                result.model_parts.append({"text": "", **signature})
    if not result.images:
        candidate = (reply.get("candidates") or [{}])[0]
        reason = candidate.get("finishReason") or "FINISH_REASON_UNSPECIFIED"
        message = candidate.get("finishMessage", "")
        if reason in GEMINI_BLOCK_REASONS or reason in ("FINISH_REASON_UNSPECIFIED", "OTHER"):
            result.blocked.append(f"{reason} {message}".strip())
        else:
            result.blocked.append(f"no image returned ({reason}) {message}".strip())
    return result
