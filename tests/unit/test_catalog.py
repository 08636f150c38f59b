"""The catalog is today's Vertex AI lineup, every fact sourced, and knows what replaced
every name Google shut down."""

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from imagegen.domain.catalog import (
    C2PA_READ_ON,
    DEFAULT_MODEL,
    READ_ON,
    Lifecycle,
    load_catalog,
    parse_overrides,
)

CURRENT = ["gemini-3.1-flash-image", "gemini-3.1-flash-lite-image", "gemini-3-pro-image"]
RETIRED = {
    "imagen-3.0-generate-001": ("gemini-3.1-flash-image", "high"),
    "imagen-3.0-generate-002": ("gemini-3.1-flash-image", "high"),
    "imagen-3.0-fast-generate-001": ("gemini-3.1-flash-image", "high"),
    "imagen-3.0-capability-001": ("gemini-3.1-flash-image", None),
    "imagen-4.0-generate-001": ("gemini-3.1-flash-image", "high"),
    "imagen-4.0-fast-generate-001": ("gemini-3.1-flash-image", "minimal"),
    "imagen-4.0-ultra-generate-001": ("gemini-3-pro-image", None),
    "gemini-2.5-flash-image": ("gemini-3.1-flash-image", None),
    "gemini-3-pro-image-preview": ("gemini-3-pro-image", None),
    "gemini-3.1-flash-image-preview": ("gemini-3.1-flash-image", None),
}
TODAY = dt.date(2026, 11, 25)


def test_the_lineup_is_todays_and_nothing_else():
    assert load_catalog().ids() == [
        "gemini-3.1-flash-image",
        "gemini-3.1-flash-lite-image",
        "gemini-3-pro-image",
    ]


def test_default_model_is_nano_banana_2():
    assert DEFAULT_MODEL == "gemini-3.1-flash-image"
    assert load_catalog().default_model == DEFAULT_MODEL


@pytest.mark.parametrize("model_id", CURRENT)
def test_every_current_model_is_consistent_and_sourced(model_id):
    spec = load_catalog()[model_id]
    assert spec.lifecycle is Lifecycle.GA and not spec.retired(TODAY)
    assert "global" in spec.locations and spec.default_location == "global"
    assert spec.default_size in spec.sizes
    assert set(spec.price_usd_per_image) == set(spec.sizes) == set(spec.output_tokens)
    assert spec.max_reference_images == 14
    assert spec.output_mime_types == ["image/png", "image/jpeg"]
    for size, table in spec.sizes.items():
        for ratio, (w, h) in table.items():
            rw, rh = map(int, ratio.split(":"))
            assert w % 8 == 0 and h % 8 == 0, (size, ratio)
            assert abs(w / h - rw / rh) < 0.05, (size, ratio, w, h)  # the pixels fit the ratio
    assert spec.sources and all(s.url.startswith("https://") for s in spec.sources)
    # the lineup was read 2026-11-25; the Content Credentials facts 2026-12-06
    assert dt.date(2026, 11, 25) == READ_ON and dt.date(2026, 12, 6) == C2PA_READ_ON
    assert all(s.read in (READ_ON, C2PA_READ_ON) for s in spec.sources)


def test_nano_banana_2_facts():
    spec = load_catalog()["gemini-3.1-flash-image"]
    assert list(spec.sizes) == ["512", "1K", "2K", "4K"]
    assert {"1:4", "4:1", "1:8", "8:1"} <= set(spec.aspect_ratios)
    assert "9:21" not in spec.aspect_ratios  # sources disagree: not offered
    assert spec.pixel_size("1:8", "512") == (192, 1536)
    assert spec.pixel_size("16:9", "4K") == (5504, 3072)
    assert "21:9" not in spec.sizes["512"]  # Google's table says 792x168
    assert spec.output_tokens == {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}
    assert spec.price("1K") == pytest.approx(0.0672)
    assert spec.thinking_levels == ["minimal", "high"] and spec.google_search
    assert spec.preview_sizes == ["4K"]


def test_lite_is_1k_only_without_search():
    spec = load_catalog()["gemini-3.1-flash-lite-image"]
    assert list(spec.sizes) == ["1K"]
    assert not spec.google_search and not spec.thinking
    assert spec.price("1K") == pytest.approx(0.0336)
    assert "1:8" not in spec.aspect_ratios  # 10 ratios (sources disagree on 14)


def test_pro_facts():
    spec = load_catalog()["gemini-3-pro-image"]
    assert list(spec.sizes) == ["1K", "2K", "4K"]
    assert spec.pixel_size("1:1", "4K") == (4096, 4096)
    assert spec.output_tokens == {"1K": 1120, "2K": 1120, "4K": 2000}
    assert spec.price("4K") == pytest.approx(0.24) and spec.price("4K") > spec.price("1K")
    assert spec.thinking and spec.thinking_levels == []


def test_content_credentials_are_marked_where_a_google_page_says_so():
    """Which models Vertex signs with C2PA is a sourced fact: Pro (Google DeepMind's
    announcement) and Lite (its model page); Nano Banana 2 stays off until a Vertex page
    says so (a missing manifest must not warn on every job of the default model)."""
    catalog = load_catalog()
    marked = {spec.id for spec in catalog if spec.content_credentials}
    assert marked == {"gemini-3-pro-image", "gemini-3.1-flash-lite-image"}
    for spec in catalog:
        facts = [s for s in spec.sources if "C2PA" in s.fact or "Content Credentials" in s.fact]
        assert facts, f"{spec.id}: content_credentials has no source"


@pytest.mark.parametrize(("old", "expected"), sorted(RETIRED.items()))
def test_every_retired_name_has_googles_replacement(old, expected):
    catalog = load_catalog()
    assert catalog.get(old) is None
    retired = catalog.retired_model(old)
    assert retired is not None and retired.shutdown_date <= TODAY
    assert (retired.replacement, retired.thinking_level) == expected
    assert catalog.get(retired.replacement) is not None
    assert retired.sources


def test_size_lookup_for_delivered_pixels():
    spec = load_catalog()["gemini-3.1-flash-image"]
    assert spec.size_of(1376, 768) == "1K"
    assert spec.size_of(1000, 1000) is None
    assert spec.nearest_size(1000, 1000) == "1K"
    assert spec.nearest_size(5000, 5000) == "4K"


def test_override_adds_and_replaces_models():
    base = load_catalog()["gemini-3.1-flash-image"].model_dump(mode="json")
    new = {**base, "id": "gemini-9-image", "display_name": "Nine"}
    changed = {**base, "price_usd_per_image": {**base["price_usd_per_image"], "1K": 0.5}}
    catalog = load_catalog(override_json=json.dumps([new, changed]))
    assert catalog["gemini-9-image"].display_name == "Nine"
    assert catalog["gemini-3.1-flash-image"].price("1K") == 0.5
    assert catalog.retired_model("imagen-4.0-generate-001") is not None


def test_override_file_can_mark_a_shutdown(tmp_path):
    base = load_catalog()["gemini-3-pro-image"].model_dump(mode="json")
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{**base, "shutdown_date": "2020-01-01"}]))
    spec = load_catalog(override_file=str(path))["gemini-3-pro-image"]
    assert spec.retired(dt.date(2026, 1, 1))


def test_bad_override_is_refused_with_the_field():
    with pytest.raises(ValidationError, match="family"):
        parse_overrides(json.dumps([{"id": "x", "family": "predict"}]))
