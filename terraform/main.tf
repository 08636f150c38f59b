# Shared names, labels and the environment every function reads.
# Resources live in one file per concern: apis, iam, storage, pubsub, tasks,
# firestore, functions, scheduler, budget, monitoring, events, webhooks,
# lifecycle, studio.
#
# No data "google_project" here: a data source is read at plan time, and that
# one goes through the Cloud Resource Manager API, which a fresh project may not
# have enabled yet (the first plan failed with 403, and no resource can enable
# an API before the plan that would do it). The project number is taken from the
# Pub/Sub service agent's address instead (local.project_number).

locals {
  prefix = var.name_prefix

  # Callers who may read and cancel every caller's jobs and usage and change the catalog
  # (emails, no "user:" prefix): submit's and the studio's IMAGEGEN_ADMIN_MEMBERS.
  admin_emails = join(",", [for m in var.admin_members : split(":", m)[1]])

  # service-<PROJECT_NUMBER>@gcp-sa-pubsub.iam.gserviceaccount.com is the Pub/Sub
  # service agent of the project (DeadLetterPolicy.dead_letter_topic in
  # https://cloud.google.com/dotnet/docs/reference/Google.Cloud.PubSub.V1/latest/Google.Cloud.PubSub.V1.DeadLetterPolicy.html,
  # read 2026-11-25); known once google_project_service_identity.pubsub exists.
  project_number = regex("^service-([0-9]+)@", google_project_service_identity.pubsub.email)[0]

  labels = merge(var.labels, {
    app        = "imagegen"
    managed-by = "terraform"
  })

  # Globally unique bucket names: project IDs are globally unique.
  bucket_names = {
    source  = "${var.project_id}-${local.prefix}-source"
    uploads = "${var.project_id}-${local.prefix}-uploads"
    outputs = "${var.project_id}-${local.prefix}-outputs"
  }

  jobs_collection    = "jobs"
  firestore_database = "(default)"

  # Google-managed service agents.
  # service-<number>@gcp-sa-pubsub.iam.gserviceaccount.com
  pubsub_service_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"

  # generate may read reference images from the uploads bucket and these.
  # Names come from configuration (known at plan time) so they can key for_each.
  reference_buckets = distinct(concat([local.bucket_names.uploads], var.reference_buckets))

  # One environment for every function: the Python config loads the same
  # settings everywhere and fails at start naming any missing variable.
  function_env = {
    GOOGLE_CLOUD_PROJECT          = var.project_id
    IMAGEGEN_OUTPUTS_BUCKET       = google_storage_bucket.outputs.name
    IMAGEGEN_UPLOADS_BUCKET       = google_storage_bucket.uploads.name
    IMAGEGEN_JOBS_COLLECTION      = local.jobs_collection
    IMAGEGEN_FIRESTORE_DATABASE   = local.firestore_database
    IMAGEGEN_ALLOWED_LOCATIONS    = join(",", var.vertex_locations)
    IMAGEGEN_DEFAULT_LOCATION     = var.vertex_default_location
    IMAGEGEN_FALLBACK_LOCATIONS   = join(",", var.vertex_fallback_locations)
    IMAGEGEN_REFERENCE_BUCKETS    = join(",", local.reference_buckets)
    IMAGEGEN_RETIRED_MODELS       = var.retired_model_policy
    IMAGEGEN_CATALOG_JSON         = var.catalog_override_json
    IMAGEGEN_LEASE_SECONDS        = tostring(var.generate_timeout_seconds + 60)
    IMAGEGEN_CALL_BUDGET_SECONDS  = tostring(var.generate_timeout_seconds - 60)
    IMAGEGEN_JOB_DEADLINE_SECONDS = tostring(var.job_deadline_seconds)
    IMAGEGEN_MAX_ATTEMPTS         = tostring(var.max_delivery_attempts)
    # Issue 27: each job waits for its turn in its model's Cloud Tasks queue (tasks.tf).
    IMAGEGEN_TASKS_LOCATION = var.region
    IMAGEGEN_TASKS_QUEUE    = local.job_queues["default"].name
    IMAGEGEN_TASKS_QUEUES   = local.model_queues
    # Spending and rate limits enforced at submit (0 = no limit).
    IMAGEGEN_CALLER_REQUESTS_PER_MINUTE = tostring(var.limits.caller_requests_per_minute)
    IMAGEGEN_GLOBAL_REQUESTS_PER_MINUTE = tostring(var.limits.global_requests_per_minute)
    IMAGEGEN_CALLER_USD_PER_DAY         = tostring(var.limits.caller_usd_per_day)
    IMAGEGEN_GLOBAL_USD_PER_DAY         = tostring(var.limits.global_usd_per_day)
    # Issue 18: Vertex pacing (0 = off) and usage counter shards.
    IMAGEGEN_VERTEX_REQUESTS_PER_MINUTE = tostring(var.vertex_quota.requests_per_minute)
    IMAGEGEN_VERTEX_QUOTA_OVERRIDES     = join(",", [for k, v in var.vertex_quota.overrides : "${k}=${v}"])
    IMAGEGEN_LIMITER_MAX_WAIT_SECONDS   = tostring(var.vertex_quota.max_wait_seconds)
    IMAGEGEN_COUNTER_SHARDS             = tostring(var.counter_shards)
    LOG_LEVEL                           = var.log_level
    # OpenTelemetry spans of each job go to Cloud Trace (functions/imagegen/tracing.py).
    IMAGEGEN_TRACE_EXPORTER = var.tracing ? "gcp" : "none"
    # Results that reach people (events.tf, webhooks.tf).
    IMAGEGEN_EVENTS_TOPIC                 = google_pubsub_topic.job_events.name
    IMAGEGEN_WEBHOOK_RETRY_TOPIC          = google_pubsub_topic.webhook_retries.name
    IMAGEGEN_WEBHOOK_DEAD_LETTER_TOPIC    = google_pubsub_topic.webhooks_dead_letter.name
    IMAGEGEN_URL_SIGNER                   = var.signed_url_access ? "iam" : "off"
    IMAGEGEN_SIGNED_URL_SECONDS           = tostring(var.signed_url_seconds)
    IMAGEGEN_WEBHOOK_ALLOWED_HOSTS        = join(",", var.webhooks.allowed_hosts)
    IMAGEGEN_WEBHOOK_TIMEOUT_SECONDS      = tostring(var.webhooks.timeout_seconds)
    IMAGEGEN_WEBHOOK_RETRY_WINDOW_SECONDS = tostring(var.webhooks.retry_window_seconds)
  }

  # functions-framework runs gunicorn with cpu_count * 4 threads unless told:
  # one worker with as many threads as the instance takes concurrent requests
  # (bench/RESULTS.md, submit section).
  submit_env = merge(local.function_env, {
    WORKERS                = "1"
    THREADS                = tostring(var.concurrency.submit)
    IMAGEGEN_ADMIN_MEMBERS = local.admin_emails
  })
}
