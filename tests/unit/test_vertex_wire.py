"""The exact JSON a Gemini image model is sent (what only the caller set, as google-genai
sends it), and how replies are read."""

import base64
import datetime as dt

import pytest

from imagegen.adapters.vertex_wire import api_host, gemini_body, model_path, read_gemini
from imagegen.domain.catalog import load_catalog
from imagegen.domain.request import Policy, validate_request

CATALOG = load_catalog()


def validated(**body):
    v = validate_request(
        {"prompt": "a lighthouse", **body},
        CATALOG,
        Policy(reference_buckets=("refs",)),
        dt.date(2026, 11, 25),
    )
    return v.request, v.spec


def test_endpoints():
    assert api_host("global") == "aiplatform.googleapis.com"
    assert api_host("europe-west4") == "europe-west4-aiplatform.googleapis.com"
    assert (
        model_path("p", "global", "m") == "projects/p/locations/global/publishers/google/models/m"
    )


def test_defaults_send_only_what_was_asked():
    """No aspectRatio (an edit keeps its input's shape), image only, no imageSize (the
    model's default; google-genai sends none either: issue 28)."""
    req, spec = validated()
    assert gemini_body(req, spec) == {
        "contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"]},
    }
    asked, spec = validated(image_size="1K")
    assert gemini_body(asked, spec)["generationConfig"]["imageConfig"] == {"imageSize": "1K"}


def test_system_instruction_media_resolution_and_per_category_safety():
    req, spec = validated(
        system_instruction="flat colours",
        media_resolution="MEDIA_RESOLUTION_LOW",
        safety_settings=[{"category": "harm_category_harassment", "threshold": "off"}],
    )
    body = gemini_body(req, spec)
    assert body["systemInstruction"] == {"role": "user", "parts": [{"text": "flat colours"}]}
    assert body["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}]


def test_lite_sends_no_image_size_it_has_only_one():
    req, spec = validated(model="gemini-3.1-flash-lite-image", aspect_ratio="4:5")
    assert gemini_body(req, spec)["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {"aspectRatio": "4:5"},
    }


def test_new_options_nano_banana_2():
    req, spec = validated(
        image_size="512",
        aspect_ratio="1:8",
        thinking_level="MINIMAL",
        include_thoughts=True,
        google_search=True,
        response_text=True,
        output={"mime_type": "image/jpeg", "compression_quality": 80},
    )
    body = gemini_body(req, spec)
    assert body["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {
            "aspectRatio": "1:8",
            "imageSize": "512",
            "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
        },
        "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "MINIMAL"},
    }
    assert body["tools"] == [{"googleSearch": {}}]


def test_pro_4k_person_safety_references():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    req, spec = validated(
        model="gemini-3-pro-image",
        image_size="4K",
        aspect_ratio="16:9",
        person_generation="allow_adult",
        safety_filter_level="block_low_and_above",
        seed=9,
        reference_images=[{"gcs_uri": "gs://refs/cat.jpg"}, {"gcs_uri": "gs://refs/x"}],
    )
    req = req.model_copy(
        update={
            "reference_images": [
                *req.reference_images,
                req.reference_images[0].model_copy(update={"gcs_uri": None, "data": png}),
            ]
        }
    )
    body = gemini_body(req, spec)
    assert body["contents"][0]["parts"] == [
        {"fileData": {"fileUri": "gs://refs/cat.jpg", "mimeType": "image/jpeg"}},
        {"fileData": {"fileUri": "gs://refs/x", "mimeType": "image/png"}},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"text": "a lighthouse"},
    ]
    config = body["generationConfig"]
    assert config["seed"] == 9
    assert config["imageConfig"] == {
        "aspectRatio": "16:9",
        "imageSize": "4K",
        "personGeneration": "ALLOW_ADULT",
    }
    assert {s["threshold"] for s in body["safetySettings"]} == {"BLOCK_LOW_AND_ABOVE"}
    assert len(body["safetySettings"]) == 4


@pytest.mark.parametrize(
    ("ours", "gemini"), [("dont_allow", "ALLOW_NONE"), ("allow_all", "ALLOW_ALL")]
)
def test_person_generation_vocabulary(ours, gemini):
    req, spec = validated(person_generation=ours)
    assert gemini_body(req, spec)["generationConfig"]["imageConfig"]["personGeneration"] == gemini


def test_a_routed_imagen_request_carries_its_negative_prompt_in_the_text():
    req, spec = validated(model="imagen-3.0-generate-001", negative_prompt="fog")
    body = gemini_body(req, spec)
    assert body["contents"][0]["parts"] == [{"text": "a lighthouse\n\nAvoid: fog"}]
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "HIGH"}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_read_gemini_image_text_and_usage():
    reply = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Here you go"},
                        {"text": "plan", "thought": True},
                        {"inlineData": {"mimeType": "image/png", "data": _b64(b"img")}},
                    ]
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"candidatesTokenCount": 1290},
    }
    result = read_gemini(reply)
    assert [i.data for i in result.images] == [b"img"]
    assert result.text == ["Here you go"]
    assert result.usage == {"candidatesTokenCount": 1290}
    assert result.blocked == []


def test_read_gemini_safety_finish_is_blocked():
    result = read_gemini(
        {"candidates": [{"finishReason": "IMAGE_SAFETY", "finishMessage": "unsafe"}]}
    )
    assert result.images == [] and result.blocked == ["IMAGE_SAFETY unsafe"]


def test_read_gemini_prompt_block():
    result = read_gemini({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})
    assert result.blocked and "PROHIBITED_CONTENT" in result.blocked[0]
