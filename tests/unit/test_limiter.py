"""The pacing algorithm (domain/limiter.py): slot allowance, planning, AIMD."""

from __future__ import annotations

import pytest

from imagegen.domain.limiter import Aimd, QuotaTable, Slot, allowance, horizon, plan, wait_for


@pytest.mark.parametrize("per_second", [0.5, 1.0, 2.5, 1 / 7, 9.5])
def test_any_60_windows_hold_at_most_the_quota(per_second):
    counts = [allowance(w, per_second) for w in range(1_700_000_000, 1_700_000_600)]
    limit = -(-60 * per_second // 1)  # ceil
    for start in range(len(counts) - 60):
        assert sum(counts[start : start + 60]) <= limit
    assert sum(counts) == pytest.approx(600 * per_second, abs=1)


def test_zero_rate_has_no_slots():
    assert allowance(5, 0) == 0
    assert horizon(10.0, 0, 30) == []


def test_plan_takes_the_earliest_free_slots_and_skips_taken_ones():
    taken = {Slot(100, 0), Slot(100, 1)}
    got = plan(100.4, 3, 2.0, 5, taken)
    assert got == [Slot(101, 0), Slot(101, 1), Slot(102, 0)]
    assert wait_for(got, 100.4) == pytest.approx(1.6)


def test_plan_refuses_what_the_horizon_cannot_hold():
    assert plan(100.0, 4, 1.0, 2, set()) == []  # 3 windows of 1 slot
    assert len(plan(100.0, 3, 1.0, 2, set())) == 3


def test_a_slot_open_now_means_no_wait():
    assert wait_for(plan(100.9, 1, 1.0, 0, set()), 100.9) == 0.0


def test_aimd_cuts_once_per_cooldown_and_grows_back_linearly():
    aimd = Aimd(decrease=0.5, increase_per_second=0.01, minimum=0.1, cooldown=2.0)
    assert Aimd().cut(None, 0.0)["factor"] == 0.75  # the default: a quarter off
    assert aimd.factor(None, 0) == 1.0
    state = aimd.cut(None, 10.0)
    assert state == {"factor": 0.5, "cut_at": 10.0}
    assert aimd.cut(state, 11.0) is None  # within the cooldown: the same burst
    assert aimd.factor(state, 30.0) == pytest.approx(0.7)
    assert aimd.factor(state, 1000.0) == 1.0
    again = aimd.cut(state, 13.0)
    assert again["factor"] == pytest.approx(0.265)
    low = {"factor": 0.1, "cut_at": 0.0}
    assert aimd.cut(low, 5.0)["factor"] == pytest.approx(0.1)  # 0.15 * 0.5, floored


def test_quota_table_overrides_and_headroom():
    table = QuotaTable.parse(60, "gemini-3-pro-image@global=120, gemini-3.1-flash-image=30")
    assert table.per_second("gemini-3-pro-image", "global") == pytest.approx(120 * 0.95 / 60)
    assert table.per_second("gemini-3-pro-image", "us-east1") == pytest.approx(0.95)
    assert table.per_second("gemini-3.1-flash-image", "global") == pytest.approx(30 * 0.95 / 60)
    assert QuotaTable.parse(0, "").per_second("m", "global") == 0
