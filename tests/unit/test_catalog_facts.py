"""Every fact of the built-in catalog names a recent source (issue 30).

A table typed in by hand is stale within weeks. Each built-in model (served or retired)
carries, for every fact field with a value, a source that backs it (URL + date read), and
no source may be older than 90 days: the next drift is a red test, not a surprise. When
this fails on age, re-read the pages listed and update the facts and dates in
functions/imagegen/domain/lineup.py (Vertex AI's pages decide)."""

from __future__ import annotations

import datetime as dt

import pytest

from imagegen.domain.catalog_schema import (
    FACT_FIELDS,
    ModelSpec,
    Platform,
    Source,
    stale_sources,
    unsourced_facts,
)
from imagegen.domain.lineup import BUILTIN_MODELS, NB2, RETIRED_MODELS

TODAY = dt.date.today()
EVERY = [*BUILTIN_MODELS, *RETIRED_MODELS]


@pytest.mark.parametrize("model", EVERY, ids=lambda m: m.id)
def test_every_fact_has_a_source(model):
    assert unsourced_facts(model) == [], f"{model.id}: facts without a source"


@pytest.mark.parametrize("model", EVERY, ids=lambda m: m.id)
def test_no_source_is_older_than_ninety_days(model):
    old = [(s.url, s.read.isoformat()) for s in stale_sources(model, TODAY)]
    assert old == [], f"{model.id}: re-read these pages (functions/imagegen/domain/lineup.py)"


@pytest.mark.parametrize("model", EVERY, ids=lambda m: m.id)
def test_sources_name_real_fields_and_pages(model):
    fields = set(type(model).model_fields)
    for source in model.sources:
        assert source.url.startswith("https://"), source
        assert set(source.fields) <= fields, source
        assert source.read <= TODAY, source


def test_the_checks_catch_a_missing_and_a_stale_source():
    """The two checks can fail: a fact nobody backs, a page read too long ago."""
    kept = [s for s in NB2.sources if "google_search" not in s.fields]
    assert unsourced_facts(NB2.model_copy(update={"sources": kept})) == ["google_search"]
    old = Source(fact="x", url="https://example.com", read=TODAY - dt.timedelta(days=91))
    assert stale_sources(NB2.model_copy(update={"sources": [old]}), TODAY) == [old]
    fresh = Source(fact="x", url="https://example.com", read=TODAY - dt.timedelta(days=90))
    assert stale_sources(NB2.model_copy(update={"sources": [fresh]}), TODAY) == []


def test_every_fact_field_is_a_model_field():
    assert set(FACT_FIELDS) <= set(ModelSpec.model_fields)


@pytest.mark.parametrize("model", BUILTIN_MODELS, ids=lambda m: m.id)
def test_lifecycle_dates_come_from_vertex(model):
    """Vertex AI's pages decide a served model's dates: the Gemini API's are notices.
    (Nano Banana 2.1's row was not among the Vertex copies read: its GA date is the Gemini
    API's, said in its source and notes.)"""
    for name in ("shutdown_date", "retirement_not_before"):
        if getattr(model, name):
            platforms = {s.platform for s in model.sources if name in s.fields}
            assert platforms == {Platform.VERTEX}, (model.id, name, platforms)
    for notice in model.other_platforms:
        assert notice.platform is not Platform.VERTEX
