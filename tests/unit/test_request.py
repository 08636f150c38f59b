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


def errors_on(body, policy=POLICY, today=None, catalog=CATALOG) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as info:
        validate_request(body, catalog, policy, today or TODAY)
    return {d["field"]: d["message"] for d in info.value.details}


def png_b64(size=(8, 8), fmt="PNG") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, fmt)
    return base64.b64encode(buf.getvalue()).decode()


def test_defaults_come_from_the_catalog():
    v = ok({"prompt": "a cat"})
    assert v.request.model == "gemini-3.1-flash-image"
    assert v.request.region == "global"
    # no ratio or size is chosen for the caller: none is sent (google-genai sends none), an
    # edit keeps its input's shape; the model's default size prices and checks the job
    assert (v.request.aspect_ratio, v.request.image_size, v.size) == (None, None, "1K")
    assert v.request.add_watermark is True
    assert v.warnings == []
    assert v.estimated_cost_usd == pytest.approx(0.0672)


def test_estimate_counts_input_images():
    v = ok({"prompt": "x", "number_of_images": 2, "reference_images": [{"data": png_b64()}]})
    assert v.estimated_cost_usd == pytest.approx(2 * (0.0672 + 0.00056))


def test_every_bad_field_is_listed_at_once():
    found = errors({"prompt": "", "number_of_images": 0, "bogus": 1, "output": {"mime_type": "x"}})
    assert set(found) == {"prompt", "number_of_images", "bogus", "output.mime_type"}


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_body_must_be_an_object(body):
    assert "body" in errors(body)


