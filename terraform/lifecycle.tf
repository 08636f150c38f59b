# Model lifecycle autopilot (issue 17; docs/models.md).
#
# - Cloud Scheduler calls sweep once a day with ?mode=models (the model-check
#   schedule in scheduler.tf): it asks Vertex AI Model
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
