"""The catalog is today's Vertex AI lineup, every fact sourced, and knows what replaced
every name Google shut down."""

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from imagegen.domain.catalog import (
    DEFAULT_MODEL,
    Lifecycle,
    load_catalog,
    parse_overrides,
)

NB2, NB21 = "gemini-3.1-flash-image", "gemini-nano-banana-2.1"
LITE, PRO, NB25 = "gemini-3.1-flash-lite-image", "gemini-3-pro-image", "gemini-2.5-flash-image"
CURRENT = [NB2, NB21, LITE, PRO]
RETIRED = {
    "imagegeneration@002": (NB2, "high"),
    "imagegeneration@003": (NB2, "high"),
    "imagegeneration@004": (NB2, "high"),
    "imagegeneration@005": (NB2, "high"),
    "imagegeneration@006": (NB2, "high"),
    "imagen-3.0-generate-001": (NB2, "high"),
    "imagen-3.0-generate-002": (NB2, "high"),
    "imagen-3.0-fast-generate-001": (NB2, "high"),
    "imagen-3.0-capability-001": (NB2, None),
    "imagen-3.0-capability-002": (NB2, None),
    "imagen-4.0-generate-001": (NB2, "high"),
    "imagen-4.0-fast-generate-001": (NB2, "minimal"),
    "imagen-4.0-ultra-generate-001": (PRO, None),
    "gemini-3-pro-image-preview": (PRO, None),
    "gemini-3.1-flash-image-preview": (NB2, None),
}
TODAY = dt.date(2026, 12, 6)


def test_the_lineup_is_what_vertex_serves_today():
    assert load_catalog().ids() == [NB2, NB21, LITE, PRO, NB25]


def test_default_model_is_nano_banana_2():
    """Vertex confirms NB2 in the default location (global) with the latest retirement;
    docs/architecture.md says why it is not Nano Banana 2.1 yet."""
    assert DEFAULT_MODEL == NB2
    assert load_catalog().default_model == DEFAULT_MODEL


@pytest.mark.parametrize("model_id", [*CURRENT, NB25])
def test_every_served_model_is_consistent(model_id):
    spec = load_catalog()[model_id]
    assert not spec.retired(TODAY)
    assert "global" in spec.locations and spec.default_location == "global"
    assert spec.default_size in spec.sizes
    assert set(spec.price_usd_per_image) == set(spec.sizes) == set(spec.output_tokens)
    assert spec.output_mime_types == ["image/png", "image/jpeg"]
    for size, table in spec.sizes.items():
        for ratio, (w, h) in table.items():
            rw, rh = map(int, ratio.split(":"))
            assert w % 8 == 0 and h % 8 == 0, (size, ratio)
            assert abs(w / h - rw / rh) < 0.05, (size, ratio, w, h)  # the pixels fit the ratio
    assert spec.sources and all(s.url.startswith("https://") for s in spec.sources)


def test_nano_banana_2_1_has_no_512_and_fourteen_ratios():
    spec = load_catalog()[NB21]
    assert spec.lifecycle is Lifecycle.GA and spec.release_date == dt.date(2026, 10, 6)
    assert list(spec.sizes) == ["1K", "2K", "4K"]
    assert all(len(table) == 14 for table in spec.sizes.values())
    assert spec.preview_sizes == []
    assert spec.price("1K") == pytest.approx(0.0336)
    assert spec.price("4K") == pytest.approx(0.1134)
    assert spec.price("2K") == spec.price("4K")  # no source for 2K: the upper bound
    assert spec.thinking_levels == ["minimal", "high"]


def test_nano_banana_2_facts():
    spec = load_catalog()[NB2]
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
    assert spec.retirement_not_before == dt.date(2027, 5, 28) and spec.shutdown_date is None
    # the Gemini API deprecated it; Vertex did not: a notice, no warning
    assert [n.platform.value for n in spec.other_platforms] == ["gemini_api"]
    assert spec.deprecation(TODAY) is None and spec.deprecation_warning(TODAY) is None


def test_lite_follows_vertex_fourteen_ratios_and_dates():
    spec = load_catalog()[LITE]
    assert list(spec.sizes) == ["1K"] and len(spec.sizes["1K"]) == 14
    assert not spec.google_search and not spec.thinking
    assert spec.thinking_levels == ["minimal", "high"]
    assert spec.price("1K") == pytest.approx(0.0336)
    assert spec.release_date == dt.date(2026, 6, 23)
    assert spec.retirement_not_before == dt.date(2027, 6, 28)
    assert spec.c2pa_content_credentials


def test_pro_facts():
    spec = load_catalog()[PRO]
    assert list(spec.sizes) == ["1K", "2K", "4K"]
    assert spec.pixel_size("1:1", "4K") == (4096, 4096)
    assert spec.output_tokens == {"1K": 1120, "2K": 1120, "4K": 2000}
    assert spec.price("4K") == pytest.approx(0.24) and spec.price("4K") > spec.price("1K")
    assert spec.thinking and spec.thinking_levels == []
    assert spec.retirement_not_before == dt.date(2027, 5, 28)


