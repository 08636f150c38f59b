"""Overlay merge (issue 17): the code's table plus a deployment's changes, checked by the
same schema."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imagegen.catalog_admin import diff
from imagegen.domain.catalog import Overlay, apply_overlay, load_catalog, replacement_for

BASE = load_catalog()
LITE, NB2, PRO = "gemini-3.1-flash-lite-image", "gemini-3.1-flash-image", "gemini-3-pro-image"


def test_a_patch_changes_only_its_fields():
    after = apply_overlay(BASE, Overlay(models={LITE: {"price_usd_per_image": {"1K": 0.05}}}))
    assert after[LITE].price("1K") == 0.05
    assert after[LITE].sizes == BASE[LITE].sizes
    assert diff(BASE, after) == [
        {
            "model": LITE,
            "field": "price_usd_per_image",
            "before": BASE[LITE].model_dump(mode="json")["price_usd_per_image"],
            "after": {"1K": 0.05},
        }
    ]


def test_a_bad_patch_is_refused_by_the_schema():
    with pytest.raises(ValidationError):
        apply_overlay(BASE, Overlay(models={LITE: {"locations": []}}))
    with pytest.raises(ValidationError):
        apply_overlay(BASE, Overlay(models={"new-model": {"display_name": "half an entry"}}))


def test_retiring_routes_to_the_replacement_and_moves_the_default():
    after = apply_overlay(
        BASE, Overlay(retired={NB2: {"replacement": PRO, "shutdown_date": "2026-11-25"}})
    )
    assert after.get(NB2) is None
    assert after.retired_model(NB2).replacement == PRO
    assert after.default_model == PRO
    with pytest.raises(ValueError):
        apply_overlay(
            BASE, Overlay(retired={NB2: {"replacement": "nope", "shutdown_date": "2026-11-25"}})
        )


def test_replacement_falls_back_to_the_default_model():
    assert replacement_for(BASE, BASE[LITE]) == NB2
    assert replacement_for(BASE, BASE[NB2]) is None
