"""Imagen's `:predict` request (`instances[].prompt`, `parameters`), the one the guide's
`vertexai.preview.vision_models.ImageGenerationModel.generate_images` sends, as a job
request (issue 28). Pure.

Every Imagen model is shut down (domain/catalog.py, RETIRED_MODELS); the job API routes a
request for one to its Gemini replacement and translates Imagen's parameters (negative
prompt into the text, thinking level from Google's table, Imagen-only fields dropped with
a warning), so a `:predict` call becomes that request. Parameter names and values are the
Imagen API's (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/imagen-api,
read 2026-12-06). A parameter that cannot be translated is a 400 naming it.
"""

from __future__ import annotations

from typing import Any

from imagegen.errors import InvalidRequest
from imagegen.native.renaming import renamed

# parameters -> job request field
PARAMETERS = {
    "sampleCount": "number_of_images",
    "aspectRatio": "aspect_ratio",
    "sampleImageSize": "image_size",
    "safetySetting": "safety_filter_level",
    "personGeneration": "person_generation",
    "addWatermark": "add_watermark",
    "negativePrompt": "negative_prompt",
    "seed": "seed",
    "language": "language",
    "enhancePrompt": "enhance_prompt",
}
# accepted and shape the answer only
ANSWER_PARAMETERS = ("includeRaiReason", "includeSafetyAttributes", "outputOptions")


def _whole(value: Any) -> Any:
    """Numbers travel as protobuf `Value`s, always doubles (`sampleCount: 4.0`)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def job_body(body: Any, *, model: str, location: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(job request, job field -> the caller's path)."""
    problems: list[dict[str, str]] = []
    if not isinstance(body, dict):
        raise InvalidRequest(
            "the request body must be a JSON object (a PredictRequest)",
            details=[{"field": "body", "message": "expected a JSON object"}],
        )
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        raise InvalidRequest(
            "instances: exactly one instance",
            details=[{"field": "instances", "message": "exactly one instance, with a prompt"}],
        )
    instance = instances[0]
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        problems.append({"field": "parameters", "message": "expected an object"})
        params = {}
    job: dict[str, Any] = {"prompt": instance.get("prompt"), "model": model, "region": location}
    paths = {
        "prompt": "instances[0].prompt",
        "model": "model",
        "region": "location",
        "reference_images": "instances[0].image",
    }
    for name, value in params.items():
        if name in PARAMETERS:
            job[PARAMETERS[name]] = _whole(value)
            paths[PARAMETERS[name]] = f"parameters.{name}"
        elif name not in ANSWER_PARAMETERS:
            problems.append(
                {"field": f"parameters.{name}", "message": "not translated for Gemini image models"}
            )
    options = params.get("outputOptions")
    if isinstance(options, dict):
        output = {
            "mime_type": options.get("mimeType"),
            "compression_quality": options.get("compressionQuality"),
        }
        job["output"] = {k: _whole(v) for k, v in output.items() if v is not None}
        paths["output"] = "parameters.outputOptions"
    image = instance.get("image")
    if isinstance(image, dict):
        if image.get("bytesBase64Encoded"):
            job["reference_images"] = [{"data": image["bytesBase64Encoded"]}]
        elif image.get("gcsUri"):
            job["reference_images"] = [{"gcs_uri": image["gcsUri"]}]
    for name in set(instance) - {"prompt", "image"}:
        problems.append(
            {"field": f"instances[0].{name}", "message": "not translated for Gemini image models"}
        )
    if problems:
        raise InvalidRequest(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems), details=problems
        )
    return job, paths


def translated(exc: InvalidRequest, paths: dict[str, str]) -> InvalidRequest:
    """Validation problems named by the caller's parameter paths."""
    return renamed(exc, lambda name: paths.get(name, paths.get(name.split(".")[0], name)))
