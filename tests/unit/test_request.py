"""Every request rule: shape, per-model options, references, regions, lifecycle."""

import base64
import datetime as dt
import io
import json

import pytest
from PIL import Image

from imagegen.domain.catalog import load_catalog
from imagegen.domain.request import Policy, request_fingerprint, validate_request
from imagegen.errors import InvalidRequest

CATALOG = load_catalog()
POLICY = Policy(reference_buckets=("refs",))
TODAY = dt.date(2026, 11, 25)


def ok(body, policy=POLICY, catalog=CATALOG):
    return validate_request(body, catalog, policy, TODAY)


def errors(body, policy=POLICY, catalog=CATALOG) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as info:
        validate_request(body, catalog, policy, TODAY)
    return {d["field"]: d["message"] for d in info.value.details}


def png_b64(size=(8, 8), fmt="PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def test_defaults_come_from_the_catalog():
    v = ok({"prompt": "a cat"})
    assert v.request.model == "gemini-2.5-flash-image"
    assert v.request.region == "global"
    assert (v.request.aspect_ratio, v.request.image_size) == ("1:1", "1K")
    assert v.request.add_watermark is True
    assert v.warnings == []
    assert v.estimated_cost_usd == pytest.approx(0.039)


def test_imagen_defaults_to_a_region_and_warns_deprecated():
    v = ok({"prompt": "a cat", "model": "imagen-4.0-generate-001", "number_of_images": 4})
    assert v.request.region == "us-central1"
    assert any("deprecated" in w for w in v.warnings)
    assert v.estimated_cost_usd == pytest.approx(0.16)


def test_every_bad_field_is_listed_at_once():
    found = errors({"prompt": "", "number_of_images": 0, "bogus": 1, "output": {"mime_type": "x"}})
    assert set(found) == {"prompt", "number_of_images", "bogus", "output.mime_type"}


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_body_must_be_an_object(body):
    assert "body" in errors(body)


def test_unknown_model_names_the_alternatives():
    assert "gemini-2.5-flash-image" in errors({"prompt": "x", "model": "dall-e"})["model"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "imagen-3.0-generate-001", "number_of_images": 5}, "number_of_images"),
        ({"model": "imagen-4.0-ultra-generate-001", "number_of_images": 2}, "number_of_images"),
        ({"model": "gemini-2.5-flash-image", "image_size": "4K"}, "image_size"),
        ({"model": "imagen-3.0-generate-001", "image_size": "2K"}, "image_size"),
        ({"model": "imagen-4.0-generate-001", "aspect_ratio": "21:9"}, "aspect_ratio"),
        ({"model": "imagen-4.0-generate-001", "negative_prompt": "dogs"}, "negative_prompt"),
        ({"model": "gemini-2.5-flash-image", "enhance_prompt": True}, "enhance_prompt"),
        ({"model": "gemini-2.5-flash-image", "language": "en"}, "language"),
        ({"model": "imagen-4.0-generate-001", "language": "tlh"}, "language"),
        ({"model": "gemini-2.5-flash-image", "add_watermark": False}, "add_watermark"),
        ({"model": "imagen-4.0-generate-001", "seed": 7}, "seed"),
        ({"model": "gemini-3-pro-image-preview", "region": "us-central1"}, "region"),
        ({"model": "imagen-4.0-generate-001", "region": "global"}, "region"),
        ({"safety_filter_level": "block_everything"}, "safety_filter_level"),
        ({"person_generation": "kids_only"}, "person_generation"),
        ({"labels": {"Team": "x"}}, "labels"),
        ({"fallback_models": ["imagen-4.0-generate-001"]}, "fallback_models.0"),
        ({"fallback_models": ["nope"]}, "fallback_models.0"),
        (
            {"output": {"mime_type": "image/jpeg", "compression_quality": 101}},
            "output.compression_quality",
        ),
    ],
)
def test_rules_per_model(body, field):
    found = errors({"prompt": "a cat", **body})
    assert field in found, found


def test_seed_is_refused_with_the_watermark_reason():
    message = errors({"prompt": "x", "model": "imagen-4.0-generate-001", "seed": 1})["seed"]
    assert "add_watermark: false" in message


def test_seed_with_watermark_off_is_fine_on_imagen():
    v = ok({"prompt": "x", "model": "imagen-4.0-generate-001", "seed": 1, "add_watermark": False})
    assert v.request.seed == 1 and v.request.add_watermark is False


def test_imagen_prompt_limit_is_tighter_than_gemini():
    long = "x" * 3000
    assert "prompt" in errors({"prompt": long, "model": "imagen-4.0-generate-001"})
    ok({"prompt": long})


