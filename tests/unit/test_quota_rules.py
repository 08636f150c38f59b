import datetime as dt

import pytest

from imagegen.domain.catalog import load_catalog
from imagegen.domain.job import Job
from imagegen.domain.quota import Limits, charged, check, counter_ids, usage_report
from imagegen.domain.request import Policy, validate_request
from imagegen.errors import BudgetExceeded, RateLimited

NOW = dt.datetime(2026, 11, 25, 13, 7, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("spec", list(load_catalog()), ids=lambda s: s.id)
def test_estimates_match_the_catalog_for_every_model_and_size(spec):
    for size in spec.sizes:
        body = {
            "prompt": "x",
            "model": spec.id,
            "image_size": size,
            "number_of_images": spec.max_images,
        }
        v = validate_request(body, load_catalog(), Policy(), dt.date(2026, 11, 25))
        assert v.estimated_cost_usd == pytest.approx(spec.price(size) * spec.max_images)


def test_no_limits_means_anything_goes():
    assert not Limits().enabled
    check(Limits(), {}, 1e9, NOW)


def test_rate_limit_counts_this_request():
    limits = Limits(caller_requests_per_minute=2)
    check(limits, {"caller_minute": {"requests": 1}}, 0.0, NOW)
    with pytest.raises(RateLimited) as info:
        check(limits, {"caller_minute": {"requests": 2}}, 0.0, NOW)
    assert info.value.retry_after == 30  # until the next minute


def test_global_rate_limit():
    with pytest.raises(RateLimited, match="everyone"):
        check(Limits(global_requests_per_minute=5), {"global_minute": {"requests": 5}}, 0, NOW)


def test_budget_allows_exactly_up_to_the_limit():
    limits = Limits(caller_usd_per_day=0.12)
    check(limits, {"caller_day": {"reserved_usd": 0.08}}, 0.04, NOW)
    with pytest.raises(BudgetExceeded) as info:
        check(limits, {"caller_day": {"reserved_usd": 0.09}}, 0.04, NOW)
    assert info.value.reset_at == dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
    assert info.value.to_json()["error"]["reset_at"] == "2026-11-26T00:00:00Z"


def test_charging_adds_the_request_and_the_cost():
    after = charged(
        {"caller_minute": {"requests": 1}, "caller_day": {"reserved_usd": 0.5}}, 0.25, "a", NOW
    )
    assert after["caller_minute"]["requests"] == 2
    assert after["caller_day"]["reserved_usd"] == 0.75 and after["caller_day"]["jobs"] == 1


def test_counter_ids_are_per_caller_and_window():
    ids = counter_ids("a@example.com", NOW)
    assert ids["caller_minute"] == "rate|a@example.com|2026-11-25T13:07"
    assert ids["global_day"] == "spend|*|2026-11-25"
    assert "/" not in counter_ids("a/b", NOW)["caller_day"]


def test_usage_report_groups_by_caller_and_served_model():
    jobs = [
        {
            "caller": "a",
            "model": "m1",
            "state": "succeeded",
            "request": {"number_of_images": 2},
            "images_produced": 2,
            "estimated_cost_usd": 0.08,
            "cost_usd": 0.08,
        },
        {
            "caller": "b",
            "model": "m1",
            "served_by": {"model": "m2", "location": "global"},
            "state": "blocked",
            "request": {"number_of_images": 1},
            "images_produced": 0,
            "estimated_cost_usd": 0.04,
            "cost_usd": 0.0,
        },
    ]
    report = usage_report([Job(id=str(n), **job) for n, job in enumerate(jobs)])
    assert report["total"]["jobs"] == 2 and report["total"]["cost_usd"] == 0.08
    assert report["by_model"]["m2"]["states"] == {"blocked": 1}
    assert set(report["by_caller"]) == {"a", "b"}
