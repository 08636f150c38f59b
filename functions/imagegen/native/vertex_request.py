"""Vertex AI's own `GenerateContentRequest`, taken as the caller sent it (issue 28).

Pure: no I/O. A native request is kept as its JSON (every field, whatever google-genai or
the REST API put there) and reaches Vertex unchanged but for the model and location in
the path (as routed), the job's labels (added) and its inline images, which travel
through Cloud Storage like every inline reference (a job document holds no image bytes).

What the catalog rules read is taken out of it as an ordinary job request
(`NativeRequest.job_body`): the model, the location, the images, the prompt, and the
generationConfig fields the catalog knows (image size, aspect ratio, thinking level,
Google Search grounding, output type, person generation, seed). A problem found there is
answered with the field's path in the caller's request (`NativeRequest.field`), in
Vertex's error shape (native/google_errors.py). Fields the catalog does not know pass
through, and Vertex decides about them as it would for a direct call.

JSON names are read in both spellings Vertex's JSON parser takes (`imageConfig` and
`image_config`), so a snake_case request cannot slip past a check.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagegen.errors import InvalidRequest
from imagegen.native.renaming import renamed

VERSIONS = ("v1", "v1beta1")
IMAGE_KINDS = ("inlineData", "fileData")
# What a stored inline image keeps in place of its bytes (see `stored` / `restore`).
STORED_AT = "imagegenStoredAt"
STORED_ENCODING = "imagegenEncoding"
NO_TEXT = "(no text)"
PERSON = {"ALLOW_ALL": "allow_all", "ALLOW_ADULT": "allow_adult", "ALLOW_NONE": "dont_allow"}
THINKING_NUMBERS = {1: "low", 2: "medium", 3: "high", 4: "minimal"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def get(obj: Any, name: str) -> Any:
    """A field of a JSON object by its camelCase name or its snake_case one."""
    if not isinstance(obj, dict):
        return None
    value = obj.get(name)
    return obj.get(_snake(name)) if value is None else value


def _key(obj: dict[str, Any], name: str) -> str:
    """The spelling the caller used for a field (camelCase when absent)."""
    return name if name in obj or _snake(name) not in obj else _snake(name)


@dataclass
class NativeRequest:
    """A `:generateContent` request as sent, and where its images are."""

    body: dict[str, Any]
    model: str
    location: str
    api_version: str
    # (content index, part index, kind) of every image part, in request order: the job's
    # reference_images in the same order
    images: list[tuple[int, int, str]] = field(default_factory=list)
    # job field -> the caller's path (filled as the job body is made)
    paths: dict[str, str] = field(default_factory=dict)

    # -- the job request the catalog rules check ----------------------------------------
    def job_body(self, webhook: str | None = None) -> dict[str, Any]:
        body = self.body
        config = get(body, "generationConfig") or {}
        thinking = get(config, "thinkingConfig") or {}
        job: dict[str, Any] = {
            "prompt": self._prompt(),
            "model": self.model,
            "region": self.location,
        }
        gc = _key(body, "generationConfig")
        tc = f"{gc}.{_key(config, 'thinkingConfig')}"
        self.paths.update(
            {
                "model": "model",
                "region": "location",
                "body": "contents",
                "prompt": "contents",
                "labels": "labels",
                "reference_images": "contents",
                "number_of_images": f"{gc}.candidateCount",
            }
        )
        take = self._taker(job)
        self._take_image_config(take, config, f"{gc}.{_key(config, 'imageConfig')}")
        take("seed", get(config, "seed"), f"{gc}.seed")
        level = get(thinking, "thinkingLevel")
        if isinstance(level, int) and not isinstance(level, bool):
            level = THINKING_NUMBERS.get(level, str(level))
        take("thinking_level", level, f"{tc}.thinkingLevel")
        take("include_thoughts", get(thinking, "includeThoughts"), f"{tc}.includeThoughts")
        modalities = [str(m).upper() for m in get(config, "responseModalities") or []]
        job["response_text"] = not modalities or "TEXT" in modalities
        tools = get(body, "tools") or []
        for i, tool in enumerate(tools if isinstance(tools, list) else []):
            if get(tool, "googleSearch") is not None:
                take("google_search", True, f"{_key(body, 'tools')}[{i}].googleSearch")
        take("labels", get(body, "labels"), "labels")
        if webhook:
            take("webhook", {"url": webhook}, "X-Imagegen-Webhook")
        job["reference_images"] = [self._reference(n, at) for n, at in enumerate(self.images)]
        return job

    def _taker(self, job: dict[str, Any]) -> Callable[[str, Any, str], None]:
        """`take(job_field, value, path)`: set a job field the caller gave, noting its path."""

        def take(job_field: str, value: Any, path: str) -> None:
            if value is not None:
                job[job_field] = value
                self.paths[job_field] = path

        return take

    def _take_image_config(
        self, take: Callable[[str, Any, str], None], config: dict[str, Any], ic: str
    ) -> None:
        """The job fields of `generationConfig.imageConfig` (`ic`: its path)."""
        image_config = get(config, "imageConfig") or {}
        take("aspect_ratio", get(image_config, "aspectRatio"), f"{ic}.aspectRatio")
        take("image_size", get(image_config, "imageSize"), f"{ic}.imageSize")
        person = get(image_config, "personGeneration")
        if person is not None:
            person = PERSON.get(str(person).upper(), person)
        take("person_generation", person, f"{ic}.personGeneration")
        options = get(image_config, "imageOutputOptions") or {}
        mime = get(options, "mimeType") or get(image_config, "outputMimeType")
        quality = get(options, "compressionQuality")
        if quality is None:
            quality = get(image_config, "outputCompressionQuality")
        output = {k: v for k, v in (("mime_type", mime), ("compression_quality", quality)) if v}
        take("output", output or None, f"{ic}.imageOutputOptions")
        self.paths["output.mime_type"] = f"{ic}.imageOutputOptions.mimeType"

    def _prompt(self) -> str:
        """The text of the last user turn (what the job shows as its prompt)."""
        contents = get(self.body, "contents") or []
        for turn in reversed(contents):
            if str(get(turn, "role") or "user") == "user":
                texts = [get(p, "text") for p in get(turn, "parts") or []]
                return "\n".join(t for t in texts if isinstance(t, str) and t) or NO_TEXT
        return NO_TEXT

    def _reference(self, n: int, at: tuple[int, int, str]) -> dict[str, Any]:
        content, part, kind = at
        value = self.part(content, part)[kind]
        where = f"contents[{content}].parts[{part}].{kind}"
        self.paths[f"reference_images.{n}"] = where
        if kind == "fileData":
            self.paths[f"reference_images.{n}.gcs_uri"] = f"{where}.fileUri"
            self.paths[f"reference_images.{n}.mime_type"] = f"{where}.mimeType"
            ref = {"gcs_uri": get(value, "fileUri"), "mime_type": get(value, "mimeType")}
        else:
            self.paths[f"reference_images.{n}.data"] = f"{where}.data"
            self.paths[f"reference_images.{n}.mime_type"] = f"{where}.mimeType"
            data = get(value, "data")
            ref = {"data": _standard_b64(data), "mime_type": get(value, "mimeType")}
        return {k: v for k, v in ref.items() if v is not None}

    def part(self, content: int, part: int) -> dict[str, Any]:
        return get(get(self.body, "contents")[content], "parts")[part]

    # -- errors in the caller's vocabulary ----------------------------------------------
    def field(self, job_field: str) -> str:
        """The caller's path of a job field named in a validation problem."""
        parts = job_field.split(".")
        for n in range(len(parts), 0, -1):
            known = self.paths.get(".".join(parts[:n]))
            if known is not None:
                return known
        return job_field

    def translated(self, exc: InvalidRequest) -> InvalidRequest:
        """The same problems, each named by its path in the caller's request."""
        return renamed(exc, self.field)

    # -- what the job stores, and what the worker sends --------------------------------
    def stored(self, references: list[dict[str, Any]]) -> str:
        """The request as the job keeps it (JSON text: Firestore takes no nested arrays),
        each inline image replaced by where submit stored it (`references`: the job's
        reference images after storing, in the same order as `images`)."""
        body = copy.deepcopy(self.body)
        for (content, part, kind), ref in zip(self.images, references, strict=True):
            if kind != "inlineData":
                continue
            target = get(get(body, "contents")[content], "parts")[part]
            key = _key(target, "inlineData")
            blob = dict(target[key])
            data = str(get(blob, "data") or "")
            blob.pop("data", None)
            blob[STORED_AT] = ref["gcs_uri"]
            blob[STORED_ENCODING] = _encoding(data)
            target[key] = blob
        return json.dumps({"version": self.api_version, "body": body}, separators=(",", ":"))


