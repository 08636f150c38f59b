"""The CLI exposes every field of the job request (issue 28): `imagegen generate`'s options
set each one (`refine` sets parent_job_id)."""

from __future__ import annotations

from imagegen.domain.request import JobRequest
from imagegen_client.cli.job_request import build_request

# aliases folded into other fields when parsed, and what the service itself sets
NOT_OPTIONS = {"image_resolution", "response_modalities", "model_requested", "parent_job_id"}


def test_every_job_request_field_has_an_option():
    request = build_request(
        "a prompt",
        model="m",
        number_of_images=2,
        aspect_ratio="1:1",
        image_size="1k",
        refs=("gs://bucket/a.png",),
        region="global",
        seed=1,
        no_watermark=True,
        negative_prompt="n",
        person_generation="allow_adult",
        prominent_people="BLOCK",
        safety_filter_level="block_some",
        mime_type="jpeg",
        quality=80,
        labels=("team=art",),
        fallback_models=("x",),
        include_thoughts=True,
        thinking_level="HIGH",
        google_search=True,
        response_text=True,
        system_instruction="flat colours",
        media_resolution="LOW",
        safety_settings=("HARM_CATEGORY_HARASSMENT=OFF",),
        webhook="https://hooks.example/x",
        language="en",
        enhance_prompt=False,
    )
    assert set(JobRequest.model_fields) - NOT_OPTIONS - set(request) == set()
    assert request["safety_settings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "OFF"}
    ]
    assert (request["thinking_level"], request["media_resolution"]) == ("high", "low")
    assert request["prominent_people"] == "block"