def test_unknown_model_names_the_alternatives():
    assert "gemini-3.1-flash-image" in errors({"prompt": "x", "model": "dall-e"})["model"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number_of_images": 5}, "number_of_images"),
        ({"model": "gemini-3.1-flash-lite-image", "image_size": "4K"}, "image_size"),
        ({"model": "gemini-3-pro-image", "image_size": "512"}, "image_size"),
        ({"model": "gemini-3-pro-image", "aspect_ratio": "1:8"}, "aspect_ratio"),
        ({"image_size": "512", "aspect_ratio": "21:9"}, "aspect_ratio"),
        ({"aspect_ratio": "9:21"}, "aspect_ratio"),
        ({"negative_prompt": "dogs"}, "negative_prompt"),
        ({"enhance_prompt": True}, "enhance_prompt"),
        ({"language": "en"}, "language"),
        ({"add_watermark": False}, "add_watermark"),
        ({"model": "imagen-4.0-generate-001", "add_watermark": False}, "add_watermark"),
        ({"thinking_level": "low"}, "thinking_level"),
        ({"model": "gemini-3-pro-image", "thinking_level": "high"}, "thinking_level"),
        ({"model": "gemini-3.1-flash-lite-image", "google_search": True}, "google_search"),
        ({"model": "gemini-3.1-flash-lite-image", "include_thoughts": True}, "include_thoughts"),
        ({"model": "gemini-3-pro-image", "region": "europe-west4"}, "region"),
        ({"region": "us-central1"}, "region"),
        ({"output": {"mime_type": "image/webp"}}, "output.mime_type"),
        ({"safety_filter_level": "block_everything"}, "safety_filter_level"),
        ({"person_generation": "kids_only"}, "person_generation"),
        ({"response_modalities": ["TEXT"]}, "body"),
        ({"model_requested": "imagen-3.0-generate-001"}, "model_requested"),
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


def test_watermark_off_is_refused_with_the_reason():
    message = errors({"prompt": "x", "model": "imagen-4.0-generate-001", "add_watermark": False})
    assert (
        "SynthID" in message["add_watermark"] and "cannot turn it off" in message["add_watermark"]
    )


def test_new_options_are_accepted_where_the_model_has_them():
    v = ok(
        {
            "prompt": "x",
            "image_size": "512",
            "aspect_ratio": "1:8",
            "thinking_level": "MINIMAL",
            "google_search": True,
            "response_text": True,
            "include_thoughts": True,
        }
    )
    assert (v.request.image_size, v.request.thinking_level) == ("512", "minimal")
    assert v.estimated_cost_usd == pytest.approx(0.04482)
    v = ok({"prompt": "x", "model": "gemini-3-pro-image", "image_size": "4K", "seed": 3})
    assert any("Preview" in w for w in v.warnings)


@pytest.mark.parametrize(
    ("old", "served", "level"),
    [
        ("imagen-4.0-fast-generate-001", "gemini-3.1-flash-image", "minimal"),
        ("imagen-4.0-generate-001", "gemini-3.1-flash-image", "high"),
        ("imagen-3.0-generate-002", "gemini-3.1-flash-image", "high"),
        ("imagen-4.0-ultra-generate-001", "gemini-3-pro-image", None),
        ("imagegeneration@006", "gemini-3.1-flash-image", "high"),
        ("imagegeneration@002", "gemini-3.1-flash-image", "high"),
        ("imagen-3.0-capability-002", "gemini-3.1-flash-image", None),
        ("gemini-3-pro-image-preview", "gemini-3-pro-image", None),
        ("gemini-3.1-flash-image-preview", "gemini-3.1-flash-image", None),
    ],
)
def test_retired_names_are_routed_to_googles_replacement(old, served, level):
    v = ok({"prompt": "x", "model": old})
    assert v.request.model == served and v.request.model_requested == old
    assert v.request.thinking_level == level
    assert any(old in w and served in w and "shut down" in w for w in v.warnings)


@pytest.mark.parametrize(
    "old", ["imagen-4.0-generate-001", "imagegeneration@006", "imagen-3.0-capability-002"]
)
def test_retired_names_are_refused_when_the_deployment_says_so(old):
    message = errors({"prompt": "x", "model": old}, Policy(retired_models="refuse"))["model"]
    assert f"model {old} was shut down on Vertex AI" in message, message
    assert "gemini-3.1-flash-image" in message and "unknown model" not in message


@pytest.mark.parametrize("policy", ["route", "refuse"])
def test_the_captioning_model_is_a_400_that_says_so(policy):
    message = errors({"prompt": "x", "model": "imagetext@001"}, Policy(retired_models=policy))
    text = message["model"]
    assert "captioning" in text and "never generated images" in text, text
    assert "gemini-3.1-flash-image" in text  # what to name instead
    with pytest.raises(InvalidRequest):
        validate_request({"prompt": "x", "model": "imagetext@001"}, CATALOG, POLICY)


def test_gemini_2_5_flash_image_is_served_as_asked_with_vertexs_deprecation():
    v = ok({"prompt": "x", "model": "gemini-2.5-flash-image", "aspect_ratio": "16:9"})
    assert v.request.model == "gemini-2.5-flash-image" and v.request.model_requested is None
    [warning] = v.warnings
    assert "deprecated on Vertex AI" in warning and "2027-03-15" in warning, warning
    assert "gemini-3.1-flash-lite-image" in warning
    assert v.estimated_cost_usd == pytest.approx(0.0387)
    # its 1K-only table: no imageSize choice, ratios of its own
    assert "image_size" in errors(
        {"prompt": "x", "model": "gemini-2.5-flash-image", "image_size": "2K"}
    )
    assert "aspect_ratio" in errors(
        {"prompt": "x", "model": "gemini-2.5-flash-image", "aspect_ratio": "1:8"}
    )


def test_gemini_2_5_flash_image_is_routed_after_vertexs_date():
    v = validate_request(
        {"prompt": "x", "model": "gemini-2.5-flash-image"}, CATALOG, POLICY, dt.date(2027, 3, 15)
    )
    assert v.request.model == "gemini-3.1-flash-lite-image"
    assert any("retired on Vertex AI on 2027-03-15" in w for w in v.warnings), v.warnings
    refused = errors_on(
        {"prompt": "x", "model": "gemini-2.5-flash-image"},
        Policy(retired_models="refuse"),
        dt.date(2027, 3, 16),
    )
    assert "gemini-3.1-flash-lite-image" in refused["model"]


def test_nano_banana_2_1_refuses_512():
    assert "image_size" in errors(
        {"prompt": "x", "model": "gemini-nano-banana-2.1", "image_size": "512"}
    )
    v = ok(
        {
            "prompt": "x",
            "model": "gemini-nano-banana-2.1",
            "image_size": "4K",
            "aspect_ratio": "8:1",
        }
    )
    assert v.request.image_size == "4K" and not v.warnings  # 4K is not Preview on 2.1


def test_image_config_options_in_google_genai_spelling():
    v = ok(
        {
            "prompt": "x",
            "prominent_people": "BLOCK_PROMINENT_PEOPLE",
            "output_mime_type": "image/jpeg",
            "output_compression_quality": 80,
        }
    )
    assert v.request.prominent_people.value == "block"
    assert (v.request.output.mime_type, v.request.output.compression_quality) == ("image/jpeg", 80)
    assert (
        ok({"prompt": "x", "prominent_people": "allow"}).request.prominent_people.value == "allow"
    )
    clash = errors(
        {"prompt": "x", "output_mime_type": "image/jpeg", "output": {"mime_type": "image/png"}}
    )
    assert "differ" in clash.get("body", ""), clash
    assert "prominent_people" in errors({"prompt": "x", "prominent_people": "sometimes"})


def test_image_config_options_only_where_the_model_takes_them():
    spec = CATALOG["gemini-3-pro-image"].model_dump(mode="json")
    spec.update(prominent_people=False, person_generation=False)
    catalog = load_catalog(override_json=json.dumps([spec]))
    body = {"prompt": "x", "model": "gemini-3-pro-image"}
    got = errors_on(
        {**body, "prominent_people": "block", "person_generation": "allow_all"},
        POLICY,
        None,
        catalog,
    )
    assert set(got) == {"prominent_people", "person_generation"}, got


def test_the_guides_imagen_3_vertex_example_translates():
    v = ok(
        {
            "prompt": "A professional product photograph of a luxury watch",
            "model": "imagen-3.0-generate-001",
            "number_of_images": 4,
            "aspect_ratio": "1:1",
            "safety_filter_level": "block_some",
            "person_generation": "allow_adult",
            "add_watermark": True,
            "region": "us-central1",
            "negative_prompt": "blur",
            "enhance_prompt": True,
            "language": "en",
        }
    )
    r = v.request
    assert (r.model, r.number_of_images, r.aspect_ratio, r.region) == (
        "gemini-3.1-flash-image",
        4,
        "1:1",
        "global",
    )
    assert r.safety_filter_level.value == "block_medium_and_above"
    assert r.enhance_prompt is None and r.language is None and r.negative_prompt == "blur"
    joined = " | ".join(v.warnings)
    assert "enhance_prompt dropped" in joined and "language dropped" in joined
    assert "region us-central1" in joined and "negative_prompt" in joined


def test_the_guides_pro_4k_example_translates():
    v = ok(
        {
            "prompt": "Ultra-detailed macro photograph of a butterfly wing",
            "model": "gemini-3-pro-image-preview",
            "response_modalities": ["IMAGE"],
            "image_resolution": "4096",
        }
    )
    assert (v.request.model, v.request.image_size, v.request.response_text) == (
        "gemini-3-pro-image",
        "4K",
        False,
    )
    assert v.estimated_cost_usd == pytest.approx(0.24)


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
    ok({"prompt": "x", "reference_images": [ref] * 14})
    ok({"prompt": "x", "model": "gemini-3-pro-image", "reference_images": [ref] * 14})
    assert "reference_images" in errors({"prompt": "x", "reference_images": [ref] * 15})


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
    policy = Policy(allowed_locations=("us-central1",), default_location="us-central1")
    v = ok({"prompt": "x", "model": "gemini-3-pro-image"}, policy)
    assert v.request.region == "us-central1"
    assert "model" in errors({"prompt": "x"}, policy)  # Nano Banana 2 is global only
    assert "region" in errors(
        {"prompt": "x", "model": "gemini-3-pro-image", "region": "us-east1"}, policy
    )


def test_a_deployment_marked_shutdown_routes_to_its_replacement():
    spec = CATALOG["gemini-3-pro-image"].model_dump(mode="json")
    spec.update(shutdown_date="2026-01-01", replacement="gemini-3.1-flash-image")
    catalog = load_catalog(override_json=json.dumps([spec]))
    assert (
        "retired"
        in errors(
            {"prompt": "x", "model": "gemini-3-pro-image"}, Policy(retired_models="refuse"), catalog
        )["model"]
    )
    v = ok({"prompt": "x", "model": "gemini-3-pro-image"}, POLICY, catalog)
    assert v.request.model == "gemini-3.1-flash-image" and any("routed" in w for w in v.warnings)


def test_fingerprint_ignores_key_order():
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


def test_shape_and_model_problems_are_reported_together():
    found = errors(
        {
            "prompt": "x",
            "model": "gemini-3.1-flash-lite-image",
            "number_of_images": 99,
            "aspect_ratio": "2:1",
            "add_watermark": "sometimes",
        }
    )
    assert set(found) == {"number_of_images", "aspect_ratio", "add_watermark"}


def test_bad_prompt_still_lets_other_fields_be_checked():
    found = errors({"prompt": "", "model": "gemini-3.1-flash-lite-image", "image_size": "4K"})
    assert set(found) == {"prompt", "image_size"}


def test_thoughts_only_from_thinking_models():
    assert "include_thoughts" in errors(
        {"prompt": "x", "model": "gemini-3.1-flash-lite-image", "include_thoughts": True}
    )
    ok({"prompt": "x", "model": "gemini-3-pro-image", "include_thoughts": True})


def test_per_category_safety_excludes_the_single_level():
    with pytest.raises(InvalidRequest) as err:
        validate_request(
            {
                "prompt": "x",
                "safety_filter_level": "block_some",
                "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}],
            },
            CATALOG,
            POLICY,
        )
    assert "not both" in str(err.value.details)
    with pytest.raises(InvalidRequest) as err:
        validate_request(
            {"prompt": "x", "safety_settings": [{"category": "HARM_X", "threshold": "OFF"}]},
            CATALOG,
            POLICY,
        )
    assert err.value.details[0]["field"].startswith("safety_settings.0.category")
