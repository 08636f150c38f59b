"""Operations in the deploy: log-based metrics, the dashboard and the alert policies.

The dashboard is a JSON template (terraform/dashboards/); it is rendered here with the
same variables monitoring.tf passes, parsed, and every metric it charts is checked against
the metrics the configuration defines.
"""

from __future__ import annotations

import json
import re

import pytest

from .conftest import TF_DIR, TerraformConfig, as_map, block, blocks

TEMPLATE = TF_DIR / "dashboards" / "operations.json.tftpl"
PREFIX = "imagegen"
LOG_METRICS = {"job_events", "job_seconds", "job_cost_usd", "vertex_calls", "models_retired"}


def _render() -> dict:
    values = {
        "title": "imagegen (imagegen)",
        "metric_prefix": f"logging.googleapis.com/user/{PREFIX}",
        "promql_metric_prefix": f"logging_googleapis_com:user_{PREFIX}",
        "submit_service": f"{PREFIX}-submit",
        "dead_letter_hold": f"{PREFIX}-dead-letter-hold",
        "failure_ratio_threshold": "0.2",
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == set(values), f"template variables {sorted(used)} != {sorted(values)}"
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return json.loads(text)


def test_dashboard_template_variables_match_monitoring_tf(tf: TerraformConfig) -> None:
    raw = tf.raw["monitoring.tf"]
    start = raw.index("templatefile(")
    call = raw[start : raw.index("\n  })", start)]
    passed = set(re.findall(r"^\s*(\w+)\s*=", call, re.M))
    used = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text(encoding="utf-8")))
    assert passed == used


def test_dashboard_charts_what_an_operator_needs() -> None:
    tiles = _render()["mosaicLayout"]["tiles"]
    titles = [t["widget"]["title"].lower() for t in tiles]
    for wanted in (
        "jobs by state per minute",
        "p50 and p95",
        "vertex ai calls by model and location",
        "vertex ai 429s",
        "dead-letter backlog",
        "spend per day",
        "5xx",
    ):
        assert any(wanted in t for t in titles), f"no dashboard chart for {wanted!r}: {titles}"
    # Tiles stay on the 48-column grid and never overlap.
    cells: set[tuple[int, int]] = set()
    for t in tiles:
        assert t["xPos"] + t["width"] <= 48
        mine = {
            (x, y)
            for x in range(t["xPos"], t["xPos"] + t["width"])
            for y in range(t["yPos"], t["yPos"] + t["height"])
        }
        assert not cells & mine, f"tile {t['widget']['title']!r} overlaps another"
        cells |= mine


def _metric_names(tf: TerraformConfig) -> dict[str, str]:
    """resource name -> metric name (below the prefix), checked against local.metric_names."""
    names = as_map(tf.locals["metric_names"])
    out = {}
    for r in tf.of_type("google_logging_metric"):
        assert r.body["name"] == "${local.metric_names." + r.name + "}"
        out[r.name] = names[r.name].removeprefix("${local.prefix}/")
    return out


def test_dashboard_reads_only_metrics_that_exist(tf: TerraformConfig) -> None:
    defined = set(_metric_names(tf).values())
    assert defined == LOG_METRICS
    text = json.dumps(_render())
    charted = set(re.findall(rf"logging.googleapis.com/user/{PREFIX}/(\w+)", text))
    charted |= {
        m.removesuffix("_sum")
        for m in re.findall(rf"logging_googleapis_com:user_{PREFIX}_(\w+)", text)
    }
    assert charted, "the dashboard charts no log-based metric"
    assert charted <= defined, f"charts of undefined metrics: {sorted(charted - defined)}"
    p95 = [
        ds["timeSeriesQuery"]["timeSeriesFilter"]["aggregation"]["crossSeriesReducer"]
        for t in _render()["mosaicLayout"]["tiles"]
        if "p95" in t["widget"]["title"]
        for ds in t["widget"]["xyChart"]["dataSets"]
    ]
    assert p95 == ["REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95"]


