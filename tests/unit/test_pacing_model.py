"""The pacing model the mechanism was chosen with (bench/_pacing_model.py, issue 27): its
rules hold (no job lost, Cloud Tasks never dispatches faster than its rate, a refused push
is a delivery, a spent day is not called before its reset), so its numbers mean what
bench/RESULTS.md says. Seeded: the same run every time; no timing is asserted."""

from __future__ import annotations

from bench._pacing_model import Mechanism, Model, Platform, run_model

JOBS = 300


def test_no_job_is_lost_and_every_one_succeeds_under_each_mechanism():
    for mech in (
        Mechanism("hand-back"),
        Mechanism("wait", wait=300.0),
        Mechanism("tasks", kind="tasks"),
        Mechanism("keys", kind="keys", keys=20, wait=300.0),
    ):
        result = run_model(Platform(), mech, JOBS, 3.0)
        assert result["lost"] == 0 and result["outcomes"] == {"succeeded": JOBS}, mech
        assert result["deliveries_per_job"] >= 1.0


def test_a_cloud_tasks_queue_dispatches_each_job_once_at_no_more_than_its_rate():
    model = Model(Platform(), Mechanism("tasks", kind="tasks"), JOBS, 3.0, seed=1)
    result = model.run()
    assert result["deliveries_per_job"] == 1.0 and result["paced_dead_letters"] == 0
    starts = sorted(j.started for j in model.jobs)
    rate = Platform().per_second  # one location
    for i in range(len(starts) - 60):
        assert starts[i + 60] - starts[i] >= 60 / rate - 1.0  # never faster than the queue


def test_the_hand_back_churns_when_arrivals_outrun_the_quota():
    result = run_model(Platform(), Mechanism("hand-back"), JOBS, 3.0)
    assert result["deliveries_per_job"] > 2.0 and result["paced_dead_letters"] > 0


def test_a_full_function_refuses_pushes_unless_pubsub_holds_them():
    mech = Mechanism("wait", wait=300.0)
    refused = run_model(Platform(capacity=10), mech, JOBS, 3.0)
    held = run_model(Platform(capacity=10, refuse_when_full=False), mech, JOBS, 3.0)
    assert (
        refused["rejected"] > 0 and refused["deliveries_per_job"] > refused["invocations_per_job"]
    )
    assert held["rejected"] == 0 and held["deliveries_per_job"] == held["invocations_per_job"]


def test_with_hints_a_spent_day_is_not_called_again_before_its_reset():
    day = Platform(day_quota=100, day_reset=4 * 3600.0)
    today = run_model(day, Mechanism("hand-back"), JOBS, 1.0)
    hinted = run_model(day, Mechanism("hand-back", hints=True), JOBS, 1.0)
    assert today["calls_while_exhausted"] > 10 * hinted["calls_while_exhausted"]
    assert hinted["called_before_reset"] == 0
    assert hinted["outcomes"] == {"succeeded": 100, "failed: quota_exhausted": JOBS - 100}
