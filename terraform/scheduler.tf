# Cloud Scheduler calls sweep with an OIDC token of the scheduler account,
# which holds roles/run.invoker on the sweep service only (iam.tf):
#   sweep        every few minutes: requeue or fail stuck jobs, republish events
#   model-check  daily, ?mode=models: the model lifecycle check (lifecycle.tf)
locals {
  sweep_schedules = {
    sweep = {
      description      = "Requeue or fail imagegen jobs stuck past their lease or deadline."
      schedule         = var.sweep_schedule
      query            = ""
      attempt_deadline = "320s" # the sweep's timeout (300 s, functions.tf) and a margin
      retry_count      = 1
      min_backoff      = "10s"
      max_backoff      = "60s"
    }
    model-check = {
      description      = "Daily look-ahead: ask Model Garden about each catalog model; retire the ones gone."
      schedule         = var.model_check_schedule
      query            = "?mode=models"
      attempt_deadline = "300s"
      retry_count      = 3
      min_backoff      = "60s"
      max_backoff      = "600s"
    }
  }
}

resource "google_cloud_scheduler_job" "sweep" {
  for_each = local.sweep_schedules

  name        = "${local.prefix}-${each.key}"
  project     = var.project_id
  region      = var.region
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = var.sweep_time_zone

  attempt_deadline = each.value.attempt_deadline

  retry_config {
    retry_count          = each.value.retry_count
    min_backoff_duration = each.value.min_backoff
    max_backoff_duration = each.value.max_backoff
  }

  http_target {
    http_method = "POST"
    uri         = "${google_cloudfunctions2_function.function["sweep"].service_config[0].uri}${each.value.query}"
    body        = base64encode("{}")
    headers = {
      "Content-Type" = "application/json"
    }

    oidc_token {
      service_account_email = google_service_account.platform["scheduler"].email
      audience              = google_cloudfunctions2_function.function["sweep"].service_config[0].uri
    }
  }

  depends_on = [
    time_sleep.apis_enabled,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}

moved {
  from = google_cloud_scheduler_job.sweep
  to   = google_cloud_scheduler_job.sweep["sweep"]
}

moved {
  from = google_cloud_scheduler_job.model_check
  to   = google_cloud_scheduler_job.sweep["model-check"]
}
