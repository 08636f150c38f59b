# Operations: log-based metrics from the functions' structured logs, one
# dashboard and the alert policies an operator needs, all sent to
# var.notification_channels. The fields these metrics read are written by
# functions/imagegen (see docs/deploy.md, "Watching it run"):
#
#   state        job state at submit and at each terminal transition
#   job_seconds  submit -> terminal time, on terminal lines
#   cost_usd     the job's catalog-estimated cost, on terminal lines
#   vertex_status one line per Vertex AI call: "200", "429", other status codes
#   code         "model_retired": the lifecycle autopilot retired a model (one line
#                per retirement, lifecycle.tf); "retired_model_requested" (not alerted):
#                a request named a retired model
#
# Gen2 functions log as Cloud Run revisions (resource.type cloud_run_revision,
# resource.labels.service_name = the function name).

locals {
  # Every log line of this deployment's functions.
  function_logs = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=~\"^${local.prefix}-\""

  metric_prefix = "logging.googleapis.com/user/${local.prefix}"
  metric_names = {
    job_events   = "${local.prefix}/job_events"
    job_seconds  = "${local.prefix}/job_seconds"
    job_cost_usd = "${local.prefix}/job_cost_usd"
    vertex_calls = "${local.prefix}/vertex_calls"
    # the lifecycle autopilot (lifecycle.tf)
    models_retired = "${local.prefix}/models_retired"
  }

  alert_documentation_suffix = "Runbook: docs/deploy.md, section \"Watching it run\"."
}

# --- Log-based metrics -------------------------------------------------------

resource "google_logging_metric" "job_events" {
  project     = var.project_id
  name        = local.metric_names.job_events
  description = "Jobs entering a state (queued at submit; succeeded, blocked, failed, cancelled at the end)."
  filter      = "${local.function_logs} AND jsonPayload.job_id:* AND jsonPayload.state:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "state"
      value_type  = "STRING"
      description = "queued, succeeded, blocked, failed or cancelled"
    }
    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id the job ran on (or asked for)"
    }
  }

  label_extractors = {
    state = "EXTRACT(jsonPayload.state)"
    model = "EXTRACT(jsonPayload.model)"
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_logging_metric" "job_seconds" {
  project     = var.project_id
  name        = local.metric_names.job_seconds
  description = "Seconds from submit to a terminal state, per finished job."
  filter      = "${local.function_logs} AND jsonPayload.job_seconds:*"

  value_extractor = "EXTRACT(jsonPayload.job_seconds)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "s"

    labels {
      key         = "state"
      value_type  = "STRING"
      description = "Terminal state"
    }
  }

  label_extractors = {
    state = "EXTRACT(jsonPayload.state)"
  }

  # 0.5 s .. ~3.5 h in 24 buckets (x1.5 each).
  bucket_options {
    exponential_buckets {
      num_finite_buckets = 24
      growth_factor      = 1.5
      scale              = 0.5
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_logging_metric" "job_cost_usd" {
  project     = var.project_id
  name        = local.metric_names.job_cost_usd
  description = "Estimated cost (catalog prices, USD) of each finished job; its _sum per day is the spend chart."
  filter      = "${local.function_logs} AND jsonPayload.cost_usd:*"

  value_extractor = "EXTRACT(jsonPayload.cost_usd)"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "DISTRIBUTION"
    unit        = "USD"

    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id"
    }
  }

  label_extractors = {
    model = "EXTRACT(jsonPayload.model)"
  }

  bucket_options {
    exponential_buckets {
      num_finite_buckets = 16
      growth_factor      = 2
      scale              = 0.01
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_logging_metric" "vertex_calls" {
  project     = var.project_id
  name        = local.metric_names.vertex_calls
  description = "Vertex AI calls by model, location and HTTP status (429 = quota exhausted)."
  filter      = "${local.function_logs} AND jsonPayload.vertex_status:*"

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"

    labels {
      key         = "model"
      value_type  = "STRING"
      description = "Model id"
    }
    labels {
      key         = "location"
      value_type  = "STRING"
      description = "Vertex AI location (global or a region)"
    }
    labels {
      key         = "status"
      value_type  = "STRING"
      description = "HTTP status of the call (200 on success)"
    }
  }

  label_extractors = {
    model    = "EXTRACT(jsonPayload.model)"
    location = "EXTRACT(jsonPayload.location)"
    status   = "EXTRACT(jsonPayload.vertex_status)"
  }

  depends_on = [time_sleep.apis_enabled]
}

# --- Dashboard -----------------------------------------------------------------