def _encoding(data: str) -> str:
    """How the caller wrote the base64 (URL-safe or standard, padded or not), so the
    bytes go out spelled as they came in."""
    alphabet = "urlsafe" if ("-" in data or "_" in data) else "standard"
    return f"{alphabet}{'' if data.endswith('=') or len(data) % 4 == 0 else '-nopad'}"


def _standard_b64(data: Any) -> Any:
    """Base64 in either alphabet, as the standard one (what validation decodes)."""
    if not isinstance(data, str):
        return data
    text = data.replace("-", "+").replace("_", "/")
    return text + "=" * (-len(text) % 4)


def encode(raw: bytes, encoding: str) -> str:
    text = (
        base64.urlsafe_b64encode(raw) if encoding.startswith("urlsafe") else base64.b64encode(raw)
    ).decode()
    return text.rstrip("=") if encoding.endswith("-nopad") else text


def restore(stored: str, read: Callable[[str], bytes]) -> tuple[dict[str, Any], str]:
    """(body, API version) to send: each stored image's bytes read back (`read(uri)`) and
    spelled as the caller spelled them."""
    kept = json.loads(stored)
    body = kept["body"]
    for turn in get(body, "contents") or []:
        for part in get(turn, "parts") or []:
            key = _key(part, "inlineData")
            blob = part.get(key)
            if isinstance(blob, dict) and STORED_AT in blob:
                uri = blob.pop(STORED_AT)
                encoding = blob.pop(STORED_ENCODING, "standard")
                blob["data"] = encode(read(uri), encoding)
    return body, kept["version"]