def test_log_metrics_read_the_fields_the_functions_write(tf: TerraformConfig) -> None:
    fields = {
        "job_events": {"state", "model"},
        "job_seconds": {"job_seconds", "state"},
        "job_cost_usd": {"cost_usd", "model"},
        "vertex_calls": {"vertex_status", "model", "location"},
        "models_retired": {"code", "model", "source"},
    }
    names = _metric_names(tf)
    for r in tf.of_type("google_logging_metric"):
        metric = names[r.name]
        body_text = json.dumps(r.body)
        read = set(re.findall(r"jsonPayload\.(\w+)", body_text)) - {"job_id"}
        assert read == fields[metric], f"{metric} reads {sorted(read)}"
        assert 'resource.type=\\"cloud_run_revision\\"' in body_text or "function_logs" in body_text


ALERTS = {
    "dead_letter_backlog": "num_undelivered_messages",
    "failure_ratio": "job_events",
    "model_retired": 'jsonPayload.code=\\"model_retired\\"',
    "submit_5xx": "response_code_class",
}


@pytest.mark.parametrize(("name", "needle"), sorted(ALERTS.items()))
def test_alert_policy(tf: TerraformConfig, name: str, needle: str) -> None:
    policy = tf.get("google_monitoring_alert_policy", name).body
    assert policy["notification_channels"] == "${var.notification_channels}"
    conditions = blocks(policy, "conditions")
    assert len(conditions) == 1
    assert needle in json.dumps(conditions[0]), f"{name} does not watch {needle}"
    doc = block(policy, "documentation")
    assert doc is not None
    assert "alert_documentation_suffix" in json.dumps(doc)


def test_failure_ratio_is_failed_over_finished(tf: TerraformConfig) -> None:
    cond = block(
        blocks(tf.get("google_monitoring_alert_policy", "failure_ratio").body, "conditions")[0],
        "condition_threshold",
    )
    assert 'state=\\"failed\\"' in json.dumps(cond["filter"])
    assert "succeeded|blocked|failed" in cond["denominator_filter"]
    assert cond["threshold_value"] == "${var.alert_thresholds.failure_ratio}"


def test_dead_letter_alert_watches_the_hold_subscription(tf: TerraformConfig) -> None:
    cond = block(
        blocks(tf.get("google_monitoring_alert_policy", "dead_letter_backlog").body, "conditions")[
            0
        ],
        "condition_threshold",
    )
    assert 'google_pubsub_subscription.hold["dead-letter"].name' in cond["filter"]
    assert cond["comparison"] == "COMPARISON_GT" and cond["threshold_value"] == 0


def test_model_retired_alert_is_rate_limited(tf: TerraformConfig) -> None:
    policy = tf.get("google_monitoring_alert_policy", "model_retired").body
    strategy = block(policy, "alert_strategy")
    assert strategy and block(strategy, "notification_rate_limit")


def test_spend_alert_at_80_percent_of_the_budget(tf: TerraformConfig) -> None:
    budget = tf.get("google_billing_budget", "project").body
    thresholds = sorted(float(b["threshold_percent"]) for b in blocks(budget, "threshold_rules"))
    assert 0.8 in thresholds
    dynamic = blocks(budget, "dynamic")
    rules = [d for d in dynamic if "all_updates_rule" in d]
    assert rules, "the budget does not notify var.notification_channels"
    assert "var.notification_channels" in json.dumps(rules)


def test_budget_currency_follows_the_billing_account(
    tf: TerraformConfig, tf_text_without_comments: str
) -> None:
    assert not re.search(r'currency_code\s*=\s*"', tf_text_without_comments)
    amount = block(
        block(tf.get("google_billing_budget", "project").body, "amount"), "specified_amount"
    )
    assert amount["currency_code"] == "${var.budget.currency_code}"


def test_no_plan_time_read_of_the_project(tf: TerraformConfig) -> None:
    """data "google_project" is read at plan time through the Cloud Resource Manager API,
    which a fresh project may not have enabled: the first plan would fail with 403."""
    assert not [d for d in tf.data_sources if d.type == "google_project"]
    assert "data.google_project." not in tf.all_text


def test_notification_channels_variable(tf: TerraformConfig) -> None:
    var = tf.variables["notification_channels"]
    assert var["default"] == []
    assert "notificationChannels" in json.dumps(var["validation"])


def test_functions_may_write_traces(tf: TerraformConfig) -> None:
    grant = tf.get("google_project_iam_member", "function_trace_agent").body
    assert grant["role"] == "roles/cloudtrace.agent"
    env = as_map(tf.locals["function_env"])
    assert "IMAGEGEN_TRACE_EXPORTER" in env
    assert "cloudtrace.googleapis.com" in tf.raw["apis.tf"]
