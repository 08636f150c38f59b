"""The exact JSON each model family is sent, and how replies are read."""

import base64
import datetime as dt

from imagegen.adapters.vertex_wire import (
    api_host,
    gemini_body,
    imagen_body,
    model_path,
    read_gemini,
    read_imagen,
)
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


def test_imagen_defaults():
    req, spec = validated(model="imagen-3.0-generate-002", aspect_ratio="16:9")
    assert imagen_body(req, spec) == {
        "instances": [{"prompt": "a lighthouse"}],
        "parameters": {
            "sampleCount": 1,
            "aspectRatio": "16:9",
            "addWatermark": True,
            "includeRaiReason": True,
            "outputOptions": {"mimeType": "image/png"},
        },
    }


def test_imagen_every_option():
    req, spec = validated(
        model="imagen-4.0-generate-001",
        number_of_images=3,
        image_size="2K",
        add_watermark=False,
        seed=42,
        person_generation="allow_adult",
        safety_filter_level="block_only_high",
        enhance_prompt=False,
        language="ja",
        output={"mime_type": "image/jpeg", "compression_quality": 80},
    )
    params = imagen_body(req, spec, storage_uri="gs://out/jobs/j/")["parameters"]
    assert params == {
        "sampleCount": 3,
        "aspectRatio": "1:1",
        "addWatermark": False,
        "includeRaiReason": True,
        "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
        "sampleImageSize": "2K",
        "seed": 42,
        "personGeneration": "allow_adult",
        "safetySetting": "block_only_high",
        "enhancePrompt": False,
        "language": "ja",
        "storageUri": "gs://out/jobs/j/",
    }


def test_imagen_negative_prompt():
    req, spec = validated(model="imagen-3.0-generate-001", negative_prompt="fog")
    assert imagen_body(req, spec)["parameters"]["negativePrompt"] == "fog"


def test_gemini_flash_defaults():
    req, spec = validated()
    assert gemini_body(req, spec) == {
        "contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "candidateCount": 1,
            "imageConfig": {"aspectRatio": "1:1", "imageOutputOptions": {"mimeType": "image/png"}},
        },
    }


def test_gemini_pro_4k_person_safety_references():
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    req, spec = validated(
        model="gemini-3-pro-image-preview",
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
        "imageOutputOptions": {"mimeType": "image/png"},
    }
    assert {s["threshold"] for s in body["safetySettings"]} == {"BLOCK_LOW_AND_ABOVE"}
    assert len(body["safetySettings"]) == 4


def test_person_generation_maps_per_family():
    for ours, gemini in [("dont_allow", "ALLOW_NONE"), ("allow_all", "ALLOW_ALL")]:
        req, spec = validated(person_generation=ours)
        assert (
            gemini_body(req, spec)["generationConfig"]["imageConfig"]["personGeneration"] == gemini
        )
        req, spec = validated(model="imagen-4.0-generate-001", person_generation=ours)
        assert imagen_body(req, spec)["parameters"]["personGeneration"] == ours


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_read_imagen_with_filtered_and_missing_samples():
    reply = {
        "predictions": [
            {"bytesBase64Encoded": _b64(b"one"), "mimeType": "image/png", "prompt": "better"},
            {"raiFilteredReason": "Filtered: people"},
        ]
    }
    result = read_imagen(reply, requested=3, default_mime="image/png")
    assert [i.data for i in result.images] == [b"one"]
    assert result.blocked[0] == "Filtered: people"
    assert len(result.blocked) == 2  # one reasoned, one silently missing
    assert result.enhanced_prompt == "better"


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
