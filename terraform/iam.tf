# Identities and grants. One service account per function, one for Pub/Sub
# push deliveries, one for the Eventarc storage trigger, one for Cloud
# Scheduler and one for the function builds. Every role sits at the narrowest
# scope that works; no primitive roles, no allUsers/allAuthenticatedUsers.

locals {
  function_accounts = {
    submit      = "Submit API: validates requests, creates jobs, publishes job IDs."
    generate    = "Generate worker: calls Vertex AI, writes images to the outputs bucket."
    on_upload   = "Upload handler: turns job files in the uploads bucket into jobs."
    dead_letter = "Dead-letter handler: marks dead-lettered jobs failed."
    sweep       = "Sweeper: fails or requeues stale jobs on a schedule."
    webhooks    = "Webhook deliverer: signs and POSTs job events, answers uploads."
  }

  # Functions that read or write job documents.
  firestore_users = ["submit", "generate", "on_upload", "dead_letter", "sweep", "webhooks"]

  # Functions that publish job IDs to the jobs topic.
  jobs_publishers = ["submit", "on_upload", "sweep"]
}

resource "google_service_account" "function" {
  for_each = local.function_accounts

  project      = var.project_id
  account_id   = "${local.prefix}-${replace(each.key, "_", "-")}"
  display_name = "imagegen ${each.key} function"
  description  = each.value

  depends_on = [google_project_service.this]
}

