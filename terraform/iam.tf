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
}

resource "google_service_account" "function" {
  for_each = local.function_accounts

  project      = var.project_id
  account_id   = "${local.prefix}-${replace(each.key, "_", "-")}"
  display_name = "imagegen ${each.key} function"
  description  = each.value

  depends_on = [time_sleep.apis_enabled]
}

# The accounts Google's services act as on this deployment's behalf: Pub/Sub
# pushes, the Eventarc storage trigger, Cloud Scheduler and the function
# builds. account_id is <prefix>-<key, "_" -> "-">.
locals {
  platform_accounts = {
    push_invoker = {
      display_name = "imagegen Pub/Sub push invoker"
      description  = "Identity in the OIDC token of Pub/Sub pushes to generate and dead_letter."
    }
    task_invoker = {
      display_name = "imagegen Cloud Tasks invoker"
      description  = "Identity in the OIDC token of Cloud Tasks dispatches of jobs to generate (tasks.tf)."
    }
    upload_trigger = {
      display_name = "imagegen upload trigger"
      description  = "Eventarc trigger identity that invokes on_upload."
    }
    scheduler = {
      display_name = "imagegen sweep scheduler"
      description  = "Cloud Scheduler identity that invokes sweep."
    }
    build = {
      display_name = "imagegen function builds"
      description  = "Cloud Build identity that builds the function containers."
    }
  }
}

resource "google_service_account" "platform" {
  for_each = local.platform_accounts

  project      = var.project_id
  account_id   = "${local.prefix}-${replace(each.key, "_", "-")}"
  display_name = each.value.display_name
  description  = each.value.description

  depends_on = [time_sleep.apis_enabled]
}

moved {
  from = google_service_account.push_invoker
  to   = google_service_account.platform["push_invoker"]
}

moved {
  from = google_service_account.upload_trigger
  to   = google_service_account.platform["upload_trigger"]
}

moved {
  from = google_service_account.scheduler
  to   = google_service_account.platform["scheduler"]
}

moved {
  from = google_service_account.build
  to   = google_service_account.platform["build"]
}

