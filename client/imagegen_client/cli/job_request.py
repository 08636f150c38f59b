"""The options `generate` and `refine` share, and the job request they stand for
(reference images read and sniffed here, before anything is sent)."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any

import click

MIME_ALIASES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def sniff_mime(data: bytes, name: str = "") -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed in MIME_ALIASES.values() else None


def reference_of(value: str) -> dict[str, str]:
    """`--ref` value -> a request reference image: gs:// by URI, a local file inline."""
    if value.startswith("gs://"):
        return {"gcs_uri": value}
    path = Path(value).expanduser()
    if not path.is_file():
        raise click.BadParameter(
            f"{value}: no such file (give a local image or a gs:// URI)", param_hint="--ref"
        )
    data = path.read_bytes()
    mime = sniff_mime(data, path.name)
    if mime is None:
        raise click.BadParameter(f"{value}: not a PNG, JPEG or WebP image", param_hint="--ref")
    return {"data": base64.b64encode(data).decode("ascii"), "mime_type": mime}


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE", param_hint="--label")
        labels[key] = val
    return labels


OUT_DIR = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the images [default: ./out/<job id>/].",
)

_REQUEST_OPTIONS = (
    click.option("-m", "--model", help="Model id (see `imagegen models`); default: the API's."),
    click.option("-n", "--n", "number_of_images", type=int, help="Number of images."),
    click.option("-a", "--aspect-ratio", help="Aspect ratio, e.g. 1:1, 16:9, 9:16."),
    click.option(
        "--size",
        "image_size",
        type=click.Choice(["512", "1K", "2K", "4K"], case_sensitive=False),
        help="Image size where the model offers several.",
    ),
    click.option(
        "--ref",
        "refs",
        multiple=True,
        metavar="FILE|gs://…",
        help="Reference image: a local file (sent inline) or a gs:// URI. Repeatable.",
    ),
    click.option("--region", help="Vertex AI location, e.g. us-central1 or global."),
    click.option("--seed", type=int, help="Seed (generationConfig.seed)."),
    click.option(
        "--no-watermark",
        is_flag=True,
        help="Ask for no SynthID watermark. Every current (Gemini) model embeds one, so the "
        "API refuses this with a 400; shown for requests written for Imagen.",
    ),
    click.option(
        "--thinking-level",
        type=click.Choice(["minimal", "low", "medium", "high"], case_sensitive=False),
        help="generationConfig.thinkingConfig.thinkingLevel (models that take one).",
    ),
    click.option(
        "--google-search", is_flag=True, help="Ground the image with Google Search (tools)."
    ),
    click.option(
        "--response-text", is_flag=True, help="Let the reply carry text as well as images."
    ),
    click.option("--system-instruction", help="systemInstruction: text the model follows."),
    click.option(
        "--media-resolution",
        type=click.Choice(["low", "medium", "high"], case_sensitive=False),
        help="How finely the model reads the input images (generationConfig.mediaResolution).",
    ),
    click.option(
        "--safety-setting",
        "safety_settings",
        multiple=True,
        metavar="CATEGORY=THRESHOLD",
        help="Per-category safetySettings, e.g. HARM_CATEGORY_HARASSMENT=BLOCK_ONLY_HIGH. "
        "Repeatable; instead of --safety.",
    ),
    click.option("--webhook", help="POST the job's events here (signed; docs/events.md)."),
    click.option("--language", help="Prompt language (Imagen requests; routed)."),
    click.option(
        "--enhance-prompt/--no-enhance-prompt",
        default=None,
        help="Imagen's prompt rewriting (Imagen requests; routed, dropped with a warning).",
    ),
    click.option("--negative-prompt", help="What to leave out (models that take it)."),
    click.option("--person-generation", help="dont_allow, allow_adult or allow_all."),
    click.option(
        "--prominent-people",
        help="allow or block images of prominent people (Vertex AI's imageConfig option).",
    ),
    click.option(
        "--safety",
        "safety_filter_level",
        help="block_low_and_above, block_medium_and_above, block_only_high, block_none "
        "(or block_most/some/few/fewest).",
    ),
    click.option("--mime-type", help="Output type: png, jpeg, webp (or image/png, ...)."),
    click.option("--quality", type=int, help="JPEG/WebP compression quality, 0-100."),
    click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Job label."),
    click.option("--fallback-model", "fallback_models", multiple=True, help="Fallback model id."),
    click.option(
        "--thoughts",
        "include_thoughts",
        is_flag=True,
        help="Keep the model's thought summaries on the job (Gemini thinking models).",
    ),
    OUT_DIR,
    click.option("--no-wait", is_flag=True, help="Print the job id and return at once."),
    click.option(
        "--timeout",
        type=float,
        default=600.0,
        show_default=True,
        help="Seconds to wait for the job.",
    ),
    click.option("--idempotency-key", help="Retries with the same key return the same job."),
)


