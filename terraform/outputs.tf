output "submit_url" {
  description = "Base URL of the submit API (POST $URL/v1/jobs, GET $URL/v1/jobs/<id>); calls need an identity token of an invoker_members principal."
  value       = google_cloudfunctions2_function.function["submit"].service_config[0].uri
}

output "uploads_bucket" {
  description = "Bucket where dropping a job file (JSON request) creates a job."
  value       = google_storage_bucket.uploads.name
}

output "outputs_bucket" {
  description = "Bucket holding generated images under jobs/<job_id>/ and upload results under results/."
  value       = google_storage_bucket.outputs.name
}

output "source_bucket" {
  description = "Bucket holding the function source archives."
  value       = google_storage_bucket.source.name
}

output "jobs_topic" {
  description = "Pub/Sub topic ID that carried job IDs to generate before issue 27; nothing publishes to it now, and what it still holds is forwarded to the job queues."
  value       = google_pubsub_topic.jobs.name
}

output "job_queues" {
  description = "Cloud Tasks queue IDs (in var.region) where jobs wait for their turn, keyed by model (default: every model without a queue of its own); inspect with gcloud tasks queues describe <id> --location=<region>."
  value       = { for key, queue in google_cloud_tasks_queue.jobs : key => queue.name }
}

output "dead_letter_topic" {
  description = "Pub/Sub topic ID receiving job messages that exhausted max_delivery_attempts."
  value       = google_pubsub_topic.dead_letter.name
}

output "dead_letter_hold_subscription" {
  description = "Pull subscription keeping every dead-lettered message for 7 days, for inspection or replay."
  value       = google_pubsub_subscription.hold["dead-letter"].name
}

output "function_service_accounts" {
  description = "Runtime service account e-mail of each function, keyed by account (submit, generate, on_upload, dead_letter, sweep, and webhooks: deliver_webhooks's)."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}

output "push_invoker_service_account" {
  description = "Service account whose OIDC token Pub/Sub push deliveries to generate, dead_letter and deliver_webhooks carry."
  value       = google_service_account.platform["push_invoker"].email
}

output "upload_trigger_service_account" {
  description = "Service account of the Eventarc trigger that invokes on_upload."
  value       = google_service_account.platform["upload_trigger"].email
}

output "scheduler_service_account" {
  description = "Service account Cloud Scheduler uses to invoke sweep."
  value       = google_service_account.platform["scheduler"].email
}

output "build_service_account" {
  description = "Service account Cloud Build uses to build the function containers."
  value       = google_service_account.platform["build"].email
}

output "budget_name" {
  description = "Resource name of the billing budget, or null when budget.enabled is false."
  value       = one(google_billing_budget.project[*].name)
}

output "events_topic" {
  description = "Pub/Sub topic carrying one CloudEvent per job state change (docs/events.md); subscribe with gcloud pubsub subscriptions create --topic=<this>."
  value       = google_pubsub_topic.job_events.name
}

output "webhook_secret_id" {
  description = "Secret Manager secret holding the webhook signing secret (whsec_...); receivers verify with it: gcloud secrets versions access latest --secret=<this>."
  value       = google_secret_manager_secret.webhook.secret_id
}

output "studio_url" {
  description = "The studio (playground and gallery): behind IAP, or via `gcloud run services proxy` when studio_iap is false."
  value       = var.studio_enabled ? google_cloud_run_v2_service.studio[0].uri : null
}

output "labels" {
  description = "Labels every labelled resource of this module should carry (var.labels with app=imagegen and managed-by=terraform): the module sets none itself, so the caller gives them to its google provider as default_labels (examples/deploy does)."
  value       = local.labels
}

output "vertex_ai_service_agent" {
  description = "The Vertex AI service agent, which runs batch prediction jobs: it reads batch inputs and writes their outputs under batches/ of the outputs bucket (batches.tf)."
  value       = google_project_service_identity.aiplatform.email
}
