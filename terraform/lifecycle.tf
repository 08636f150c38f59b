# Model lifecycle autopilot (issue 17; docs/models.md).
#
# - Cloud Scheduler calls sweep once a day with ?mode=models: it asks Vertex AI Model
#   Garden (ModelGardenService.GetPublisherModel) about each catalog model, records the
#   launch stage, and retires in the catalog overlay (Firestore) any model Google no longer
#   publishes, before a job is sent to it. No generation call is spent.
# - The sweeper's service account may read Vertex AI resources, nothing more:
#   roles/aiplatform.viewer is the read-only predefined Vertex AI role
#   (https://cloud.google.com/iam/docs/roles-permissions/aiplatform, read 2026-11-25). It
#   already writes Firestore (roles/datastore.user, iam.tf).
# - One `model_retired` log line per retirement (the autopilot's transaction winner, or an
#   admin's `imagegen catalog retire`) feeds a log-based metric and the alert policy
#   google_monitoring_alert_policy.model_retired (monitoring.tf).

resource "google_cloud_scheduler_job" "model_check" {
  name        = "${local.prefix}-model-check"
  project     = var.project_id
  region      = var.region
  description = "Daily look-ahead: ask Model Garden about each catalog model; retire the ones gone."
  schedule    = var.model_check_schedule
  time_zone   = var.sweep_time_zone

  attempt_deadline = "300s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "60s"
    max_backoff_duration = "600s"
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.function["sweep"].service_config[0].uri}?mode=models"
    body        = base64encode("{}")
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.scheduler.email
      audience              = google_cloudfunctions2_function.function["sweep"].service_config[0].uri
    }
  }

  depends_on = [
    google_project_service.this,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}

resource "google_project_iam_member" "sweep_reads_model_garden" {
  project = var.project_id
  role    = "roles/aiplatform.viewer"
  member  = google_service_account.function["sweep"].member
}

resource "google_logging_metric" "models_retired" {
  project     = var.project_id
  name        = local.metric_names.models_retired
  description = "Models the lifecycle autopilot (or an admin) retired in the live catalog, by model and source."
  filter      = "${local.function_logs} AND jsonPayload.code=\"model_retired\""

  metric_descriptor {
    metric_kind = "DELTA"
    value_type  = "INT64"
    unit        = "1"
    labels {
      key        = "model"
      value_type = "STRING"
    }
    labels {
      key        = "source"
      value_type = "STRING"
    }
  }

  label_extractors = {
    model  = "EXTRACT(jsonPayload.model)"
    source = "EXTRACT(jsonPayload.source)"
  }
}
