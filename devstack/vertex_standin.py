"""A local stand-in for Vertex AI image generation (development and tests only).

It speaks the REST wire format that `google.cloud.aiplatform_v1.PredictionServiceClient`
(transport="rest") and google-genai send to today's Vertex AI:

- `POST /{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent`

and answers with placeholder images rendered by Pillow at exactly the pixel size the model
catalog lists for the requested aspect ratio and size (with no aspectRatio, the first input
image's shape, as an edit keeps it). A retired model (every Imagen id, the `-preview` ids,
a model past its Vertex retirement date) gets the 404 NOT_FOUND Vertex sends for a model that
is gone, and an
option a model does not take (4K on Lite, a thinking level it lacks, Google Search on Lite)
gets Vertex's 400 INVALID_ARGUMENT; a `gs://` input the storage emulator does not hold gets
Vertex's 404 NOT_FOUND (`_read_stored`). Nothing it returns is a Vertex AI image; every image says
so on its face and every request logs so.

Control endpoints (JSON):

- `GET /_standin/health` -> `{"ok": true}`
- `GET /oauth2/v1/certs` -> the local stack's ID-token certificates (devstack/idtokens.py),
  in the format of https://www.googleapis.com/oauth2/v1/certs
- `GET /_standin/requests[?model=&method=]`, `DELETE /_standin/requests` - recorded requests
- `GET|POST|DELETE /_standin/faults` - fault rules, `{"rules": [{"match": {...}, ...}]}`
- `GET|POST|DELETE /_standin/shutdown` - shut models down at run time (issue 17):
  `POST {"model": "gemini-3.1-flash-lite-image"}` makes every later call for it, and its
  Model Garden entry, answer 404 NOT_FOUND as Vertex does for a model Google shut down;
  `DELETE` brings every model back; `GET` lists the ones shut down.
- `GET|POST|DELETE /_standin/models` - a model appears at run time (issue 30):
  `POST {"model": "gemini-9-image", "like": "gemini-nano-banana-2.1", "launch_stage":
  "PUBLIC_PREVIEW"}` publishes it in Model Garden and serves it like `like`; `DELETE`
  forgets every such model.

Model Garden: `GET /v1/publishers/google/models/{m}` (GetPublisherModel) answers a
`PublisherModel` (`name`, `versionId`, `openSourceCategory`, `launchStage`) for a served
model and 404 NOT_FOUND for one that is retired, shut down or past its Vertex retirement
date; `GET /v1beta1/publishers/google/models` (ListPublisherModels, paged with `pageSize`
and `pageToken`, `publisherModels` + `nextPageToken`) lists the served models, the ones that
appeared and a few that generate no images - the REST shapes of `ModelGardenService`
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/publishers.models, read
2026-11-25; the list method is in the v1beta1 surface of google-cloud-aiplatform 2.7.0).
Each is recorded with method `getPublisherModel` / `listPublisherModels`.

Batch prediction (issue 29): `projects.locations.batchPredictionJobs` create, list, get and
cancel, in devstack/vertex_batch_standin.py, answering each request of a job like
`:generateContent` above.

Faults can also be asked for inside the prompt (so concurrent tests do not interfere):
`[[fail:429x2]]`, `[[fail:500x1]]`, `[[fail:503]]` (every time), `[[retry_after:1]]`,
`[[latency:2000]]`, `[[block:IMAGE_SAFETY]]`, `[[block:SAFETY]]`, `[[block:prompt]]`,
`[[block:prompt:PROHIBITED_CONTENT]]`, `[[notserved]]`, `[[notserved:us-central1]]`,
`[[size:1K]]` (deliver that size whatever imageSize asks: the "imageSize silently ignored"
reports), `[[drop:1]]` (the first N calls' connection drops halfway through the reply's
body, inside the image: a reply cut short), `[[noise]]` (incompressible pixels, seeded by the
prompt: images of nearly raw size, tens of MB at 4K), `[[c2pa:none]]` (no Content
Credentials, even for a model that carries them), `[[c2pa:tamper]]` (signed, then one byte
of the image changed: invalid credentials), and quota errors the way Vertex words them
(issue 27): `[[quota:shared]]` (pay-as-you-go "Resource exhausted, please try again later.",
no details), `[[quota:pt]]` ("Too many requests. Exceeded the Provisioned Throughput."),
`[[quota:minute]]` and `[[quota:day]]` (a named per-minute / per-day quota: `details[]` with
ErrorInfo RATE_LIMIT_EXCEEDED, QuotaFailure, Help and RetryInfo), each also `xN`;
`[[retry_delay:S]]` puts `RetryInfo.retryDelay` S seconds into any of them. Counted
directives (`xN`) count per (directive, prompt).

Content Credentials (issue 25): as Vertex signs the images of the models it supports, the
stand-in signs those of the models the catalog marks `c2pa_content_credentials` with C2PA (a
`c2pa.created` action, digital source type trainedAlgorithmicMedia), with a test
certificate chain made when it starts (devstack/c2pa_signing.py). Each recorded request
lists what was sent back (`sent`: mime type, bytes and SHA-256 of each image).

Quota errors (issue 27): the body is a `google.rpc.Status` whose `details[]` follow
google/rpc/error_details.proto (RetryInfo, QuotaFailure, ErrorInfo, Help); the two framework
messages are Vertex's own
(https://cloud.google.com/vertex-ai/generative-ai/docs/provisioned-throughput/error-code-429,
read 2026-12-06). The quota names are modelled on what Google's quota system reports for
Vertex ("Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_
per_project_per_base_model with base model: ..."), with the same names per day; Google
publishes no sample body of a per-day Vertex 429, so the day's names are ours.

Run: `python -m devstack.vertex_standin --port 8090 --storage-endpoint http://127.0.0.1:9023`
(env fallbacks: DEVSTACK_VERTEX_PORT, DEVSTACK_VERTEX_HOST, STORAGE_EMULATOR_HOST).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import datetime as dt
import hashlib
import io
import json
import math
import os
import random
import re
import signal
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask

from devstack.c2pa_signing import ContentSigner, tampered
from devstack.vertex_batch_standin import Answering, batch_routes

# ASCII only: the default font has no em dash
STANDIN_NOTE = "imagegen local stand-in - not a Vertex AI image"
LOG_NOTE = "development stand-in for Vertex AI; images are placeholders"

MAX_RECORDS = 1000
MAX_RECORD_BYTES = 200 * 1024 * 1024
CACHE_ENTRIES = 64
CACHE_BYTES = 256 * 1024 * 1024

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
STATUS_MESSAGES = {
    429: "Resource exhausted, please try again later. (stand-in)",
    500: "Internal error encountered. (stand-in)",
    503: "The service is currently unavailable. (stand-in)",
    504: "Deadline exceeded. (stand-in)",
    400: "Request contains an invalid argument. (stand-in)",
    404: "Publisher Model not found. (stand-in)",
    403: "Permission denied. (stand-in)",
}

# Enum values arrive as integers from the REST client (it sends `use_integers_for_enums`);
# other callers send names. These tables map the integers back.
MODALITY = {0: "MODALITY_UNSPECIFIED", 1: "TEXT", 2: "IMAGE", 3: "AUDIO"}

MIME_FORMATS = {
    "image/png": ("PNG", "png"),
    "image/jpeg": ("JPEG", "jpg"),
    "image/webp": ("WEBP", "webp"),
}

DIRECTIVE_RE = re.compile(
    r"\[\[(fail|latency|block|notserved|retry_after|retry_delay|size|drop|noise|c2pa|quota)"
    r"(?::([^\]]*))?\]\]"
)
QUOTA_KINDS = ("shared", "pt", "minute", "day")
PT_MESSAGE = "Too many requests. Exceeded the Provisioned Throughput. (stand-in)"
RPC = "type.googleapis.com/google.rpc."
THINKING_LEVEL = {0: "THINKING_LEVEL_UNSPECIFIED", 1: "LOW", 2: "MEDIUM", 3: "HIGH", 4: "MINIMAL"}
# imageConfig.prominentPeople: google-genai sends the names (types.ProminentPeople)
PROMINENT_PEOPLE = {"ALLOW_PROMINENT_PEOPLE", "BLOCK_PROMINENT_PEOPLE"}
# The body Vertex AI answers for a publisher model that does not exist (or no longer does).
NOT_FOUND = (
    "Publisher Model `projects/{project}/locations/{location}/publishers/google/models/"
    "{model}` was not found or your project does not have access to it. Please ensure you "
    "are using a valid model version. For more information, see: "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions"
)
ROUTE = "/<version>/projects/<project>/locations/<location>/publishers/google/models/<target>"


class VertexError(Exception):
    """Answered as a Google-style error body (`google.rpc.Status`, with `details[]` when
    given)."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        retry_after: float | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "Error. (stand-in)")
        self.retry_after = retry_after
        self.details = details or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": {
                "code": self.status,
                "message": self.message,
                "status": STATUS_NAMES.get(self.status, "UNKNOWN"),
            }
        }
        if self.details:
            body["error"]["details"] = self.details
        return body

    def response(self) -> flask.Response:
        body = self.body()
        resp = flask.Response(json.dumps(body), status=self.status, mimetype="application/json")
        if self.retry_after is not None:
            resp.headers["Retry-After"] = _fmt_seconds(self.retry_after)
        return resp


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _duration(seconds: float) -> str:
    """A protobuf Duration in its JSON form ("53s", "1.500s")."""
    from google.protobuf import duration_pb2

    value = duration_pb2.Duration()
    value.FromTimedelta(dt.timedelta(seconds=seconds))
    return value.ToJsonString()


