# Cloud Scheduler calls sweep with an OIDC token of the scheduler account,
# which holds roles/run.invoker on the sweep service only (iam.tf).

resource "google_cloud_scheduler_job" "sweep" {
  name        = "${local.prefix}-sweep"
  project     = var.project_id
  region      = var.region
  description = "Requeue or fail imagegen jobs stuck past their lease or deadline."
  schedule    = var.sweep_schedule
  time_zone   = var.sweep_time_zone

  attempt_deadline = "120s"

  retry_config {
    retry_count          = 1
    min_backoff_duration = "10s"
    max_backoff_duration = "60s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.function["sweep"].service_config[0].uri
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
