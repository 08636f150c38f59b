"""The Vertex AI `:generateContent` wire format of the Gemini image models, as plain JSON
(camelCase, as REST sends it). Pure functions: the request a job makes is built and
unit-tested here; vertex.py only sends it. Reading responses is here too, on the JSON form of
the reply. Google's own SDK (google-genai) is the reference: tests/unit/test_genai_parity.py
compares what both put on the wire, field by field."""

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


def _reference_part(ref) -> dict:
    if ref.gcs_uri:
        mime = ref.mime_type or mimetypes.guess_type(ref.gcs_uri)[0] or "image/png"
        return {"fileData": {"fileUri": ref.gcs_uri, "mimeType": mime}}
    from imagegen.domain.request import sniff_image_type

    mime = ref.mime_type or sniff_image_type(base64.b64decode(ref.data[:64])) or "image/png"
    return {"inlineData": {"mimeType": mime, "data": ref.data}}


def gemini_body(req: JobRequest, spec: ModelSpec, history: list[dict] | None = None) -> dict:
    """The JSON body of `:generateContent` for a Gemini image model (one image a call), with
    only what the caller set, as google-genai sends it: no aspectRatio unless asked (an edit
    keeps its input's shape), responseModalities [IMAGE] unless text is asked for.
    `history`: the turns of the conversation this job continues (domain/conversation.py),
    sent before the job's own user turn."""
    parts = [_reference_part(ref) for ref in req.reference_images]
    prompt = req.prompt
    if req.negative_prompt:  # a request routed from Imagen: Gemini has no negative prompt
        prompt = f"{prompt}\n\nAvoid: {req.negative_prompt}"
    parts.append({"text": prompt})
    image_config: dict[str, Any] = {}
    if req.aspect_ratio:
        image_config["aspectRatio"] = req.aspect_ratio
    if req.image_size and len(spec.sizes) > 1:
        image_config["imageSize"] = req.image_size
    if req.person_generation is not None:
        image_config["personGeneration"] = GEMINI_PERSON[req.person_generation]
    output: dict[str, Any] = {}
    if req.output.mime_type != "image/png" or req.output.compression_quality is not None:
        output["mimeType"] = req.output.mime_type
    if req.output.compression_quality is not None:
        output["compressionQuality"] = req.output.compression_quality
    if output:
        image_config["imageOutputOptions"] = output
    generation: dict[str, Any] = {
        "responseModalities": ["TEXT", "IMAGE"] if req.response_text else ["IMAGE"],
    }
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
    body: dict[str, Any] = {
        "contents": [*(history or []), {"role": "user", "parts": parts}],
        "generationConfig": generation,
    }
    if req.google_search:
        body["tools"] = [{"googleSearch": {}}]
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
    data: bytes


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