def quota_error(
    kind: str,
    project: str,
    model: str,
    location: str,
    retry_delay: float | None = None,
    limit: int = 0,
) -> VertexError:
    """The 429 of one quota framework, as Vertex words it (see the module's docstring)."""
    details: list[dict[str, Any]] = []
    if kind == "pt":
        message = PT_MESSAGE
    elif kind in ("minute", "day"):
        period = "minute" if kind == "minute" else "day"
        metric = (
            f"aiplatform.googleapis.com/generate_content_requests_per_{period}"
            "_per_project_per_base_model"
        )
        quota_id = f"GenerateContentRequestsPer{period.title()}PerProjectPerBaseModel"
        message = (
            f"Quota exceeded for {metric} with base model: {model}. Please submit a quota"
            " increase request. https://cloud.google.com/vertex-ai/docs/generative-ai/"
            "quotas-genai. (stand-in)"
        )
        details = [
            {
                "@type": f"{RPC}ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": "aiplatform.googleapis.com",
                    "quota_metric": metric,
                    "quota_limit": quota_id,
                    "quota_limit_value": str(limit),
                    "quota_location": location,
                    "consumer": f"projects/{project}",
                },
            },
            {
                "@type": f"{RPC}QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": metric,
                        "quotaId": quota_id,
                        "quotaDimensions": {"location": location, "base_model": model},
                        "quotaValue": str(limit),
                    }
                ],
            },
            {
                "@type": f"{RPC}Help",
                "links": [
                    {
                        "description": "Request a higher quota limit.",
                        "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                    }
                ],
            },
        ]
    else:
        message = STATUS_MESSAGES[429]
    if retry_delay is not None:
        details.append({"@type": f"{RPC}RetryInfo", "retryDelay": _duration(retry_delay)})
    return VertexError(429, message, details=details)


# --------------------------------------------------------------------------------- faults


@dataclass
class Effects:
    """What the faults decided for one request."""

    status: int | None = None
    message: str | None = None
    retry_after: float | None = None
    latency_ms: int = 0
    block: str | None = None  # "SAFETY", "IMAGE_SAFETY", ..., "prompt:SAFETY", "rai"
    drop: bool = False  # the connection drops halfway through the reply
    quota: str | None = None  # a quota 429 of this kind (QUOTA_KINDS)
    retry_delay: float | None = None  # RetryInfo.retryDelay on a quota 429


@dataclass
class Rule:
    match: dict[str, Any]
    status: int | None = None
    times: int | None = None  # None = forever
    latency_ms: int = 0
    retry_after: float | None = None
    block: str | None = None
    message: str | None = None
    hits: int = 0

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Rule:
        if not isinstance(raw, dict):
            raise ValueError("each rule must be an object")
        unknown = set(raw) - {
            "match",
            "status",
            "times",
            "latency_ms",
            "retry_after",
            "block",
            "message",
        }
        if unknown:
            raise ValueError(f"unknown rule keys: {sorted(unknown)}")
        match = raw.get("match") or {}
        if not isinstance(match, dict) or set(match) - {
            "model",
            "location",
            "prompt_contains",
            "method",
        }:
            raise ValueError("match takes model, location, prompt_contains, method")
        status = raw.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError("status must be an HTTP error status")
        times = raw.get("times")
        if times is not None and (not isinstance(times, int) or times < 0):
            raise ValueError("times must be a non-negative integer or null")
        return cls(
            match=match,
            status=status,
            times=times,
            latency_ms=int(raw.get("latency_ms") or 0),
            retry_after=raw.get("retry_after"),
            block=raw.get("block"),
            message=raw.get("message"),
        )

    def matches(self, method: str, model: str, location: str, prompt: str) -> bool:
        m = self.match
        return (
            m.get("model") in (None, model)
            and m.get("location") in (None, location)
            and m.get("method") in (None, method)
            and (m.get("prompt_contains") is None or m["prompt_contains"] in prompt)
        )

    def to_json(self) -> dict[str, Any]:
        remaining = None if self.times is None else max(0, self.times - self.hits)
        return {
            "match": self.match,
            "status": self.status,
            "times": self.times,
            "remaining": remaining,
            "hits": self.hits,
            "latency_ms": self.latency_ms,
            "retry_after": self.retry_after,
            "block": self.block,
            "message": self.message,
        }