def test_guide_vocabulary_is_accepted():
    v = ok(
        {
            "prompt": "x",
            "model": "imagen-3.0-generate-001",
            "safety_filter_level": "block_some",
            "person_generation": "allow_adult",
        }
    )
    assert v.request.safety_filter_level.value == "block_medium_and_above"
    v = ok(
        {
            "prompt": "x",
            "safety_filter_level": "BLOCK_MEDIUM_AND_ABOVE",
            "person_generation": "ALLOW_NONE",
        }
    )
    assert v.request.person_generation.value == "dont_allow"


def test_reference_images_are_capped_per_model():
    ref = {"gcs_uri": "gs://refs/a.png"}
    ok({"prompt": "x", "reference_images": [ref] * 3})
    assert "reference_images" in errors({"prompt": "x", "reference_images": [ref] * 4})
    ok({"prompt": "x", "model": "gemini-3-pro-image-preview", "reference_images": [ref] * 14})
    found = errors({"prompt": "x", "model": "imagen-4.0-generate-001", "reference_images": [ref]})
    assert "takes no reference images" in found["reference_images"]


def test_reference_bucket_must_be_allowed():
    found = errors({"prompt": "x", "reference_images": [{"gcs_uri": "gs://elsewhere/a.png"}]})
    assert "reference_images.0.gcs_uri" in found


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_inline_images_must_be_real(fmt):
    ok({"prompt": "x", "reference_images": [{"data": png_b64(fmt=fmt)}]})


@pytest.mark.parametrize(
    "data",
    [
        "not base64!!",
        base64.b64encode(b"GIF89a....").decode(),
        base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10).decode(),
    ],
)
def test_inline_garbage_is_refused(data):
    assert "reference_images.0.data" in errors(
        {"prompt": "x", "reference_images": [{"data": data}]}
    )


def test_inline_size_limit():
    policy = Policy(reference_buckets=("refs",), max_inline_image_bytes=100)
    found = errors({"prompt": "x", "reference_images": [{"data": png_b64((64, 64))}]}, policy)
    assert "over 100 bytes" in found["reference_images.0.data"]


def test_inline_mime_type_must_match_bytes():
    found = errors(
        {"prompt": "x", "reference_images": [{"data": png_b64(), "mime_type": "image/jpeg"}]}
    )
    assert "reference_images.0.mime_type" in found


def test_reference_needs_exactly_one_source():
    assert "reference_images.0" in errors({"prompt": "x", "reference_images": [{}]})


def test_deployment_locations_restrict_regions():
    policy = Policy(allowed_locations=("europe-west4",), default_location="europe-west4")
    assert ok({"prompt": "x"}, policy).request.region == "europe-west4"
    assert (
        ok({"prompt": "x", "model": "imagen-4.0-generate-001"}, policy).request.region
        == "europe-west4"
    )
    assert "region" in errors({"prompt": "x", "region": "us-central1"}, policy)
    assert "model" in errors({"prompt": "x", "model": "gemini-3-pro-image-preview"}, policy)


def _retired_catalog():
    spec = CATALOG["imagen-3.0-generate-001"].model_dump(mode="json")
    spec["retirement_date"] = "2026-01-01"
    return load_catalog(override_json=json.dumps([spec]))


def test_retired_model_is_refused_with_its_replacement():
    message = errors(
        {"prompt": "x", "model": "imagen-3.0-generate-001"}, catalog=_retired_catalog()
    )["model"]
    assert "retired" in message and "gemini-2.5-flash-image" in message


def test_retired_model_is_routed_when_the_deployment_says_so():
    policy = Policy(retired_models="route")
    v = ok({"prompt": "x", "model": "imagen-3.0-generate-001"}, policy, _retired_catalog())
    assert v.request.model == "gemini-2.5-flash-image"
    assert any("routed" in w for w in v.warnings)


def test_fingerprint_ignores_key_order():
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


def test_shape_and_model_problems_are_reported_together():
    found = errors(
        {
            "prompt": "x",
            "model": "imagen-4.0-generate-001",
            "number_of_images": 99,
            "aspect_ratio": "2:1",
            "add_watermark": "sometimes",
        }
    )
    assert set(found) == {"number_of_images", "aspect_ratio", "add_watermark"}


def test_bad_prompt_still_lets_other_fields_be_checked():
    found = errors({"prompt": "", "model": "gemini-2.5-flash-image", "image_size": "4K"})
    assert set(found) == {"prompt", "image_size"}


def test_thoughts_only_from_thinking_models():
    assert "include_thoughts" in errors({"prompt": "x", "include_thoughts": True})
    ok({"prompt": "x", "model": "gemini-3-pro-image-preview", "include_thoughts": True})