def request_options(command: Any) -> Any:
    """The request, wait and download options `generate` and `refine` share."""
    for option in reversed(_REQUEST_OPTIONS):
        command = option(command)
    return command


def build_request(
    prompt: str,
    *,
    model: str | None = None,
    number_of_images: int | None = None,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
    refs: tuple[str, ...] = (),
    region: str | None = None,
    seed: int | None = None,
    no_watermark: bool = False,
    negative_prompt: str | None = None,
    person_generation: str | None = None,
    prominent_people: str | None = None,
    safety_filter_level: str | None = None,
    mime_type: str | None = None,
    quality: int | None = None,
    labels: tuple[str, ...] = (),
    fallback_models: tuple[str, ...] = (),
    include_thoughts: bool = False,
    thinking_level: str | None = None,
    google_search: bool = False,
    response_text: bool = False,
    system_instruction: str | None = None,
    media_resolution: str | None = None,
    safety_settings: tuple[str, ...] = (),
    webhook: str | None = None,
    language: str | None = None,
    enhance_prompt: bool | None = None,
) -> dict[str, Any]:
    """The job request the command line options stand for (every field of the job API's
    request but `parent_job_id`, which `refine` sets)."""
    request: dict[str, Any] = {"prompt": prompt}
    optional = {
        "model": model,
        "number_of_images": number_of_images,
        "aspect_ratio": aspect_ratio,
        "image_size": image_size.upper() if image_size else None,
        "region": region,
        "seed": seed,
        "negative_prompt": negative_prompt,
        "person_generation": person_generation,
        "prominent_people": prominent_people.lower() if prominent_people else None,
        "safety_filter_level": safety_filter_level,
        "thinking_level": thinking_level.lower() if thinking_level else None,
        "system_instruction": system_instruction,
        "media_resolution": media_resolution.lower() if media_resolution else None,
        "language": language,
        "enhance_prompt": enhance_prompt,
    }
    request.update({k: v for k, v in optional.items() if v is not None})
    if no_watermark:
        request["add_watermark"] = False
    if refs:
        request["reference_images"] = [reference_of(ref) for ref in refs]
    if mime_type or quality is not None:
        output: dict[str, Any] = {}
        if mime_type:
            output["mime_type"] = MIME_ALIASES.get(mime_type.lower(), mime_type)
        if quality is not None:
            output["compression_quality"] = quality
        request["output"] = output
    if labels:
        request["labels"] = _labels(labels)
    if fallback_models:
        request["fallback_models"] = list(fallback_models)
    if include_thoughts:
        request["include_thoughts"] = True
    if google_search:
        request["google_search"] = True
    if response_text:
        request["response_text"] = True
    if safety_settings:
        request["safety_settings"] = [
            dict(zip(("category", "threshold"), pair.split("=", 1), strict=False))
            for pair in safety_settings
        ]
    if webhook:
        request["webhook"] = {"url": webhook}
    return request
