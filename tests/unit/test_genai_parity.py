"""What we send to Vertex AI is what Google's own SDK sends for the same call.

Each call is made twice against a local capture server: with google-genai (newest release,
in its own venv, `vertexai=True`, anonymous credentials, `http_options.base_url` at the
capture server) and with our adapter (the real `aiplatform_v1` REST client). The two JSON
bodies are read through the same protobuf message (so camelCase/snake_case names, enum
names/numbers and standard/URL-safe base64 compare equal) and compared field by field:
any field one side sends and the other does not, or sends differently, fails the test.

The SDK call is the job's call as validation resolved it: only what the caller set (no
default image size: issue 28). Known, deliberate differences are listed in
KNOWN_DIFFERENCES and checked too, so they cannot drift.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from google.cloud.aiplatform_v1.types import GenerateContentRequest
from google.protobuf import json_format
from PIL import Image

from imagegen.adapters.vertex import VertexClient
from imagegen.adapters.vertex_wire import BEYOND_PROTO, HARM_CATEGORIES, split_beyond_proto
from imagegen.domain.catalog import load_catalog
from imagegen.domain.request import Policy, validate_request

ROOT = Path(__file__).resolve().parents[2]
GENAI_PYTHON = os.environ.get("IMAGEGEN_GENAI_PYTHON") or str(ROOT / ".venv-genai/bin/python")
PROJECT = "parity-project"
CATALOG = load_catalog()
CURRENT = [spec.id for spec in CATALOG]

# What differs on purpose, outside the body: the API version in the path (the SDK targets
# v1beta1 for Vertex; our client is the GA aiplatform_v1 surface) and the enum encoding our
# REST client asks for in the query (enums travel as numbers, the SDK sends names; the
# bodies compare equal once read through the proto).
KNOWN_DIFFERENCES = {
    "path_version": ("v1beta1", "v1"),
    "our_query": "$alt=json;enum-encoding=int",
}


def _png(size=(64, 36)) -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, (250, 251, 252)).save(buf, "PNG")  # bytes that differ in alphabets
    return base64.b64encode(buf.getvalue()).decode()


PNG = _png()


def _cases(model: str) -> list[tuple[str, dict]]:
    spec = CATALOG[model]
    largest = list(spec.sizes)[-1]
    ratio = next(r for r in ("16:9", "3:4") if r in spec.sizes[largest])
    full = {
        "prompt": "a lighthouse at dusk",
        "model": model,
        "aspect_ratio": ratio,
        "image_size": largest,
        "person_generation": "allow_adult",
        "prominent_people": "block",
        "safety_filter_level": "block_only_high",
        "seed": 42,
        "output": {"mime_type": "image/jpeg", "compression_quality": 70},
        "labels": {"team": "art"},
        "response_text": True,
        "reference_images": [{"data": PNG}, {"gcs_uri": "gs://refs/a.png"}],
    }
    if spec.thinking_levels:
        full["thinking_level"] = spec.thinking_levels[0]
    if spec.thinking:
        full["include_thoughts"] = True
    if spec.google_search:
        full["google_search"] = True
    cases = [
        ("defaults", {"prompt": "a lighthouse", "model": model}),
        ("every option", full),
        (
            "edit keeps its shape",
            {"prompt": "at night", "model": model, "reference_images": [{"data": PNG}]},
        ),
        (
            "person none, png",
            {
                "prompt": "x",
                "model": model,
                "person_generation": "dont_allow",
                "aspect_ratio": "1:1",
            },
        ),
    ]
    cases.append(
        (
            "image config in google-genai's spelling",
            {
                "prompt": "a portrait",
                "model": model,
                "prominent_people": "ALLOW_PROMINENT_PEOPLE",
                "output_mime_type": "image/jpeg",
                "output_compression_quality": 55,
            },
        )
    )
    if "512" in spec.sizes:
        cases.append(
            (
                "512 at 1:8",
                {"prompt": "a tower", "model": model, "image_size": "512", "aspect_ratio": "1:8"},
            )
        )
    cases.append(
        (
            "system instruction, media resolution, per-category safety",
            {
                "prompt": "a poster",
                "model": model,
                "system_instruction": "Answer with flat illustrations only.",
                "media_resolution": "high",
                "reference_images": [{"data": PNG}],
                "safety_settings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"},
                    {
                        "category": "HARM_CATEGORY_DANGEROUS_CONTENT",
                        "threshold": "OFF",
                        "method": "SEVERITY",
                    },
                ],
            },
        )
    )
    for level in spec.thinking_levels:
        cases.append(
            (f"thinking {level}", {"prompt": "x", "model": model, "thinking_level": level})
        )
    return cases


def _sdk_call(req, spec) -> dict:
    """The same call in google-genai's vocabulary (written from its documentation, not from
    our wire code)."""
    parts: list[dict] = []
    for ref in req.reference_images:
        if ref.data:
            parts.append({"inline": {"data": ref.data, "mime": "image/png"}})
        else:
            parts.append({"file": {"uri": ref.gcs_uri, "mime": "image/png"}})
    parts.append({"text": req.prompt})
    image_config: dict = {}
    if req.aspect_ratio:
        image_config["aspect_ratio"] = req.aspect_ratio
    if req.image_size:
        image_config["image_size"] = req.image_size
    if req.person_generation is not None:
        image_config["person_generation"] = {
            "dont_allow": "ALLOW_NONE",
            "allow_adult": "ALLOW_ADULT",
            "allow_all": "ALLOW_ALL",
        }[req.person_generation.value]
    if req.prominent_people is not None:
        image_config["prominent_people"] = {
            "allow": "ALLOW_PROMINENT_PEOPLE",
            "block": "BLOCK_PROMINENT_PEOPLE",
        }[req.prominent_people.value]
    if req.output.mime_type != "image/png":
        image_config["output_mime_type"] = req.output.mime_type
    if req.output.compression_quality is not None:
        image_config["output_compression_quality"] = req.output.compression_quality
    config: dict = {"response_modalities": ["TEXT", "IMAGE"] if req.response_text else ["IMAGE"]}
    if image_config:
        config["image_config"] = image_config
    if req.seed is not None:
        config["seed"] = req.seed
    thinking: dict = {}
    if req.include_thoughts:
        thinking["include_thoughts"] = True
    if req.thinking_level:
        thinking["thinking_level"] = req.thinking_level.upper()
    if thinking:
        config["thinking_config"] = thinking
    if req.google_search:
        config["tools"] = [{"google_search": {}}]
    if req.safety_filter_level is not None:
        threshold = req.safety_filter_level.value.upper()
        config["safety_settings"] = [
            {"category": c, "threshold": threshold} for c in HARM_CATEGORIES
        ]
    if req.labels:
        config["labels"] = req.labels
    if req.system_instruction:
        config["system_instruction"] = req.system_instruction
    if req.media_resolution:
        config["media_resolution"] = f"MEDIA_RESOLUTION_{req.media_resolution.upper()}"
    if req.safety_settings:
        config["safety_settings"] = [s.model_dump(exclude_none=True) for s in req.safety_settings]
    return {"model": spec.id, "location": req.region, "parts": parts, "config": config}


def _canonical(body: dict) -> dict:
    """The body as the protobuf message reads it: one spelling for names, enums, bytes.
    A field the message does not know fails here (ParseError names it), except the ones
    google-genai sends that the proto does not know yet (vertex_wire.BEYOND_PROTO): those
    are compared as sent, under `beyond_proto`."""
    known, extras = split_beyond_proto(body)
    message = GenerateContentRequest.pb()()
    json_format.Parse(json.dumps(known), message)
    out = json_format.MessageToDict(message, preserving_proto_field_name=True)
    if extras:
        out["beyond_proto"] = {".".join(path): value for path, value in extras}
    return out


def test_fields_beyond_the_proto_are_still_compared():
    body = {"generationConfig": {"imageConfig": {"prominentPeople": "BLOCK_PROMINENT_PEOPLE"}}}
    assert BEYOND_PROTO == (("generationConfig", "imageConfig", "prominentPeople"),)
    canonical = _canonical(body)
    assert canonical["beyond_proto"] == {
        "generationConfig.imageConfig.prominentPeople": "BLOCK_PROMINENT_PEOPLE"
    }
    other = _canonical(
        {"generationConfig": {"imageConfig": {"prominentPeople": "ALLOW_PROMINENT_PEOPLE"}}}
    )
    assert _diff(canonical, other) and _diff(canonical, _canonical({}))


def _diff(ours, theirs, path="") -> list[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}" if path else key
            if key not in theirs:
                out.append(f"{where}: only we send {ours[key]!r}")
            elif key not in ours:
                out.append(f"{where}: only google-genai sends {theirs[key]!r}")
            else:
                out.extend(_diff(ours[key], theirs[key], where))
        return out
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [
            d
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True))
            for d in _diff(a, b, f"{path}[{i}]")
        ]
    return [] if ours == theirs else [f"{path}: we send {ours!r}, google-genai {theirs!r}"]


def test_the_diff_catches_a_missing_or_different_field():
    a = _canonical({"generationConfig": {"responseModalities": ["IMAGE"], "seed": 1}})
    b = _canonical({"generation_config": {"response_modalities": [2]}})
    assert _diff(a, b) == ["generation_config.seed: only we send 1"]
    c = _canonical({"generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}})
    assert _diff(c, b) and _diff(b, c)


@pytest.mark.parametrize("model", CURRENT)
def test_our_requests_match_google_genai(model, capture):
    if not Path(GENAI_PYTHON).exists():
        pytest.fail(f"google-genai's venv is missing ({GENAI_PYTHON}): run `make tools`")
    base = f"http://127.0.0.1:{capture.server_port}"
    policy = Policy(reference_buckets=("refs",))
    jobs = []
    for name, body in _cases(model):
        v = validate_request(body, CATALOG, policy)
        jobs.append((name, v.request, v.spec))

    capture.records.clear()
    spec_in = {"base_url": base, "project": PROJECT, "calls": [_sdk_call(r, s) for _, r, s in jobs]}
    run = subprocess.run(
        [GENAI_PYTHON, str(ROOT / "tests/unit/genai_capture.py")],
        input=json.dumps(spec_in),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert run.returncode == 0 and len(results) == len(jobs), run.stderr[-2000:]
    assert all(r.get("ok") for r in results), results
    theirs = list(capture.records)

    capture.records.clear()
    vertex = VertexClient(PROJECT, endpoint_override=base)
    for _, req, spec in jobs:
        vertex.generate(spec, req, req.region, labels=req.labels or None)
    ours = list(capture.records)
    assert len(ours) == len(theirs) == len(jobs)

    problems = []
    for (name, req, spec), mine, sdk in zip(jobs, ours, theirs, strict=True):
        model_path = f"projects/{PROJECT}/locations/{req.region}/publishers/google/models"
        tail = f"{model_path}/{spec.id}:generateContent"
        their_version, our_version = KNOWN_DIFFERENCES["path_version"]
        assert sdk["path"].split("?")[0] == f"/{their_version}/{tail}", sdk["path"]
        assert mine["path"].split("?")[0] == f"/{our_version}/{tail}", mine["path"]
        assert KNOWN_DIFFERENCES["our_query"] in mine["path"].replace("%24", "$").replace(
            "%3D", "="
        ).replace("%3B", ";")
        problems += [
            f"{model} / {name}: {d}"
            for d in _diff(_canonical(mine["body"]), _canonical(sdk["body"]))
        ]
    assert problems == []
