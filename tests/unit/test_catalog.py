import datetime as dt
import json

import pytest
from pydantic import ValidationError

from imagegen.domain.catalog import DEFAULT_MODEL, Family, Lifecycle, load_catalog, parse_overrides

REQUIRED_MODELS = [
    "imagen-3.0-generate-001",
    "imagen-3.0-generate-002",
    "imagen-3.0-fast-generate-001",
    "imagen-4.0-generate-001",
    "imagen-4.0-fast-generate-001",
    "imagen-4.0-ultra-generate-001",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3-pro-image",
]


def test_catalog_has_every_required_model():
    assert set(REQUIRED_MODELS) <= set(load_catalog().ids())


def test_default_model_is_flash_image():
    assert DEFAULT_MODEL == "gemini-2.5-flash-image"
    assert load_catalog().default_model == DEFAULT_MODEL


@pytest.mark.parametrize("model_id", REQUIRED_MODELS)
def test_every_model_is_consistent(model_id):
    spec = load_catalog()[model_id]
    assert spec.default_location in spec.locations
    assert spec.default_size in spec.sizes
    assert set(spec.price_usd_per_image) == set(spec.sizes)
    for table in spec.sizes.values():
        assert set(table) == set(spec.aspect_ratios)
        for w, h in table.values():
            assert w % 16 == 0 and h % 16 == 0


def test_imagen_is_regional_and_deprecated():
    for spec in load_catalog():
        if spec.family is Family.PREDICT:
            assert "global" not in spec.locations
            assert spec.lifecycle is Lifecycle.DEPRECATED
            assert spec.replacement == "gemini-2.5-flash-image"
            assert spec.watermark_control and spec.max_reference_images == 0


def test_gemini_limits_from_the_guide():
    catalog = load_catalog()
    assert catalog["gemini-2.5-flash-image"].max_reference_images == 3
    assert catalog["gemini-3-pro-image-preview"].max_reference_images == 14
    assert "4K" in catalog["gemini-3-pro-image-preview"].sizes
    assert "4K" not in catalog["gemini-2.5-flash-image"].sizes
    assert catalog["gemini-3-pro-image-preview"].locations == ["global"]
    assert catalog["gemini-3-pro-image-preview"].pixel_size("16:9", "4K") == (5504, 3072)
    assert catalog["gemini-2.5-flash-image"].pixel_size("1:1", "1K") == (1024, 1024)
    assert not catalog["gemini-2.5-flash-image"].watermark_control


def test_pro_4k_costs_more_than_1k():
    spec = load_catalog()["gemini-3-pro-image-preview"]
    assert spec.price("4K") > spec.price("1K")


def test_override_adds_and_replaces_models():
    base = load_catalog()["gemini-2.5-flash-image"].model_dump(mode="json")
    new = {**base, "id": "gemini-9-image", "display_name": "Nine"}
    changed = {**base, "price_usd_per_image": {"1K": 0.5}}
    catalog = load_catalog(override_json=json.dumps([new, changed]))
    assert catalog["gemini-9-image"].display_name == "Nine"
    assert catalog["gemini-2.5-flash-image"].price("1K") == 0.5


def test_override_file(tmp_path):
    base = load_catalog()["imagen-3.0-generate-001"].model_dump(mode="json")
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{**base, "retirement_date": "2020-01-01"}]))
    spec = load_catalog(override_file=str(path))["imagen-3.0-generate-001"]
    assert spec.retired(dt.date(2026, 1, 1))


def test_bad_override_is_refused_with_the_field():
    with pytest.raises(ValidationError, match="family"):
        parse_overrides(json.dumps([{"id": "x", "family": "nope"}]))
