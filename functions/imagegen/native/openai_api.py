"""OpenAI's Images API (issue 28): `POST /v1/images/generations` (JSON) and
`POST /v1/images/edits` (multipart: `image` / `image[]`), as the openai SDK and gateways
such as LiteLLM call them, answered in OpenAI's shapes
(https://platform.openai.com/docs/api-reference/images, read 2026-12-06).

A request becomes an ordinary job (the same validation, routing, pricing, budgets and
records as `POST /v1/jobs`), waited for up to IMAGEGEN_SYNC_WAIT_SECONDS. What maps:

- `model`: a catalog id or a retired name (routed), or an alias below; none: the default.
- `size`: `auto` (the model's default, no ratio), `1024x1024` (1K 1:1), `1536x1024` (1K 3:2),
  `1024x1536` (1K 2:3), or any exact pixel size the model's catalog entry lists (e.g.
  `2752x1536` is 2K 16:9); anything else is a 400 naming the allowed ones. Images come at
  the catalog's pixel size for that size and ratio.
- `quality`: `low` -> thinking level minimal, `high`/`hd` -> high (where the model has
  levels); `auto`, `medium`, `standard` change nothing.
- `n` -> number_of_images; `output_format` png|jpeg (and `output_compression`);
  `response_format` `b64_json` (default) or `url` (a V4 signed URL); `user` -> the job's
  label `openai-user`; `moderation: low` -> safety_filter_level block_only_high;
  `background: transparent`, `style` and a `mask` are refused (Gemini image models have
  none of them).

Errors are OpenAI's `{"error": {"message", "type", "param", "code"}}`; a 5xx that carries a
job id says `x-should-retry: false`, so the SDK does not make a second job.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import flask

from imagegen.domain.job import Job, State
from imagegen.errors import ImagegenError, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from imagegen.http_io import json_response, read_form
from imagegen.native import vertex_api, vertex_reply
from imagegen.native.renaming import renamed
from imagegen.native.streaming import Images

ALIASES = {
    "nano-banana-2": "gemini-3.1-flash-image",
    "nano-banana-2-lite": "gemini-3.1-flash-lite-image",
    "nano-banana-pro": "gemini-3-pro-image",
}
OPENAI_SIZES = {"1024x1024": ("1K", "1:1"), "1536x1024": ("1K", "3:2"), "1024x1536": ("1K", "2:3")}
QUALITY = {"low": "minimal", "high": "high", "hd": "high", "auto": None, "medium": None}
QUALITY["standard"] = None
FIELDS = {
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "output_format",
    "output_compression",
    "user",
    "background",
    "moderation",
    "style",
}
EDIT_FIELDS = FIELDS | {"image", "image[]", "mask", "input_fidelity"}
# job request field -> OpenAI parameter (errors name the caller's parameter)
PARAMS = {
    "prompt": "prompt",
    "model": "model",
    "number_of_images": "n",
    "image_size": "size",
    "aspect_ratio": "size",
    "output": "output_format",
    "output.mime_type": "output_format",
    "output.compression_quality": "output_compression",
    "thinking_level": "quality",
    "reference_images": "image",
    "labels": "user",
    "safety_filter_level": "moderation",
    "region": "model",
}
ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, details=[{"field": param, "message": message}])


# -- the routes ----------------------------------------------------------------------------


def generations(api: Any, request: flask.Request) -> flask.Response:
    api.caller(request)  # before the body is read
    body = api.read_json(request)
    if not isinstance(body, dict):
        raise bad("body", "the request body must be a JSON object")
    return _run(api, request, body, FIELDS, images=[])


def edits(api: Any, request: flask.Request) -> flask.Response:
    api.caller(request)
    limit = api.services.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is over {limit} bytes")  # 413 before 415
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the edit as multipart/form-data")
    form, uploaded = read_form(request, limit)  # bounded as it is read (issue 31)
    if uploaded.get("mask") is not None or form.get("mask"):
        raise bad(
            "mask",
            "masks are not supported: Gemini image models edit from the prompt alone; "
            "say in the prompt which part to change",
        )
    files = [*uploaded.getlist("image"), *uploaded.getlist("image[]")]
    if not files:
        raise bad("image", "at least one image file (image or image[])")
    images = [base64.b64encode(f.read()).decode() for f in files]
    body: dict[str, Any] = {key: form.get(key) for key in form}
    for number in ("n", "output_compression"):
        if body.get(number) is not None:
            try:
                body[number] = int(body[number])
            except ValueError:
                raise bad(number, f"{number} must be an integer") from None
    return _run(api, request, body, EDIT_FIELDS, images=images)


def _run(
    api: Any, request: flask.Request, body: dict[str, Any], allowed: set[str], images: list[str]
) -> flask.Response:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad(unknown[0], f"Unrecognized request argument supplied: {unknown[0]}")
    response_format = body.get("response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise bad("response_format", "b64_json or url")
    if response_format == "url" and api.services.settings.url_signer == "off":
        raise bad("response_format", "url needs signed URLs, which this deployment has off")
    job_body = job_request(body, api.services.catalog, images)
    try:
        job = vertex_api.submit(api, request, job_body, source="openai")
    except InvalidRequest as exc:
        raise translated(exc) from None
    job, headers = vertex_api.finished(api, request, job)
    if job.state == State.SUCCEEDED:
        return _images(api, job, body, response_format, headers)
    if job.state == State.BLOCKED:
        reason = "; ".join(b.reason for b in job.blocked_images or []) or "blocked"
        error = _error(400, f"The request was blocked by the model's safety system: {reason}")
        error["error"]["code"] = "content_policy_violation"
        return json_response(error, 400, headers)
    code, google = vertex_reply.failure(job)
    return json_response(
        _error(code, google["error"]["message"], code=google["error"]["status"]),
        code,
        {
            **headers,
            "x-should-retry": "false",
        },
    )


# -- request and answer ---------------------------------------------------------------------


def job_request(body: dict[str, Any], catalog: Any, images: list[str]) -> dict[str, Any]:
    prompt = body.get("prompt")
    model = body.get("model") or catalog.default_model
    model = ALIASES.get(model, model) if isinstance(model, str) else model
    job: dict[str, Any] = {"prompt": prompt, "model": model}
    if body.get("n") is not None:
        job["number_of_images"] = body["n"]
    spec = _spec(catalog, model)
    size = body.get("size") or "auto"
    if size != "auto":
        size_and_ratio = _size(size, spec)
        if size_and_ratio is None:
            allowed = ", ".join(dict.fromkeys(["auto", *OPENAI_SIZES, *_exact_sizes(spec)]))
            raise bad("size", f"size {size!r} is not offered; use one of: {allowed}")
        job["image_size"], job["aspect_ratio"] = size_and_ratio
    quality = body.get("quality")
    if quality is not None:
        if quality not in QUALITY:
            raise bad("quality", f"quality is one of {', '.join(QUALITY)}")
        level = QUALITY[quality]
        if level and spec is not None and level in spec.thinking_levels:
            job["thinking_level"] = level
    output_format = body.get("output_format")
    if output_format is not None or body.get("output_compression") is not None:
        mime = f"image/{output_format or 'png'}".replace("image/jpg", "image/jpeg")
        job["output"] = {"mime_type": mime}
        if body.get("output_compression") is not None:
            job["output"]["compression_quality"] = body["output_compression"]
    if body.get("background") not in (None, "auto", "opaque"):
        raise bad("background", "Gemini image models make opaque images: use auto or opaque")
    if body.get("style") is not None:
        raise bad("style", "style is not supported (say it in the prompt)")
    if body.get("moderation") not in (None, "auto", "low"):
        raise bad("moderation", "auto or low")
    if body.get("moderation") == "low":
        job["safety_filter_level"] = "block_only_high"
    if body.get("user"):
        user = re.sub(r"[^a-z0-9_-]", "-", str(body["user"]).lower())[:63]
        job["labels"] = {"openai-user": user}
    if images:
        job["reference_images"] = [{"data": data} for data in images]
    return job


def _spec(catalog: Any, model: Any) -> Any:
    if not isinstance(model, str):
        return None
    retired = catalog.retired_model(model)
    return catalog.get(retired.replacement if retired else model)


def _exact_sizes(spec: Any) -> list[str]:
    if spec is None:
        return []
    return [f"{w}x{h}" for table in spec.sizes.values() for (w, h) in table.values()]


def _size(size: Any, spec: Any) -> tuple[str, str] | None:
    if not isinstance(size, str):
        return None
    if size in OPENAI_SIZES:
        return OPENAI_SIZES[size]
    for name, table in (spec.sizes if spec is not None else {}).items():
        for ratio, (w, h) in table.items():
            if size == f"{w}x{h}":
                return name, ratio
    return None


def translated(exc: InvalidRequest) -> InvalidRequest:
    """Validation problems named by the OpenAI parameter they came from."""
    return renamed(exc, lambda name: PARAMS.get(name, PARAMS.get(name.split(".")[0], name)))


def _images(
    api: Any, job: Job, body: dict[str, Any], response_format: str, headers: dict[str, str]
) -> flask.Response:
    outputs = sorted(job.outputs or [], key=lambda o: o.index or 0)
    images = Images()
    read = vertex_api.reader(api)
    data: list[dict[str, Any]] = []
    for output in outputs:
        if response_format == "url":
            signed = api.services.signer.sign(output.uri)
            data.append({"url": signed[0] if signed else None})
        else:
            data.append({"b64_json": images.mark(read(output.uri))})
    first = outputs[0] if outputs else None
    answer: dict[str, Any] = {
        "created": int(job.created_at.timestamp()) if job.created_at else int(time.time()),
        "data": data,
        "output_format": ((first and first.mime_type) or "image/png").removeprefix("image/"),
        "size": f"{first.width}x{first.height}" if first else None,
    }
    usage = job.usage or {}
    if usage:
        answer["usage"] = {
            "input_tokens": usage.get("promptTokenCount", 0),
            "output_tokens": usage.get("candidatesTokenCount", 0),
            "total_tokens": usage.get("totalTokenCount", 0),
        }
    return flask.Response(
        images.chunks(answer), status=200, mimetype="application/json", headers=headers
    )


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None):
    kind = ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_body(exc: ImagegenError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, OpenAI error body) of one of our errors."""
    status = 400 if exc.http_status == 422 else exc.http_status
    param = None
    if exc.details:
        param = str(exc.details[0].get("field") or "") or None
    code = "invalid_api_key" if status == 401 else exc.code
    body = _error(status, exc.message, param=param, code=code)
    if getattr(exc, "job_id", None):
        body["error"]["job_id"] = exc.job_id
    return status, body