resource "google_monitoring_dashboard" "operations" {
  project = var.project_id
  dashboard_json = templatefile("${path.module}/dashboards/operations.json.tftpl", {
    title                   = "imagegen (${local.prefix})"
    metric_prefix           = local.metric_prefix
    promql_metric_prefix    = "logging_googleapis_com:user_${replace(local.prefix, "-", "_")}"
    submit_service          = google_cloudfunctions2_function.function["submit"].name
    dead_letter_hold        = google_pubsub_subscription.hold["dead-letter"].name
    failure_ratio_threshold = var.alert_thresholds.failure_ratio
  })

  # The charts read the log-based metrics: after Cloud Monitoring knows them (waits.tf).
  depends_on = [
    time_sleep.apis_enabled,
    time_sleep.log_metrics_ready,
  ]
}

# --- Alert policies --------------------------------------------------------------

# Every dead-lettered job message is also kept on the hold subscription until an
# operator acknowledges it: a backlog above zero means jobs failed for a reason
# retries could not fix.
resource "google_monitoring_alert_policy" "dead_letter_backlog" {
  project               = var.project_id
  display_name          = "${local.prefix}: dead-lettered jobs waiting"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "ERROR"

  conditions {
    display_name = "dead-letter hold subscription backlog > 0"
    condition_threshold {
      filter          = "resource.type=\"pubsub_subscription\" AND resource.labels.subscription_id=\"${google_pubsub_subscription.hold["dead-letter"].name}\" AND metric.type=\"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "60s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Jobs exhausted their deliveries and were dead-lettered (each is failed with its last error). Inspect them with `gcloud pubsub subscriptions pull ${google_pubsub_subscription.hold["dead-letter"].name} --limit=10` and acknowledge once handled. ${local.alert_documentation_suffix}"
  }

  alert_strategy {
    auto_close = "86400s"
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_monitoring_alert_policy" "failure_ratio" {
  project               = var.project_id
  display_name          = "${local.prefix}: job failure ratio above ${var.alert_thresholds.failure_ratio * 100} %"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "WARNING"

  conditions {
    display_name = "failed / finished jobs over 15 min"
    condition_threshold {
      filter             = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/job_events\" AND metric.labels.state=\"failed\""
      denominator_filter = "resource.type=\"cloud_run_revision\" AND metric.type=\"${local.metric_prefix}/job_events\" AND metric.labels.state=monitoring.regex.full_match(\"succeeded|blocked|failed\")"
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_thresholds.failure_ratio
      duration           = "0s"
      aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "900s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "More than ${var.alert_thresholds.failure_ratio * 100} % of the jobs that finished in the last 15 minutes failed. Group the `job failed` log lines by `error` to see why (quota, safety, model not served, Vertex outages). ${local.alert_documentation_suffix}"
  }

  # The condition reads the job_events log-based metric: Cloud Monitoring refuses the
  # policy (404) until the new metric is known, up to 10 minutes (waits.tf).
  depends_on = [time_sleep.log_metrics_ready]
}

# A log-match condition: one notification per hour at most, with the line.
resource "google_monitoring_alert_policy" "model_retired" {
  project               = var.project_id
  display_name          = "${local.prefix}: a model was retired"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "WARNING"

  conditions {
    display_name = "model_retired log line"
    condition_matched_log {
      filter = "${local.function_logs} AND jsonPayload.code=\"model_retired\""
      label_extractors = {
        model       = "EXTRACT(jsonPayload.model)"
        replacement = "EXTRACT(jsonPayload.replacement)"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The lifecycle autopilot retired a model in the live catalog: Vertex answered 404 NOT_FOUND for it everywhere the catalog lists it, or the daily Model Garden check no longer found it (or an admin ran `imagegen catalog retire`). Its jobs now go to the replacement in the line (or are refused when retired_model_policy = \"refuse\"). Check `imagegen models` and `imagegen catalog show`; see docs/models.md. ${local.alert_documentation_suffix}"
  }

  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "604800s"
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_monitoring_alert_policy" "submit_5xx" {
  project               = var.project_id
  display_name          = "${local.prefix}: submit API answers 5xx"
  combiner              = "OR"
  notification_channels = var.notification_channels
  severity              = "ERROR"

  conditions {
    display_name = "5xx responses of ${google_cloudfunctions2_function.function["submit"].name} over 5 min"
    condition_threshold {
      filter          = "resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${google_cloudfunctions2_function.function["submit"].name}\" AND metric.type=\"run.googleapis.com/request_count\" AND metric.labels.response_code_class=\"5xx\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_thresholds.submit_5xx_per_5min
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The submit API answered 5xx: 503 means Firestore or Pub/Sub refused (nothing was queued; callers may retry with the same Idempotency-Key), 500 an unhandled error (see `unhandled error` log lines). ${local.alert_documentation_suffix}"
  }

  depends_on = [time_sleep.apis_enabled]
}

# Spend at 80 % of the budget: Cloud Monitoring cannot read billing data, so this
# alert is the budget's own 80 % threshold rule sent to the same notification
# channels (budget.tf, all_updates_rule). It exists when var.budget.enabled.
