# Waits of a first apply. Terraform orders calls by their dependencies, but Google's
# control planes answer before everything they changed is usable everywhere: a resource
# created right after an API was enabled, an IAM grant was made or a log-based metric was
# created can fail although its dependency "exists". `depends_on` orders; these wait.
# A time_sleep waits only when it is created (or replaced, when one of its triggers
# changes): later applies pass straight through.
# tests/terraform/test_rehearsal.py checks that every function, service and alert that
# needs one sits behind the right wait.
#
# Sources (read 2026-12-06):
# - GoogleCloudPlatform/terraform-genai-doc-summarization (a Jump Start solution) grants
#   roles/eventarc.serviceAgent to the agent it mints and waits (time_sleep) after
#   enabling the APIs and after the grants its Eventarc trigger and function build need.
# - Cloud Monitoring answers an alert policy on a log-based metric created seconds before
#   with 404 "Cannot find metric(s) ... If a metric was created recently, it could take
#   up to 10 minutes to become available": hashicorp/terraform-provider-google issue 11102
#   (still reported with 7.28.0, 2026-04), GoogleCloudPlatform/cloud-foundation-fabric
#   pull request 3739.
# - IAM: a change of an allow policy "typically 2 minutes, potentially 7 minutes or
#   longer" to propagate (https://cloud.google.com/iam/docs/access-change-propagation);
#   grants_propagated waits 3 minutes, more than the typical case, as the Jump Start
#   solutions do, without holding every first apply for the worst case.

# APIs enabled in this apply (scripts/enable_apis.sh enables them before the first plan
# in Cloud Build; a caller without it gets them here).
resource "time_sleep" "apis_enabled" {
  create_duration = "60s"

  triggers = {
    apis = join(",", sort(tolist(local.apis)))
  }

  depends_on = [google_project_service.this]
}

# The grants a function build, a storage trigger or a function's start needs: the build
# account's (logs, images, source), the Eventarc and Cloud Storage agents' and the
# trigger account's, deliver_webhooks reading its secret when its revision starts, and
# what a first batch needs (batches.tf: the Vertex AI agent's access to batches/, the
# sweep's batch jobs and bucket), so no sweep runs before them.
resource "time_sleep" "grants_propagated" {
  create_duration = "180s"

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.build_staging_access,
    google_project_iam_member.gcs_agent_pubsub_publisher,
    google_project_iam_member.upload_trigger_event_receiver,
    google_project_iam_member.eventarc_service_agent,
    google_secret_manager_secret_iam_member.webhooks_read_secret,
    google_storage_bucket_iam_member.batch,
    google_project_iam_member.sweep_batch_jobs,
  ]
}

# Log-based metrics an alert policy reads (monitoring.tf): the alert waits until Cloud
# Monitoring knows the metric. Replaced, and so waits again, when a metric is replaced.
resource "time_sleep" "log_metrics_ready" {
  create_duration = "600s"

  triggers = {
    job_events   = google_logging_metric.job_events.id
    job_seconds  = google_logging_metric.job_seconds.id
    job_cost_usd = google_logging_metric.job_cost_usd.id
    vertex_calls = google_logging_metric.vertex_calls.id
  }
}