def parse_directives(prompt: str) -> list[tuple[str, str, str]]:
    """(full directive text, name, argument) for every `[[name:arg]]` in the prompt."""
    return [(m.group(0), m.group(1), m.group(2) or "") for m in DIRECTIVE_RE.finditer(prompt)]


# ------------------------------------------------------------------------------ rendering


def _colour(prompt: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(prompt.encode()).digest()
    # keep it mid-range so both the dark and the light text stay readable
    return tuple(60 + b % 140 for b in digest[:3])  # type: ignore[return-value]


def render_image(
    prompt: str, width: int, height: int, mime: str, quality: int | None, caption: str
) -> bytes:
    """A placeholder of exactly width x height, encoded as `mime` (random pixels, seeded by
    the prompt, for `[[noise]]`)."""
    from PIL import Image, ImageDraw, ImageFont

    if "[[noise]]" in prompt:
        return _encode(_noise(prompt, width, height), mime, quality)
    factor = max(1, math.ceil(max(width, height) / 1024))
    sw, sh = max(1, math.ceil(width / factor)), max(1, math.ceil(height / factor))
    bg = _colour(prompt)
    img = Image.new("RGB", (sw, sh), bg)
    draw = ImageDraw.Draw(img)
    fg = (255, 255, 255) if sum(bg) < 380 else (20, 20, 20)
    size = max(10, min(sw, sh) // 18)
    font = ImageFont.load_default(size=size)
    small = ImageFont.load_default(size=max(8, size * 2 // 3))
    margin = max(4, sw // 32)
    chars = max(8, int((sw - 2 * margin) / (size * 0.55)))
    lines = textwrap.wrap(prompt, chars)[: max(1, (sh // 2) // (size + 4))]
    y = margin
    for line in lines:
        draw.text((margin, y), line, fill=fg, font=font)
        y += size + 4
    footer = [STANDIN_NOTE, caption]
    fy = sh - margin - len(footer) * (size * 2 // 3 + 4)
    draw.rectangle((0, fy - 4, sw, sh), fill=(0, 0, 0))
    for line in footer:
        draw.text((margin, fy), line, fill=(255, 255, 0), font=small)
        fy += size * 2 // 3 + 4
    if (sw, sh) != (width, height):
        img = img.resize((width, height), Image.Resampling.NEAREST)
    return _encode(img, mime, quality)


def _noise(prompt: str, width: int, height: int):
    from PIL import Image

    pixels = random.Random(prompt).randbytes(width * height * 3)
    return Image.frombytes("RGB", (width, height), pixels)


def _encode(img, mime: str, quality: int | None) -> bytes:
    out = io.BytesIO()
    fmt = MIME_FORMATS[mime][0]
    if fmt == "PNG":
        img.save(out, "PNG", compress_level=1)
    elif fmt == "JPEG":
        img.save(out, "JPEG", quality=quality if quality is not None else 75)
    else:
        img.save(out, "WEBP", quality=quality if quality is not None else 80, method=0)
    return out.getvalue()


class ImageCache:
    """Encoded images by (prompt, size, mime, quality, caption): LRU, bounded in bytes."""

    def __init__(self) -> None:
        self._items: collections.OrderedDict[tuple, bytes] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(
        self,
        prompt: str,
        width: int,
        height: int,
        mime: str,
        quality: int | None,
        caption: str,
        signer: ContentSigner | None = None,
    ) -> bytes:
        key = (prompt, width, height, mime, quality, caption, signer is not None)
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
        data = render_image(prompt, width, height, mime, quality, caption)
        if signer is not None:
            data = signer.sign(data, mime, prompt)
        with self._lock:
            if key not in self._items:
                self._items[key] = data
                self._bytes += len(data)
            while self._items and (len(self._items) > CACHE_ENTRIES or self._bytes > CACHE_BYTES):
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)
        return data


# -------------------------------------------------------------------------------- the app


@dataclass
class StandIn:
    """The server's state: recordings, fault rules and counters, image cache, storage."""

    storage_endpoint: str | None = None
    records: collections.deque = field(default_factory=collections.deque)
    record_bytes: int = 0
    rules: list[Rule] = field(default_factory=list)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    cache: ImageCache = field(default_factory=ImageCache)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log_lock: threading.Lock = field(default_factory=threading.Lock)
    shut_down: set[str] = field(default_factory=set)  # models shut down at run time
    signer: ContentSigner | None = None  # Content Credentials (made at start)
    appeared: dict[str, Any] = field(default_factory=dict)  # id -> spec, published at run time

    # -- recording
    def record(self, entry: dict[str, Any], size: int) -> None:
        with self.lock:
            self.records.append((entry, size))
            self.record_bytes += size
            # drop the oldest beyond the caps, but always keep the newest
            while len(self.records) > 1 and (
                len(self.records) > MAX_RECORDS or self.record_bytes > MAX_RECORD_BYTES
            ):
                _, old = self.records.popleft()
                self.record_bytes -= old

    def recorded(self, model: str | None, method: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                e
                for e, _ in self.records
                if model in (None, e["model"]) and method in (None, e["method"])
            ]

    def clear_records(self) -> None:
        with self.lock:
            self.records.clear()
            self.record_bytes = 0

    # -- faults
    def effects(self, method: str, model: str, location: str, prompt: str) -> Effects:
        fx = Effects()
        with self.lock:
            for rule in self.rules:
                if rule.times is not None and rule.hits >= rule.times:
                    continue
                if not rule.matches(method, model, location, prompt):
                    continue
                rule.hits += 1
                fx.status, fx.message = rule.status, rule.message
                fx.retry_after, fx.latency_ms = rule.retry_after, rule.latency_ms
                fx.block = rule.block
                break
            for text, name, arg in parse_directives(prompt):
                if name == "fail" and fx.status is None:
                    code, _, times = arg.partition("x")
                    key = (text, prompt)
                    count = self.counters.get(key, 0) + 1
                    self.counters[key] = count
                    if not times or count <= int(times):
                        fx.status = int(code)
                elif name == "latency":
                    fx.latency_ms = max(fx.latency_ms, int(arg or 0))
                elif name == "retry_after":
                    fx.retry_after = float(arg or 1)
                elif name == "retry_delay":
                    fx.retry_delay = float(arg or 1)
                elif name == "quota" and fx.quota is None:
                    kind, _, times = arg.partition("x")
                    key = (text, prompt)
                    count = self.counters.get(key, 0) + 1
                    self.counters[key] = count
                    if (not times or count <= int(times)) and (kind or "shared") in QUOTA_KINDS:
                        fx.quota = kind or "shared"
                elif name == "block" and fx.block is None:
                    fx.block = arg or "SAFETY"
                elif name == "drop":
                    key = (text, prompt)
                    self.counters[key] = self.counters.get(key, 0) + 1
                    fx.drop = not arg or self.counters[key] <= int(arg)
        return fx

    def log(self, **fields: Any) -> None:
        line = json.dumps({"standin": "vertex", "note": LOG_NOTE, **fields})
        with self.log_lock:
            print(line, file=sys.stdout, flush=True)


def _catalog():
    from imagegen.domain.catalog import load_catalog

    return load_catalog(
        os.environ.get("IMAGEGEN_CATALOG_JSON", ""), os.environ.get("IMAGEGEN_CATALOG_FILE", "")
    )


def _served(state: StandIn, model: str):
    """The spec of a model this stand-in serves today: a catalog model before its Vertex
    retirement date, or one told to appear at run time; None otherwise."""
    spec = state.appeared.get(model) or _catalog().get(model)
    if spec is None or model in state.shut_down:
        return None
    if spec.retired(dt.datetime.now(dt.UTC).date()):  # past Vertex's retirement date
        return None
    return spec


def _find_spec(state: StandIn, project: str, model: str, location: str, prompt: str):
    spec = _served(state, model)
    if spec is None:  # never existed, or shut down (Imagen, the previews, past its date)
        raise VertexError(404, NOT_FOUND.format(project=project, location=location, model=model))
    served = location in spec.locations
    for _, name, arg in parse_directives(prompt):
        if name == "notserved" and arg in ("", location):
            served = False
    if not served:
        raise VertexError(
            404,
            f"Publisher Model `projects/*/locations/{location}/publishers/"
            f"google/models/{model}` not found: {model} is not served in "
            f"{location}. (stand-in)",
        )
    return spec


def _pixel_size(spec, ratio: str, size: str) -> tuple[int, int]:
    if size not in spec.sizes:
        raise VertexError(
            400,
            f"Unsupported image size {size!r} for {spec.id}; supported: "
            f"{', '.join(spec.sizes)}. (stand-in)",
        )
    if ratio not in spec.sizes[size]:
        raise VertexError(
            400,
            f"Unsupported aspect ratio {ratio!r} for {spec.id}; supported: "
            f"{', '.join(spec.sizes[size])}. (stand-in)",
        )
    return spec.pixel_size(ratio, size)


def _mime(options: Any) -> tuple[str, int | None]:
    options = options if isinstance(options, dict) else {}
    mime = _either(options, "mimeType") or "image/png"
    if mime not in MIME_FORMATS:
        raise VertexError(400, f"Unsupported output mime type {mime!r}. (stand-in)")
    quality = _either(options, "compressionQuality")
    if quality is not None:
        try:
            quality = int(quality)
        except (TypeError, ValueError):
            raise VertexError(400, "compressionQuality must be an integer. (stand-in)") from None
        if not 0 <= quality <= 100:
            raise VertexError(400, "compressionQuality must be in 0..100. (stand-in)")
    return mime, quality


def _int(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = float(value)  # Struct numbers arrive as JSON numbers; int64 as strings
    except (TypeError, ValueError):
        raise VertexError(400, f"{name} must be a number. (stand-in)") from None
    if not number.is_integer():
        raise VertexError(400, f"{name} must be an integer. (stand-in)")
    return int(number)


def _gemini_prompt(body: dict[str, Any]) -> str:
    contents = body.get("contents")
    if not isinstance(contents, list):
        return ""
    for turn in reversed(contents):
        if isinstance(turn, dict) and turn.get("role", "user") == "user":
            for part in reversed(turn.get("parts") or []):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    return part["text"]
            return ""
    return ""


def _modalities(config: dict[str, Any]) -> list[str]:
    raw = _either(config, "responseModalities") or []
    return [MODALITY.get(m, str(m)) if isinstance(m, int) else str(m).upper() for m in raw]


def _generate_content(
    state: StandIn,
    spec,
    model: str,
    body: dict[str, Any],
    prompt: str,
    fx: Effects,
    sent: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise VertexError(400, "contents is required. (stand-in)")
    images_in = 0
    first_shape: tuple[int, int] | None = None
    for turn in contents:
        for part in (turn or {}).get("parts") or []:
            # Vertex's JSON parser takes a field by its JSON name or its proto name, and
            # google-genai 3.6 sends `fileData: {file_uri, mime_type}`
            inline, stored = _either(part, "inlineData"), _either(part, "fileData")
            if inline is not None:
                images_in += 1
                raw = _b64((inline or {}).get("data", ""))
                if first_shape is None and (turn or {}).get("role", "user") == "user":
                    first_shape = _shape(raw)
            elif stored is not None:
                images_in += 1
                uri = _either(stored or {}, "fileUri") or ""
                if not str(uri).startswith(("gs://", "http://", "https://")):
                    raise VertexError(400, f"fileData.fileUri {uri!r} is not a URI. (stand-in)")
                # Vertex reads a gs:// input itself; so does the stand-in, from the storage
                # emulator: a missing one is refused, and an edit keeps its input's shape.
                first = first_shape is None and (turn or {}).get("role", "user") == "user"
                stored = _read_stored(state.storage_endpoint, uri, media=first)
                if first and stored:
                    first_shape = _shape(stored)
    if images_in > spec.max_reference_images + (1 if spec.max_reference_images else 0):
        raise VertexError(
            400, f"{model} takes at most {spec.max_reference_images} input images. (stand-in)"
        )
    config = _either(body, "generationConfig") or {}
    if _int(_either(config, "candidateCount"), "candidateCount", 1) != 1:
        raise VertexError(400, "Multiple candidates is not enabled for this model. (stand-in)")
    _check_options(spec, body, config)
    image_config = _either(config, "imageConfig") or {}
    size = str(_either(image_config, "imageSize") or spec.default_size)
    if size not in spec.sizes:
        raise VertexError(
            400,
            f"Unsupported image size {size!r} for {spec.id}; supported: "
            f"{', '.join(spec.sizes)}. (stand-in)",
        )
    for _, name, arg in parse_directives(prompt):
        if name == "size" and arg in spec.sizes:
            size = arg  # the fault: imageSize ignored, another size delivered
    # No aspectRatio: the output keeps the (first) input image's shape, else square.
    ratio = _either(image_config, "aspectRatio") or _nearest_ratio(spec.sizes[size], first_shape)
    width, height = _pixel_size(spec, str(ratio), size)
    mime, quality = _mime(_either(image_config, "imageOutputOptions"))
    prompt_tokens = max(1, len(prompt) // 4) + 258 * images_in
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": 1290,
        "totalTokenCount": prompt_tokens + 1290,
    }
    reply: dict[str, Any] = {
        "modelVersion": model,
        "usageMetadata": usage,
        "responseId": hashlib.sha1(  # noqa: S324 - an id, not security
            f"{time.time_ns()}{prompt}".encode()
        ).hexdigest()[:24],
        "createTime": dt.datetime.now(dt.UTC).isoformat(),
    }
    block = fx.block
    if block and block.startswith("prompt"):
        reason = block.partition(":")[2] or "SAFETY"
        reply["promptFeedback"] = {
            "blockReason": reason,
            "blockReasonMessage": "(stand-in) prompt blocked by request",
        }
        usage["candidatesTokenCount"], usage["totalTokenCount"] = 0, prompt_tokens
        return reply
    if block:
        reason = "IMAGE_SAFETY" if block == "rai" else block
        reply["candidates"] = [
            {
                "content": {"role": "model"},
                "finishReason": reason,
                "finishMessage": f"(stand-in) blocked by request: {reason}. Unable to show the "
                "generated image.",
                "index": 0,
            }
        ]
        usage["candidatesTokenCount"], usage["totalTokenCount"] = 0, prompt_tokens
        return reply
    # Thinking models (Gemini 3 Pro Image) sign the first part after their thoughts and
    # every image part; a thought summary comes first when includeThoughts is set.
    thinking = model.startswith("gemini-3")
    modalities = _modalities(config)
    parts: list[dict[str, Any]] = []
    if thinking and _either(_either(config, "thinkingConfig") or {}, "includeThoughts"):
        parts.append({"text": f"(stand-in thought) Planning: {prompt[:120]}", "thought": True})
    if not modalities or "TEXT" in modalities:
        parts.append({"text": f"(stand-in) Here is a placeholder for: {prompt[:200]}"})
        if thinking:
            parts[-1]["thoughtSignature"] = thought_signature(model, prompt, 0)
    if not modalities or "IMAGE" in modalities:
        caption = f"{model} {size} {ratio} {width}x{height}"
        if config.get("seed") is not None:
            caption += f" seed {_int(config['seed'], 'seed', 0)}"
        credentials = _credentials(prompt)
        signer = state.signer if spec.c2pa_content_credentials and credentials != "none" else None
        data = state.cache.get(prompt, width, height, mime, quality, caption, signer)
        if signer is not None and credentials == "tamper":
            data = tampered(data)
        if sent is not None:
            sha256 = hashlib.sha256(data).hexdigest()
            sent.append({"mime_type": mime, "bytes": len(data), "sha256": sha256})
        parts.append({"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}})
        if thinking:
            parts[-1]["thoughtSignature"] = thought_signature(model, prompt, 1)
    reply["candidates"] = [
        {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    ]
    if any(_either(t, "googleSearch") is not None for t in _either(body, "tools") or []):
        # grounded: the queries made and the search suggestions Google requires to be shown
        reply["candidates"][0]["groundingMetadata"] = {
            "webSearchQueries": [prompt[:80]],
            "searchEntryPoint": {"renderedContent": "<div>(stand-in) search suggestions</div>"},
        }
    return reply


def _credentials(prompt: str) -> str:
    """`none` or `tamper` when the prompt asks for it (`[[c2pa:none]]`), else `sign`."""
    for _, name, arg in parse_directives(prompt):
        if name == "c2pa" and arg in ("none", "tamper"):
            return arg
    return "sign"


class ConnectionDropped(RuntimeError):
    """Raised mid-body: werkzeug closes the connection with the reply cut short."""


def _dropped(body: bytes) -> flask.Response:
    """The reply's first half (for an image reply, inside its base64), then the connection
    closes: what a client sees when the network drops mid-reply."""

    def halves():
        yield body[: len(body) // 2]
        raise ConnectionDropped("(stand-in) connection dropped mid-reply by request")

    return flask.Response(halves(), mimetype="application/json")


def _check_options(spec, body: dict[str, Any], config: dict[str, Any]) -> None:
    """Vertex's 400 for an option the model does not take."""
    thinking = _either(config, "thinkingConfig") or {}
    level = _either(thinking, "thinkingLevel")
    if level is not None:
        name = THINKING_LEVEL.get(level, str(level)) if isinstance(level, int) else str(level)
        if name.lower() not in spec.thinking_levels:
            raise VertexError(
                400, f"Thinking level {name} is not supported for {spec.id}. (stand-in)"
            )
    if _either(thinking, "includeThoughts") and not spec.thinking:
        raise VertexError(400, f"includeThoughts is not supported for {spec.id}. (stand-in)")
    image_config = _either(config, "imageConfig") or {}
    prominent = _either(image_config, "prominentPeople")
    if prominent is not None:
        if prominent not in PROMINENT_PEOPLE:
            raise VertexError(400, f"Invalid value for prominentPeople: {prominent!r}. (stand-in)")
        if not spec.prominent_people:
            raise VertexError(400, f"prominentPeople is not supported for {spec.id}. (stand-in)")
    if _either(image_config, "personGeneration") is not None and not spec.person_generation:
        raise VertexError(400, f"personGeneration is not supported for {spec.id}. (stand-in)")
    searches = [
        t
        for t in body.get("tools") or []
        if isinstance(t, dict) and _either(t, "googleSearch") is not None
    ]
    if searches and not spec.google_search:
        raise VertexError(
            400, f"Grounding with Google Search is not supported for {spec.id}. (stand-in)"
        )


def _either(obj: dict[str, Any], name: str) -> Any:
    """A field by its JSON (camelCase) name or its proto (snake_case) name."""
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower())


def _b64(data: Any) -> bytes:
    """Inline bytes as JSON carries them: standard base64 (the REST client) or URL-safe
    (google-genai)."""
    text = str(data or "")
    try:
        if "-" in text or "_" in text:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VertexError(400, "inlineData.data is not valid base64. (stand-in)") from None


def _read_stored(endpoint: str | None, uri: str, media: bool) -> bytes | None:
    """A gs:// input as Vertex reads it, from the storage emulator: its bytes (`media`) or
    b"" (it exists); None when the stand-in cannot tell (no emulator, not gs://, the
    emulator unreachable). A missing object is Vertex's 404 NOT_FOUND, whose cause the
    error table gives as "No valid object is found from the designated URL" (example:
    "Image file not found in the storage URL";
    https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/api-errors, read
    2026-12-06). The message names no URI: Vertex's exact wording is not documented, so
    the project must not depend on it (the worker checks which of its inputs is gone)."""
    if not endpoint or not uri.startswith("gs://"):
        return None
    import urllib.error
    import urllib.parse
    import urllib.request

    bucket, _, name = uri[len("gs://") :].partition("/")
    url = (
        f"{endpoint}/storage/v1/b/{urllib.parse.quote(bucket, safe='')}"
        f"/o/{urllib.parse.quote(name, safe='')}" + ("?alt=media" if media else "")
    )
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (local emulator)
            return response.read() if media else b""
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise VertexError(
                404, "No valid object is found from the designated URL. (stand-in)"
            ) from None
        return None
    except OSError:
        return None


def _shape(raw: bytes) -> tuple[int, int] | None:
    from imagegen.media import pixel_size  # the function's own header reader

    return pixel_size(raw)


def _nearest_ratio(table: dict[str, tuple[int, int]], shape: tuple[int, int] | None) -> str:
    if not shape or not shape[1]:
        return "1:1" if "1:1" in table else next(iter(table))
    want = shape[0] / shape[1]
    return min(table, key=lambda r: abs(table[r][0] / table[r][1] - want))


def thought_signature(model: str, prompt: str, part: int) -> str:
    """A stand-in thought signature (base64, as the API sends it): deterministic per model,
    prompt and part, so tests can predict what must be sent back."""
    digest = hashlib.sha256(f"signature:{model}:{part}:{prompt}".encode()).digest()
    return base64.b64encode(digest).decode()


class QuotaGate:
    """Quota-enforcement mode (issue 18): at most `limit` accepted calls per model and
    location in any sliding `window` seconds; beyond that a 429 RESOURCE_EXHAUSTED with no
    details, as Vertex's shared quota answers, or with `retry_info` the per-minute quota's
    429 (ErrorInfo, QuotaFailure, RetryInfo: the seconds until the window has room). Issue
    27: `day_limit` accepted calls per model and location per stand-in day (`day_seconds`
    long, counted from the configuration), beyond which every call gets the per-day quota's
    429 (its RetryInfo: the seconds left of the day) until the day ends. Off (limits 0)
    unless set with `DEVSTACK_VERTEX_QUOTA_RPM` at start or `POST /_standin/quota {"limit",
    "window", "retry_info", "day_limit", "day_seconds"}`. Counts admitted and refused calls
    per model|location for benchmarks ("429" all refusals, "429_day" the per-day ones)."""

    def __init__(self, limit: int = 0, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self.retry_info = False
        self.day_limit, self.day_seconds = 0, 86400.0
        self.day_start = time.monotonic()
        self.lock = threading.Lock()
        self.accepted: dict[str, collections.deque] = {}
        self.today: dict[str, tuple[int, int]] = {}  # key -> (day number, calls accepted)
        self.counts: dict[str, dict[str, int]] = {}

    def admit(self, project: str, model: str, location: str) -> VertexError | None:
        """None when the call may go ahead; the 429 to answer when not."""
        key = f"{model}|{location}"
        now = time.monotonic()
        with self.lock:
            counts = self.counts.setdefault(key, {"ok": 0, "429": 0})
            if self.day_limit > 0:
                elapsed = now - self.day_start
                day = int(elapsed // self.day_seconds)
                number, used = self.today.get(key, (day, 0))
                used = used if number == day else 0
                if used >= self.day_limit:
                    counts["429"] += 1
                    counts["429_day"] = counts.get("429_day", 0) + 1
                    left = (day + 1) * self.day_seconds - elapsed
                    return quota_error("day", project, model, location, left, self.day_limit)
                self.today[key] = (day, used)
            if self.limit > 0:
                seen = self.accepted.setdefault(key, collections.deque())
                while seen and seen[0] <= now - self.window:
                    seen.popleft()
                if len(seen) >= self.limit:
                    counts["429"] += 1
                    if not self.retry_info:
                        return VertexError(429, STATUS_MESSAGES[429])
                    free = seen[0] + self.window - now
                    return quota_error("minute", project, model, location, free, self.limit)
                seen.append(now)
            if self.day_limit > 0:
                day, used = self.today[key]
                self.today[key] = (day, used + 1)
            counts["ok"] += 1
            return None

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "limit": self.limit,
                "window": self.window,
                "retry_info": self.retry_info,
                "day_limit": self.day_limit,
                "day_seconds": self.day_seconds,
                "counts": dict(self.counts),
            }

    def configure(
        self,
        limit: int,
        window: float,
        retry_info: bool = False,
        day_limit: int = 0,
        day_seconds: float = 86400.0,
    ) -> None:
        if window <= 0 or day_seconds <= 0 or limit < 0 or day_limit < 0:
            raise ValueError("window and day_seconds must be > 0, limits >= 0")
        with self.lock:
            self.limit, self.window, self.retry_info = limit, window, retry_info
            self.day_limit, self.day_seconds = day_limit, day_seconds
            self.day_start = time.monotonic()
            self.accepted.clear()
            self.today.clear()
            self.counts.clear()


def create_app(storage_endpoint: str | None = None) -> flask.Flask:
    """The stand-in as a Flask app; its state is `app.extensions["vertex_standin"]`."""
    app = flask.Flask("vertex_standin")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    state = StandIn(storage_endpoint=_normalise_endpoint(storage_endpoint))
    state.signer = ContentSigner()  # a fresh test chain each start
    app.extensions["vertex_standin"] = state
    quota = QuotaGate(int(os.environ.get("DEVSTACK_VERTEX_QUOTA_RPM", "0") or 0))
    app.extensions["vertex_quota"] = quota

    @app.post(ROUTE)
    def model_call(version: str, project: str, location: str, target: str):
        started = time.monotonic()
        model, _, method = target.partition(":")
        raw = flask.request.get_data(cache=False)
        status, prompt = 200, ""
        try:
            if version not in ("v1", "v1beta1") or method not in ("predict", "generateContent"):
                raise VertexError(404, f"Method {target!r} not found. (stand-in)")
            if method == "predict":  # Imagen's method: every model it served is shut down
                raise VertexError(
                    404, NOT_FOUND.format(project=project, location=location, model=model)
                )
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                raise VertexError(400, "Invalid JSON payload received. (stand-in)") from None
            if not isinstance(body, dict):
                raise VertexError(400, "The request body must be a JSON object. (stand-in)")
            headers = flask.request.headers
            entry = {
                "method": method,
                "version": version,
                "project": project,
                "location": location,
                "model": model,
                "body": body,
                "query": dict(flask.request.args),
                "headers": {
                    "content-type": headers.get("Content-Type"),
                    "x-goog-api-client": headers.get("X-Goog-Api-Client"),
                    "x-goog-request-params": headers.get("X-Goog-Request-Params"),
                    "authorization": "Authorization" in headers,
                },
                "time": dt.datetime.now(dt.UTC).isoformat(),
                "sent": [],
            }
            state.record(entry, len(raw))
            prompt = _gemini_prompt(body)
            spec = _find_spec(state, project, model, location, prompt)
            fx = state.effects(method, model, location, prompt)
            if fx.latency_ms:
                time.sleep(fx.latency_ms / 1000)
            if fx.status is not None:
                raise VertexError(fx.status, fx.message, fx.retry_after)
            if fx.quota is not None:
                raise quota_error(fx.quota, project, model, location, fx.retry_delay)
            refused = quota.admit(project, model, location)
            if refused is not None:
                raise refused
            reply = _generate_content(state, spec, model, body, prompt, fx, entry["sent"])
            if fx.drop:
                return _dropped(json.dumps(reply).encode())
            return flask.Response(json.dumps(reply), mimetype="application/json")
        except VertexError as exc:
            status = exc.status
            return exc.response()
        finally:
            state.log(
                method=method,
                project=project,
                location=location,
                model=model,
                status=status,
                prompt_sha256=hashlib.sha256(prompt.encode()).hexdigest(),
                ms=round((time.monotonic() - started) * 1000, 1),
            )

    @app.get("/oauth2/v1/certs")
    def certs():
        """The local stack's ID-token certificates, in the format of Google's endpoint
        (devstack/idtokens.py): the API verifies the SDKs' tokens against them."""
        path = os.environ.get("DEVSTACK_ID_TOKEN_CERTS", "")
        try:
            body = Path(path).read_text(encoding="utf-8") if path else "{}"
        except OSError:
            body = "{}"
        return flask.Response(body, mimetype="application/json")

    @app.get("/_standin/health")
    def health():
        return {"ok": True, "note": LOG_NOTE}

    @app.get("/_standin/requests")
    def list_requests():
        args = flask.request.args
        return flask.jsonify(state.recorded(args.get("model"), args.get("method")))

    @app.delete("/_standin/requests")
    def clear_requests():
        state.clear_records()
        return {"ok": True}

    @app.get("/_standin/faults")
    def get_faults():
        with state.lock:
            return {"rules": [r.to_json() for r in state.rules]}

    @app.post("/_standin/faults")
    def set_faults():
        payload = flask.request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("rules"), list):
            return {"error": 'expected {"rules": [...]}'}, 400
        try:
            rules = [Rule.from_json(r) for r in payload["rules"]]
        except (ValueError, TypeError) as exc:
            return {"error": str(exc)}, 400
        with state.lock:
            state.rules = rules
            return {"rules": [r.to_json() for r in rules]}

    @app.route("/_standin/quota", methods=["GET", "POST"])
    def quota_mode():
        if flask.request.method == "POST":
            payload = flask.request.get_json(silent=True) or {}
            try:
                quota.configure(
                    int(payload.get("limit", 0)),
                    float(payload.get("window", 60)),
                    retry_info=bool(payload.get("retry_info", False)),
                    day_limit=int(payload.get("day_limit", 0)),
                    day_seconds=float(payload.get("day_seconds", 86400)),
                )
            except (TypeError, ValueError) as exc:
                return {"error": str(exc)}, 400
        return quota.to_json()

    @app.delete("/_standin/faults")
    def clear_faults():
        with state.lock:
            state.rules = []
            state.counters.clear()
        return {"ok": True}

    _lifecycle_routes(app, state)

    def batch_answer(model: str, location: str, body: dict[str, Any]) -> tuple[int, dict]:
        """One request of a batch job, answered as `:generateContent` answers it (issue 29):
        the same placeholder images, blocks and per-prompt faults, recorded likewise."""
        prompt = _gemini_prompt(body)
        state.record(
            {
                "method": "batch.generateContent",
                "project": "",
                "location": location,
                "model": model,
                "body": body,
                "query": {},
                "headers": {},
                "time": dt.datetime.now(dt.UTC).isoformat(),
            },
            0,
        )
        try:
            spec = _find_spec(state, "-", model, location, prompt)
            fx = state.effects("generateContent", model, location, prompt)
            if fx.status is not None:
                raise VertexError(fx.status, fx.message, fx.retry_after)
            return 200, _generate_content(state, spec, model, body, prompt, fx)
        except VertexError as exc:
            return exc.status, exc.body()

    step = float(os.environ.get("DEVSTACK_VERTEX_BATCH_STEP_SECONDS", "0.5") or 0.5)

    def batch_fault(method: str, model: str, location: str, name: str):
        fx = state.effects(method, model, location, name)
        if fx.status is None:
            return None
        message = fx.message or STATUS_MESSAGES.get(fx.status, "Error. (stand-in)")
        return fx.status, message, STATUS_NAMES.get(fx.status, "UNKNOWN")

    answering = Answering(batch_answer, _catalog, _gemini_prompt, NOT_FOUND, batch_fault)
    batch_routes(app, state, answering, step)
    return app


LAUNCH_STAGES = {"ga": "GA", "preview": "PUBLIC_PREVIEW", "deprecated": "GA"}
STAGE_LIFECYCLE = {"GA": "ga", "PUBLIC_PREVIEW": "preview", "PRIVATE_PREVIEW": "preview"}
# Publisher models that are not image generators, so that a client listing Model Garden
# has something to leave out (the real list holds hundreds: text, embedding, video, ...).
OTHER_PUBLISHER_MODELS = (
    ("gemini-3.5-flash", "GA"),
    ("gemini-embedding-2", "GA"),
    ("veo-3.1-generate-001", "GA"),
    ("gemini-3.1-flash-tts-preview", "PUBLIC_PREVIEW"),
)
LIST_PAGE_SIZE = 4  # small, so the client's pager follows nextPageToken


def _publisher_model(model: str, stage: str) -> dict[str, Any]:
    """A `PublisherModel` as Model Garden's REST API answers it."""
    return {
        "name": f"publishers/google/models/{model}",
        "versionId": "001",
        "openSourceCategory": "PROPRIETARY",
        "launchStage": stage,
        "versionState": "VERSION_STATE_STABLE",
    }


def _published(state: StandIn) -> list[dict[str, Any]]:
    """Every publisher model Model Garden lists now: the catalog's served models, the ones
    told to appear, and a few that generate no images; none shut down or past its date."""
    out = []
    ids = [spec.id for spec in _catalog()] + list(state.appeared)
    for model in dict.fromkeys(ids):
        spec = _served(state, model)
        if spec is not None:
            out.append(_publisher_model(model, LAUNCH_STAGES.get(spec.lifecycle.value, "GA")))
    out += [_publisher_model(m, stage) for m, stage in OTHER_PUBLISHER_MODELS]
    return out


def _record_lookup(state: StandIn, method: str, model: str) -> None:
    state.record(
        {
            "method": method,
            "project": "",
            "location": "",
            "model": model,
            "body": {},
            "query": dict(flask.request.args),
            "headers": {},
            "time": dt.datetime.now(dt.UTC).isoformat(),
        },
        0,
    )


def _lifecycle_routes(app: flask.Flask, state: StandIn) -> None:
    """Model Garden (GetPublisherModel, ListPublisherModels) and the run-time controls: a
    model shut down (issue 17), a model that appears (issue 30)."""

    @app.get("/v1/publishers/google/models/<model>")
    def publisher_model(model: str):
        _record_lookup(state, "getPublisherModel", model)
        spec = _served(state, model)
        if spec is None:
            return VertexError(
                404, f"Publisher model publishers/google/models/{model} not found. (stand-in)"
            ).response()
        return _publisher_model(model, LAUNCH_STAGES.get(spec.lifecycle.value, "GA"))

    @app.get("/v1beta1/publishers/google/models")
    def list_publisher_models():
        """ListPublisherModels: `GET v1beta1/{parent=publishers/*}/models`, paged."""
        _record_lookup(state, "listPublisherModels", "")
        args = flask.request.args
        try:
            size = min(int(args.get("pageSize") or LIST_PAGE_SIZE), LIST_PAGE_SIZE)
            start = int(args.get("pageToken") or 0)
        except ValueError:
            return VertexError(400, "Invalid pageSize or pageToken. (stand-in)").response()
        with state.lock:
            models = _published(state)
        page: dict[str, Any] = {"publisherModels": models[start : start + size]}
        if start + size < len(models):
            page["nextPageToken"] = str(start + size)
        return page

    @app.get("/_standin/models")
    def appeared_models():
        with state.lock:
            return {"models": sorted(state.appeared)}

    @app.post("/_standin/models")
    def appear():
        """`{"model": "<new id>", "like": "<catalog id>", "launch_stage": "GA"}`: Google
        publishes a new model, served like `like` (sizes, options), listed in Model Garden."""
        payload = flask.request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), str):
            return {"error": 'expected {"model": "<id>", "like": "<catalog id>"}'}, 400
        catalog = _catalog()
        like = catalog.get(str(payload.get("like") or catalog.default_model))
        stage = str(payload.get("launch_stage") or "GA")
        if like is None or stage not in STAGE_LIFECYCLE:
            return {"error": "like must be a catalog model, launch_stage GA or *_PREVIEW"}, 400
        spec = like.model_copy(
            update={
                "id": payload["model"],
                "display_name": payload["model"],
                "lifecycle": type(like.lifecycle)(STAGE_LIFECYCLE[stage]),
                "shutdown_date": None,
            }
        )
        with state.lock:
            state.appeared[spec.id] = spec
            return {"models": sorted(state.appeared)}

    @app.delete("/_standin/models")
    def forget_appeared():
        with state.lock:
            state.appeared.clear()
        return {"models": []}

    @app.get("/_standin/shutdown")
    def shut_down_models():
        with state.lock:
            return {"models": sorted(state.shut_down)}

    @app.post("/_standin/shutdown")
    def shut_down():
        payload = flask.request.get_json(silent=True)
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), str):
            return {"error": 'expected {"model": "<id>"}'}, 400
        with state.lock:
            state.shut_down.add(payload["model"])
            return {"models": sorted(state.shut_down)}

    @app.delete("/_standin/shutdown")
    def bring_back():
        with state.lock:
            state.shut_down.clear()
        return {"models": []}


def _normalise_endpoint(endpoint: str | None) -> str | None:
    if not endpoint:
        return None
    return endpoint if "://" in endpoint else f"http://{endpoint}"


def _quiet_handler():
    from werkzeug.serving import WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        """Our own JSON line per model call replaces werkzeug's access log."""

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    return QuietHandler


def serve(port: int = 0, storage_endpoint: str | None = None, host: str = "127.0.0.1"):
    """Start the stand-in in a daemon thread: (server, thread). `server.server_port` is the
    bound port (pass 0 for a free one); stop with `server.shutdown()`."""
    from werkzeug.serving import make_server

    server = make_server(
        host, port, create_app(storage_endpoint), threaded=True, request_handler=_quiet_handler()
    )
    thread = threading.Thread(target=server.serve_forever, name="vertex-standin", daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local Vertex AI stand-in (development only)")
    parser.add_argument("--host", default=os.environ.get("DEVSTACK_VERTEX_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("DEVSTACK_VERTEX_PORT", "8090"))
    )
    parser.add_argument("--storage-endpoint", default=os.environ.get("STORAGE_EMULATOR_HOST"))
    args = parser.parse_args(argv)
    from werkzeug.serving import make_server

    server = make_server(
        args.host,
        args.port,
        create_app(args.storage_endpoint),
        threaded=True,
        request_handler=_quiet_handler(),
    )
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(
        json.dumps(
            {
                "standin": "vertex",
                "note": LOG_NOTE,
                "event": "listening",
                "url": f"http://{args.host}:{server.server_port}",
                "storage_endpoint": _normalise_endpoint(args.storage_endpoint),
            }
        ),
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