# --- Firestore ---------------------------------------------------------------
# roles/datastore.user at project level: Firestore data access has no
# per-collection IAM, and this project-level grant is what the client
# libraries need (tighten further with an IAM condition on the database name
# if the project holds other Firestore databases).
resource "google_project_iam_member" "firestore_user" {
  for_each = local.function_accounts # every function reads or writes job documents

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
# Who publishes where ("<topic>/<publisher>"), topic by topic, never
# project-wide. Nobody publishes job IDs any more: jobs are Cloud Tasks tasks
# (tasks.tf, issue 27), and the jobs topic only drains what it held. Job
# events from every function that changes job states (events.tf); the Pub/Sub
# service agent forwards undeliverable messages to the dead-letter topics (and
# acknowledges them on the source subscriptions, below); deliver_webhooks
# dead-letters webhook events after >= 24 h of failures; the sweeper queues
# due webhook retries. The studio's grants are in studio.tf (it is optional).
locals {
  topic_publishers = {
    "job-events/submit"                 = { topic = google_pubsub_topic.job_events.name, member = google_service_account.function["submit"].member }
    "job-events/generate"               = { topic = google_pubsub_topic.job_events.name, member = google_service_account.function["generate"].member }
    "job-events/on_upload"              = { topic = google_pubsub_topic.job_events.name, member = google_service_account.function["on_upload"].member }
    "job-events/dead_letter"            = { topic = google_pubsub_topic.job_events.name, member = google_service_account.function["dead_letter"].member }
    "job-events/sweep"                  = { topic = google_pubsub_topic.job_events.name, member = google_service_account.function["sweep"].member }
    "dead-letter/pubsub-agent"          = { topic = google_pubsub_topic.dead_letter.name, member = local.pubsub_service_agent }
    "webhooks-dead-letter/pubsub-agent" = { topic = google_pubsub_topic.webhooks_dead_letter.name, member = local.pubsub_service_agent }
    "webhooks-dead-letter/webhooks"     = { topic = google_pubsub_topic.webhooks_dead_letter.name, member = google_service_account.function["webhooks"].member }
    "webhook-retries/sweep"             = { topic = google_pubsub_topic.webhook_retries.name, member = google_service_account.function["sweep"].member }
  }
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = local.topic_publishers

  project = var.project_id
  topic   = each.value.topic
  role    = "roles/pubsub.publisher"
  member  = each.value.member
}

moved {
  from = google_pubsub_topic_iam_member.job_events_publisher["submit"]
  to   = google_pubsub_topic_iam_member.publisher["job-events/submit"]
}

moved {
  from = google_pubsub_topic_iam_member.job_events_publisher["generate"]
  to   = google_pubsub_topic_iam_member.publisher["job-events/generate"]
}

moved {
  from = google_pubsub_topic_iam_member.job_events_publisher["on_upload"]
  to   = google_pubsub_topic_iam_member.publisher["job-events/on_upload"]
}

moved {
  from = google_pubsub_topic_iam_member.job_events_publisher["dead_letter"]
  to   = google_pubsub_topic_iam_member.publisher["job-events/dead_letter"]
}

moved {
  from = google_pubsub_topic_iam_member.job_events_publisher["sweep"]
  to   = google_pubsub_topic_iam_member.publisher["job-events/sweep"]
}

moved {
  from = google_pubsub_topic_iam_member.dead_letter_publisher
  to   = google_pubsub_topic_iam_member.publisher["dead-letter/pubsub-agent"]
}

moved {
  from = google_pubsub_topic_iam_member.webhooks_dead_letter_publisher["agent"]
  to   = google_pubsub_topic_iam_member.publisher["webhooks-dead-letter/pubsub-agent"]
}

moved {
  from = google_pubsub_topic_iam_member.webhooks_dead_letter_publisher["function"]
  to   = google_pubsub_topic_iam_member.publisher["webhooks-dead-letter/webhooks"]
}

moved {
  from = google_pubsub_topic_iam_member.sweep_publishes_webhook_retries
  to   = google_pubsub_topic_iam_member.publisher["webhook-retries/sweep"]
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
  service_account_id = google_service_account.platform["push_invoker"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_service_agent
}

# --- Cloud Storage ---------------------------------------------------------------
# Storage triggers: the Cloud Storage service agent publishes object
# notifications to the Eventarc transport topic.
data "google_storage_project_service_account" "gcs" {
  project = var.project_id

  # Not time_sleep.apis_enabled: a data source whose dependency is about to be created is
  # read during apply, so on an existing deployment its e-mail would be unknown at plan
  # and the grant below planned for replacement. The Storage API being enabled is enough.
  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "gcs_agent_pubsub_publisher" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

# What each function may do in the buckets ("<account>/<bucket>"):
#   generate  writes images (and may overwrite them on retry: objectUser has
#             create + delete) under jobs/<id>/ of the outputs bucket
#   on_upload reads job files from uploads, and writes its results only under
#             results/ of the OUTPUTS bucket, never into uploads, so it can
#             never trigger itself
#   submit    signs read URLs for outputs (optional): a signed URL carries the
#             signer's access, and signing without a key goes through
#             signBlob on itself (below)
#   webhooks  the same for URLs in webhook payloads and upload answers, and
#             rewrites upload answers when the job ends (create + overwrite)
# results_only: the IAM condition's description, limiting the grant to
# results/ of the bucket (null: the whole bucket).
locals {
  function_bucket_grants = {
    "generate/outputs" = {
      account      = "generate"
      bucket       = google_storage_bucket.outputs.name
      role         = "roles/storage.objectUser"
      enabled      = true
      results_only = null
    }
    "on_upload/uploads" = {
      account      = "on_upload"
      bucket       = google_storage_bucket.uploads.name
      role         = "roles/storage.objectViewer"
      enabled      = true
      results_only = null
    }
    "on_upload/results" = {
      account      = "on_upload"
      bucket       = google_storage_bucket.outputs.name
      role         = "roles/storage.objectCreator"
      enabled      = true
      results_only = "on_upload may create objects under results/ only."
    }
    "submit/outputs" = {
      account      = "submit"
      bucket       = google_storage_bucket.outputs.name
      role         = "roles/storage.objectViewer"
      enabled      = var.signed_url_access
      results_only = null
    }
    "webhooks/outputs" = {
      account      = "webhooks"
      bucket       = google_storage_bucket.outputs.name
      role         = "roles/storage.objectViewer"
      enabled      = true
      results_only = null
    }
    "webhooks/results" = {
      account      = "webhooks"
      bucket       = google_storage_bucket.outputs.name
      role         = "roles/storage.objectUser"
      enabled      = true
      results_only = "deliver_webhooks may write objects under results/ only."
    }
  }
}

resource "google_storage_bucket_iam_member" "function" {
  for_each = { for k, g in local.function_bucket_grants : k => g if g.enabled }

  bucket = each.value.bucket
  role   = each.value.role
  member = google_service_account.function[each.value.account].member

  dynamic "condition" {
    for_each = each.value.results_only[*] # null: the whole bucket
    content {
      title       = "results-prefix-only"
      description = condition.value
      expression  = "resource.name.startsWith(\"projects/_/buckets/${each.value.bucket}/objects/results/\")"
    }
  }
}

moved {
  from = google_storage_bucket_iam_member.generate_outputs
  to   = google_storage_bucket_iam_member.function["generate/outputs"]
}

moved {
  from = google_storage_bucket_iam_member.on_upload_reads_uploads
  to   = google_storage_bucket_iam_member.function["on_upload/uploads"]
}

moved {
  from = google_storage_bucket_iam_member.on_upload_writes_results
  to   = google_storage_bucket_iam_member.function["on_upload/results"]
}

moved {
  from = google_storage_bucket_iam_member.submit_signs_outputs[0]
  to   = google_storage_bucket_iam_member.function["submit/outputs"]
}

moved {
  from = google_storage_bucket_iam_member.webhooks_read_outputs
  to   = google_storage_bucket_iam_member.function["webhooks/outputs"]
}

moved {
  from = google_storage_bucket_iam_member.webhooks_rewrite_results
  to   = google_storage_bucket_iam_member.function["webhooks/results"]
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
    push_invoker   = google_service_account.platform["push_invoker"].member
    upload_trigger = google_service_account.platform["upload_trigger"].member
    scheduler      = google_service_account.platform["scheduler"].member
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

# The Eventarc service agent holds roles/eventarc.serviceAgent once Eventarc is enabled;
# a first apply in a new project can run before that happens, so it is granted here,
# explicitly, as Google's Jump Start solutions do (waits.tf, sources).
resource "google_project_iam_member" "eventarc_service_agent" {
  #checkov:skip=CKV_GCP_49:The member is Google's own Eventarc service agent and the role is the one it holds by default (roles/eventarc.serviceAgent), granted explicitly as the Jump Start solutions do; no user account gets it.
  project = var.project_id
  role    = "roles/eventarc.serviceAgent"
  member  = google_project_service_identity.eventarc.member
}

resource "google_project_iam_member" "upload_trigger_event_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.platform["upload_trigger"].member
}

# --- Function builds ----------------------------------------------------------
# Since mid-2024 new projects build with the Compute Engine default account,
# which may lack build permissions; a dedicated build account avoids that.
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.platform["build"].member
}

resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.platform["build"].member
}

# The build reads the source archive from our bucket...
resource "google_storage_bucket_iam_member" "build_reads_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.platform["build"].member
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
# this account (used only by Cloud Build for the six functions, no key, no user can act
# as it without iam.serviceAccountUser) can also read and write objects in the project's
# other buckets during a build.
#
# Except one: the bucket holding this deployment's Terraform state (var.state_bucket),
# whose state carries the webhook signing secret. The grant's IAM condition excludes that
# bucket and its objects, named as the results/ conditions above name them
# (projects/_/buckets/<bucket>, .../objects/<object>). No condition when
# var.state_bucket is empty (state kept in another project).
resource "google_project_iam_member" "build_staging_access" {
  project = var.project_id
  role    = "roles/storage.objectAdmin"
  member  = google_service_account.platform["build"].member

  dynamic "condition" {
    for_each = var.state_bucket == "" ? [] : [var.state_bucket]
    content {
      title       = "not-the-terraform-state"
      description = "Function builds never read or write the bucket holding the Terraform state."
      expression  = "resource.name != \"projects/_/buckets/${condition.value}\" && !resource.name.startsWith(\"projects/_/buckets/${condition.value}/\")"
    }
  }
}