# -- reading a request ---------------------------------------------------------------------


def parse(body: Any, *, model: str, location: str, version: str) -> NativeRequest:
    """The request's shape checked (Vertex answers these with INVALID_ARGUMENT too): an
    object with `contents`, a list of turns with `parts`; images only in contents' parts,
    as `inlineData` (base64) or `fileData`. InvalidRequest names each problem's path."""
    problems: list[dict[str, str]] = []

    def bad(path: str, message: str) -> None:
        problems.append({"field": path, "message": message})

    if not isinstance(body, dict):
        raise InvalidRequest(
            "the request body must be a JSON object (a GenerateContentRequest)",
            details=[{"field": "body", "message": "expected a JSON object"}],
        )
    if version not in VERSIONS:
        bad("version", f"use {' or '.join(VERSIONS)}")
    images = _content_images(get(body, "contents"), bad)
    _images_elsewhere(body, bad)
    _check_fields(body, model, bad)
    if problems:
        raise InvalidRequest(
            "; ".join(f"{p['field']}: {p['message']}" for p in problems), details=problems
        )
    return NativeRequest(body, model, location, version, images)


def _content_images(contents: Any, bad) -> list[tuple[int, int, str]]:
    """(content index, part index, kind) of every image part; each turn's shape checked."""
    images: list[tuple[int, int, str]] = []
    if not isinstance(contents, list) or not contents:
        bad("contents", "required: a list of turns, each with parts")
        return images
    for i, turn in enumerate(contents):
        parts = get(turn, "parts")
        if not isinstance(turn, dict) or not isinstance(parts, list) or not parts:
            bad(f"contents[{i}].parts", "required: a list of parts")
            continue
        role = get(turn, "role")
        if role is not None and role not in ("user", "model"):
            bad(f"contents[{i}].role", "user or model")
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                bad(f"contents[{i}].parts[{j}]", "expected an object")
                continue
            kinds = [k for k in IMAGE_KINDS if get(part, k) is not None]
            for kind in kinds:
                if not isinstance(get(part, kind), dict):
                    bad(f"contents[{i}].parts[{j}].{kind}", "expected an object")
                else:
                    images.append((i, j, kind))
            for kind in kinds:
                _check_blob(get(part, kind), kind, f"contents[{i}].parts[{j}].{kind}", bad)
    return images


def _check_fields(body: dict[str, Any], model: str, bad) -> None:
    """The shapes of the other fields the job reads: generationConfig, tools, labels."""
    config = get(body, "generationConfig")
    if config is not None and not isinstance(config, dict):
        bad("generationConfig", "expected an object")
    count = get(config, "candidateCount")
    if count is not None and count != 1:
        # Vertex's own answer for an image model (one candidate a call)
        bad("generationConfig.candidateCount", f"Multiple candidates is not enabled for {model}")
    for name in ("imageConfig", "thinkingConfig"):
        if get(config, name) is not None and not isinstance(get(config, name), dict):
            bad(f"generationConfig.{name}", "expected an object")
    for name in ("tools", "safetySettings"):
        if get(body, name) is not None and not isinstance(get(body, name), list):
            bad(name, "expected a list")
    labels = get(body, "labels")
    if labels is not None and not (
        isinstance(labels, dict) and all(isinstance(v, str) for v in labels.values())
    ):
        bad("labels", "expected an object of strings")


def _check_blob(blob: Any, kind: str, where: str, bad) -> None:
    if not isinstance(blob, dict):
        return
    if kind == "inlineData":
        data = get(blob, "data")
        if not isinstance(data, str) or not data:
            bad(f"{where}.data", "required: the image's bytes in base64")
            return
        try:
            base64.b64decode(_standard_b64(data), validate=True)
        except (binascii.Error, ValueError):
            bad(f"{where}.data", "not valid base64")
    elif not isinstance(get(blob, "fileUri"), str):
        bad(f"{where}.fileUri", "required: a gs:// URI")


def _images_elsewhere(body: dict[str, Any], bad) -> None:
    """Images are taken only in contents' parts, where they are checked (the bucket of a
    gs:// URI, the bytes of an inline image) and stored; one anywhere else (a system
    instruction, a function response) is refused rather than sent unchecked."""

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                if key in ("inlineData", "inline_data", "fileData", "file_data"):
                    if not re.fullmatch(r"contents\[\d+\]\.parts\[\d+\]", path):
                        bad(where, "images are taken in contents[].parts[] only")
                    continue
                walk(item, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(body, "")
