"""The Vertex AI wire format of each model family, as plain JSON (camelCase, as REST sends
it). Pure functions: the request a job makes is built and unit-tested here; vertex.py only
sends it. Reading responses is here too, on the JSON form of the reply."""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from typing import Any

from imagegen.domain.catalog import ModelSpec
from imagegen.domain.request import JobRequest, PersonGeneration, SafetyLevel

GEMINI_PERSON = {
    PersonGeneration.DONT_ALLOW: "ALLOW_NONE",
    PersonGeneration.ALLOW_ADULT: "ALLOW_ADULT",
    PersonGeneration.ALLOW_ALL: "ALLOW_ALL",
}
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


def imagen_body(req: JobRequest, spec: ModelSpec, storage_uri: str | None = None) -> dict:
    """The JSON body of `:predict` for an Imagen model."""
    params: dict[str, Any] = {
        "sampleCount": req.number_of_images,
        "aspectRatio": req.aspect_ratio,
        "addWatermark": req.add_watermark,
        "includeRaiReason": True,
        "outputOptions": {"mimeType": req.output.mime_type},
    }
    if req.output.compression_quality is not None:
        params["outputOptions"]["compressionQuality"] = req.output.compression_quality
    if len(spec.sizes) > 1:
        params["sampleImageSize"] = req.image_size
    if req.seed is not None:
        params["seed"] = req.seed
    if req.negative_prompt:
        params["negativePrompt"] = req.negative_prompt
    if req.person_generation is not None:
        params["personGeneration"] = req.person_generation.value
    if req.safety_filter_level is not None:
        params["safetySetting"] = req.safety_filter_level.value
    if req.enhance_prompt is not None:
        params["enhancePrompt"] = req.enhance_prompt
    if req.language is not None:
        params["language"] = req.language
    if storage_uri:
        params["storageUri"] = storage_uri
    return {"instances": [{"prompt": req.prompt}], "parameters": params}


def _reference_part(ref) -> dict:
    if ref.gcs_uri:
        mime = ref.mime_type or mimetypes.guess_type(ref.gcs_uri)[0] or "image/png"
        return {"fileData": {"fileUri": ref.gcs_uri, "mimeType": mime}}
    from imagegen.domain.request import sniff_image_type

    mime = ref.mime_type or sniff_image_type(base64.b64decode(ref.data[:64])) or "image/png"
    return {"inlineData": {"mimeType": mime, "data": ref.data}}


def gemini_body(req: JobRequest, spec: ModelSpec, history: list[dict] | None = None) -> dict:
    """The JSON body of `:generateContent` for a Gemini image model (one image a call).
    `history`: the turns of the conversation this job continues (domain/conversation.py),
    sent before the job's own user turn."""
    parts = [_reference_part(ref) for ref in req.reference_images]
    parts.append({"text": req.prompt})
    image_config: dict[str, Any] = {"aspectRatio": req.aspect_ratio}
    if len(spec.sizes) > 1:
        image_config["imageSize"] = req.image_size
    if req.person_generation is not None:
        image_config["personGeneration"] = GEMINI_PERSON[req.person_generation]
    output: dict[str, Any] = {"mimeType": req.output.mime_type}
    if req.output.compression_quality is not None:
        output["compressionQuality"] = req.output.compression_quality
    image_config["imageOutputOptions"] = output
    generation: dict[str, Any] = {
        "responseModalities": ["TEXT", "IMAGE"],
        "candidateCount": 1,
        "imageConfig": image_config,
    }
    if req.seed is not None:
        generation["seed"] = req.seed
    if req.include_thoughts:
        generation["thinkingConfig"] = {"includeThoughts": True}
    body: dict[str, Any] = {
        "contents": [*(history or []), {"role": "user", "parts": parts}],
        "generationConfig": generation,
    }
    if req.safety_filter_level is not None:
        threshold = _gemini_threshold(req.safety_filter_level)
        body["safetySettings"] = [
            {"category": category, "threshold": threshold} for category in HARM_CATEGORIES
        ]
    return body


def _gemini_threshold(level: SafetyLevel) -> str:
    return level.value.upper()


@dataclass
class GeneratedImage:
    mime_type: str
    data: bytes | None = None
    gcs_uri: str | None = None  # Imagen wrote it to storage itself (storageUri)


@dataclass
class Generation:
    """What one job got back from the model, across however many calls it took."""

    images: list[GeneratedImage] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # a reason per missing image
    text: list[str] = field(default_factory=list)
    enhanced_prompt: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    # Gemini: thought summaries (`thought: true` text parts), and the model turn to store
    # for a later turn: the reply's parts in order, an image as `{"image": n}` (index into
    # `images`), text as `{"text": ...}`, each with the `thoughtSignature` it came with.
    thoughts: list[str] = field(default_factory=list)
    model_parts: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: Generation) -> None:
        """Add another call's reply. The model turn stays the first reply's that holds an
        image (with several images a job makes several calls, but continues only one)."""
        has_image = any("image" in p for p in self.model_parts)
        other_has_image = any("image" in p for p in other.model_parts)
        if other.model_parts and not has_image and (other_has_image or not self.model_parts):
            offset = len(self.images)
            self.model_parts = [
                {**p, "image": p["image"] + offset} if "image" in p else dict(p)
                for p in other.model_parts
            ]
        self.thoughts.extend(other.thoughts)
        self.images.extend(other.images)
        self.blocked.extend(other.blocked)
        self.text.extend(other.text)
        for key, value in other.usage.items():
            self.usage[key] = self.usage.get(key, 0) + value


def read_imagen(reply: dict, requested: int, default_mime: str) -> Generation:
    """Images from `predictions[]`; filtered samples come back with `raiFilteredReason`
    instead of bytes, or are missing altogether."""
    result = Generation()
    for prediction in reply.get("predictions", []):
        if prediction.get("bytesBase64Encoded"):
            data = base64.b64decode(prediction["bytesBase64Encoded"])
            result.images.append(GeneratedImage(prediction.get("mimeType", default_mime), data))
        elif prediction.get("gcsUri"):
            mime = prediction.get("mimeType", default_mime)
            result.images.append(GeneratedImage(mime, gcs_uri=prediction["gcsUri"]))
        elif prediction.get("raiFilteredReason"):
            result.blocked.append(prediction["raiFilteredReason"])
        if prediction.get("prompt") and not result.enhanced_prompt:
            result.enhanced_prompt = prediction["prompt"]
    missing = requested - len(result.images) - len(result.blocked)
    result.blocked.extend(["filtered by responsible AI (no reason given)"] * max(0, missing))
    return result


def read_gemini(reply: dict, inline_bytes: list[bytes] | None = None) -> Generation:
    """Images from `inlineData` parts; safety finish reasons and prompt blocks as reasons.

    `inline_bytes`: the raw bytes of every `inlineData` part, in order, when the caller took
    them out of the reply before turning it into JSON (a 4K image is tens of MB: encoding
    it to base64 and back would hold three copies at once)."""
    blobs = iter(inline_bytes) if inline_bytes is not None else None
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
        for part in (candidate.get("content") or {}).get("parts", []):
            raw = next(blobs) if blobs is not None and "inlineData" in part else None
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
                data = raw if raw is not None else base64.b64decode(inline["data"])
                result.images.append(GeneratedImage(inline.get("mimeType", "image/png"), data))
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