def test_gemini_2_5_flash_image_is_served_until_vertexs_date_with_a_warning():
    spec = load_catalog()[NB25]
    assert spec.lifecycle is Lifecycle.DEPRECATED
    assert spec.shutdown_date == dt.date(2027, 3, 15) and spec.replacement == LITE
    assert list(spec.sizes) == ["1K"] and spec.pixel_size("16:9", "1K") == (1344, 768)
    assert spec.max_reference_images == 3
    assert spec.price("1K") == pytest.approx(0.0387)
    notice = spec.deprecation(TODAY)
    assert notice == {
        "retirement_date": "2027-03-15",
        "replacement": LITE,
        "message": f"model {NB25} is deprecated on Vertex AI and retires on 2027-03-15; "
        f"recommended replacement: {LITE}",
    }
    assert not spec.retired(dt.date(2027, 3, 14)) and spec.retired(dt.date(2027, 3, 15))
    assert spec.deprecation(dt.date(2027, 3, 15)) is None  # then it is routed instead
    # the Gemini API's "earliest October 2026" is a notice, not the date that routes
    assert spec.other_platforms[0].date == dt.date(2026, 10, 2)


def test_content_credentials_are_marked_where_a_google_page_says_so():
    """Which models Vertex signs with C2PA is a sourced fact: Pro (Google's announcement of
    2025-11-20) and Lite (its model page); Nano Banana 2 stays off until a Vertex page says so
    (a missing manifest must not warn on every job of the default model)."""
    catalog = load_catalog()
    marked = {spec.id for spec in catalog if spec.c2pa_content_credentials}
    assert marked == {"gemini-3-pro-image", "gemini-3.1-flash-lite-image"}
    for spec in catalog:
        if spec.c2pa_content_credentials:
            facts = [s for s in spec.sources if "c2pa_content_credentials" in s.fields]
            assert facts, f"{spec.id}: c2pa_content_credentials has no source"


@pytest.mark.parametrize(("old", "expected"), sorted(RETIRED.items()))
def test_every_retired_name_has_a_replacement(old, expected):
    catalog = load_catalog()
    assert catalog.get(old) is None
    retired = catalog.retired_model(old)
    assert retired is not None and retired.shutdown_date <= TODAY
    assert (retired.replacement, retired.thinking_level) == expected
    assert catalog.get(retired.replacement) is not None
    assert retired.sources


def test_the_captioning_model_is_known_and_has_no_replacement():
    retired = load_catalog().retired_model("imagetext@001")
    assert retired is not None and retired.replacement is None
    assert "captioning" in retired.purpose
    assert retired.shutdown_date == dt.date(2025, 9, 24)


def test_every_imagen_id_vertex_lists_is_known():
    """Vertex's Imagen pages list these discontinued endpoints (lineup.IMAGEN_PAGE)."""
    listed = [
        *(f"imagegeneration@00{n}" for n in range(2, 7)),
        "imagetext@001",
        "imagen-3.0-capability-001",
        "imagen-3.0-capability-002",
        "imagen-3.0-fast-generate-001",
        "imagen-3.0-generate-001",
        "imagen-3.0-generate-002",
        "imagen-4.0-fast-generate-001",
        "imagen-4.0-generate-001",
        "imagen-4.0-ultra-generate-001",
    ]
    catalog = load_catalog()
    assert [m for m in listed if catalog.retired_model(m) is None] == []


def test_size_lookup_for_delivered_pixels():
    spec = load_catalog()[NB2]
    assert spec.size_of(1376, 768) == "1K"
    assert spec.size_of(1000, 1000) is None
    assert spec.nearest_size(1000, 1000) == "1K"
    assert spec.nearest_size(5000, 5000) == "4K"


def test_override_adds_and_replaces_models():
    base = load_catalog()[NB2].model_dump(mode="json")
    new = {**base, "id": "gemini-9-image", "display_name": "Nine"}
    changed = {**base, "price_usd_per_image": {**base["price_usd_per_image"], "1K": 0.5}}
    catalog = load_catalog(override_json=json.dumps([new, changed]))
    assert catalog["gemini-9-image"].display_name == "Nine"
    assert catalog[NB2].price("1K") == 0.5
    assert catalog.retired_model("imagen-4.0-generate-001") is not None


def test_override_file_can_mark_a_shutdown(tmp_path):
    base = load_catalog()[PRO].model_dump(mode="json")
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{**base, "shutdown_date": "2020-01-01"}]))
    spec = load_catalog(override_file=str(path))[PRO]
    assert spec.retired(dt.date(2026, 1, 1))


def test_bad_override_is_refused_with_the_field():
    with pytest.raises(ValidationError, match="family"):
        parse_overrides(json.dumps([{"id": "x", "family": "predict"}]))