resource "google_service_account" "push_invoker" {
  project      = var.project_id
  account_id   = "${local.prefix}-push-invoker"
  display_name = "imagegen Pub/Sub push invoker"
  description  = "Identity in the OIDC token of Pub/Sub pushes to generate and dead_letter."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "upload_trigger" {
  project      = var.project_id
  account_id   = "${local.prefix}-upload-trigger"
  display_name = "imagegen upload trigger"
  description  = "Eventarc trigger identity that invokes on_upload."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "scheduler" {
  project      = var.project_id
  account_id   = "${local.prefix}-scheduler"
  display_name = "imagegen sweep scheduler"
  description  = "Cloud Scheduler identity that invokes sweep."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "${local.prefix}-build"
  display_name = "imagegen function builds"
  description  = "Cloud Build identity that builds the function containers."

  depends_on = [google_project_service.this]
}

# --- Firestore ---------------------------------------------------------------
# roles/datastore.user at project level: Firestore data access has no
# per-collection IAM, and this project-level grant is what the client
# libraries need (tighten further with an IAM condition on the database name
# if the project holds other Firestore databases).
resource "google_project_iam_member" "firestore_user" {
  for_each = toset(local.firestore_users)

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.function[each.key].member
}

# --- Vertex AI: generate only ---------------------------------------------------
resource "google_project_iam_member" "generate_vertex_user" {
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.function["generate"].member
}

# --- Pub/Sub ---------------------------------------------------------------------
resource "google_pubsub_topic_iam_member" "jobs_publisher" {
  for_each = toset(local.jobs_publishers)

  project = var.project_id
  topic   = google_pubsub_topic.jobs.name
  role    = "roles/pubsub.publisher"
  member  = google_service_account.function[each.key].member
}

# The Pub/Sub service agent forwards undeliverable messages to the
# dead-letter topic and acknowledges them on the source subscription.
resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_service_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_source" {
  for_each = { for k, s in local.push_subscriptions : k => s if s.dead_letter_topic != null }

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

moved {
  from = google_pubsub_subscription_iam_member.dead_letter_source_subscriber
  to   = google_pubsub_subscription_iam_member.dead_letter_source["generate"]
}

moved {
  from = google_pubsub_subscription_iam_member.webhooks_dead_letter_source["deliver-webhooks"]
  to   = google_pubsub_subscription_iam_member.dead_letter_source["deliver-webhooks"]
}

moved {
  from = google_pubsub_subscription_iam_member.webhooks_dead_letter_source["webhook-retries"]
  to   = google_pubsub_subscription_iam_member.dead_letter_source["webhook-retries"]
}

# The Pub/Sub service agent mints the push OIDC tokens for push_invoker.
resource "google_service_account_iam_member" "pubsub_mints_push_tokens" {
  service_account_id = google_service_account.push_invoker.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# --- Cloud Storage ---------------------------------------------------------------
# Storage triggers: the Cloud Storage service agent publishes object
# notifications to the Eventarc transport topic.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "gcs_agent_pubsub_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# generate writes images (and may overwrite them on retry: objectUser has
# create + delete) under jobs/<id>/ of the outputs bucket.
resource "google_storage_bucket_iam_member" "generate_outputs" {
  bucket = google_storage_bucket.outputs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.function["generate"].member
}

# generate reads reference images from the uploads bucket and the extra
# reference buckets.
resource "google_storage_bucket_iam_member" "generate_reference_reader" {
  for_each = toset(local.reference_buckets)

  bucket = each.value
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["generate"].member

  depends_on = [google_storage_bucket.uploads]
}

# on_upload reads job files from uploads...
resource "google_storage_bucket_iam_member" "on_upload_reads_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["on_upload"].member
}

# ...and writes its results only under results/ of the OUTPUTS bucket, never
# into uploads, so it can never trigger itself.
resource "google_storage_bucket_iam_member" "on_upload_writes_results" {
  bucket = google_storage_bucket.outputs.name
  role   = "roles/storage.objectCreator"
  member = google_service_account.function["on_upload"].member

  condition {
    title       = "results-prefix-only"
    description = "on_upload may create objects under results/ only."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.outputs.name}/objects/results/\")"
  }
}

# submit signs read URLs for outputs (optional): a signed URL carries the
# signer's access, and signing without a key goes through signBlob on itself.
resource "google_storage_bucket_iam_member" "submit_signs_outputs" {
  count = var.signed_url_access ? 1 : 0

  bucket = google_storage_bucket.outputs.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.function["submit"].member
}

resource "google_service_account_iam_member" "submit_sign_blob" {
  count = var.signed_url_access ? 1 : 0

  service_account_id = google_service_account.function["submit"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function["submit"].member
}

# --- Traces ------------------------------------------------------------------------
# Every function writes its job spans to Cloud Trace (cloudtrace.traces.patch).
resource "google_project_iam_member" "function_trace_agent" {
  for_each = var.tracing ? local.function_accounts : {}

  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = google_service_account.function[each.key].member
}

# --- Invocation ----------------------------------------------------------------
# Gen2 functions are Cloud Run services with the function's name; run.invoker
# is granted per service.
resource "google_cloud_run_v2_service_iam_member" "submit_invokers" {
  for_each = toset(var.invoker_members)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["submit"].name
  role     = "roles/run.invoker"
  member   = each.value
}

# Every other function has one caller (local.functions[*].invoker): the push
# invoker (generate, dead_letter, deliver_webhooks), the Eventarc trigger
# (on_upload) or Cloud Scheduler (sweep). Keyed by names known at plan time
# (the accounts' members are not, on a first deploy).
locals {
  invokers = {
    push_invoker   = google_service_account.push_invoker.member
    upload_trigger = google_service_account.upload_trigger.member
    scheduler      = google_service_account.scheduler.member
  }
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = { for k, f in local.functions : k => f.invoker if f.invoker != null }

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.key].name
  role     = "roles/run.invoker"
  member   = local.invokers[each.value]
}

moved {
  from = google_cloud_run_v2_service_iam_member.push_invokes_generate
  to   = google_cloud_run_v2_service_iam_member.invoker["generate"]
}

moved {
  from = google_cloud_run_v2_service_iam_member.push_invokes_dead_letter
  to   = google_cloud_run_v2_service_iam_member.invoker["dead_letter"]
}

moved {
  from = google_cloud_run_v2_service_iam_member.push_invokes_deliver_webhooks
  to   = google_cloud_run_v2_service_iam_member.invoker["deliver_webhooks"]
}

moved {
  from = google_cloud_run_v2_service_iam_member.upload_trigger_invokes_on_upload
  to   = google_cloud_run_v2_service_iam_member.invoker["on_upload"]
}

moved {
  from = google_cloud_run_v2_service_iam_member.scheduler_invokes_sweep
  to   = google_cloud_run_v2_service_iam_member.invoker["sweep"]
}

resource "google_project_iam_member" "upload_trigger_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.upload_trigger.member
}

# --- Function builds ----------------------------------------------------------
# Since mid-2024 new projects build with the Compute Engine default account,
# which may lack build permissions; a dedicated build account avoids that.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# The build reads the source archive from our bucket...
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# ...and the copies Cloud Functions stages in buckets it creates itself
# (gcf-v2-sources-*, gcf-v2-uploads-*), and it pushes the built image.
#
# Project-level Storage Object Admin, unconditioned, as Google documents for a
# user-specified build service account ("Storage Object Admin - for retrieving
# the function source from the Cloud Storage bucket, and to store build images
# in Artifact Registry": https://cloud.google.com/run/docs/configuring/services/build-service-account
# and https://cloud.google.com/functions/docs/securing/build-custom-sa, read
# 2026-11-25). An earlier version narrowed it with an IAM condition on those
# bucket names; the names are not a documented contract, the condition needed
# the project number at plan time, and nothing offline can prove the narrower
# grant lets a build finish, so the documented grant is used. What it widens:
# this account (used only by Cloud Build for these five functions, no key, no
# user can act as it without iam.serviceAccountUser) can also read and write
# objects in the project's other buckets during a build.
resource "google_project_iam_member" "build_staging_access" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = google_service_account.build.member
}
