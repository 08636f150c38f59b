# Jobs wait for their turn in Cloud Tasks queues (issue 27; docs/architecture.md says why,
# from measurement). submit, on_upload and sweep create one task per job (named by the job
# id: a retried create is de-duplicated); each queue dispatches its tasks to generate no
# faster than its model's Vertex AI quota and no more at once than generate can run, and
# holds the rest without delivering them, so a backlog costs no invocations.
#
# Facts (read 2026-12-06):
# - rate_limits: max_dispatches_per_second <= 500, max_concurrent_dispatches <= 5,000, a
#   token bucket, retries count against the rate
#   (https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues).
# - retry_config: max_attempts -1 is unlimited; a task is deleted once it had max_attempts
#   attempts AND max_retry_duration has passed since its first attempt; there is no
#   dead-letter queue (https://docs.cloud.google.com/dotnet/docs/reference/Google.Cloud.Tasks.V2/latest/Google.Cloud.Tasks.V2.RetryConfig).
#   So a job's task is retried, 10 s to 600 s apart, until the job's deadline: the job's
#   own attempt count (IMAGEGEN_MAX_ATTEMPTS) and deadline (the sweeper) end it, with
#   their reason, never a silent drop.
# - 429 and 503 answers get a higher backoff and Retry-After is considered; dispatches ramp
#   up slowly after idle (https://cloud.google.com/python/docs/reference/cloudtasks/latest/google.cloud.tasks_v2.types.HttpRequest).
# - the dispatch deadline of an HTTP task is 10 minutes by default (15 s to 30 min): more
#   than generate's timeout (540 s), so a running attempt is not dispatched again
#   (Task.dispatch_deadline in Google's client reference,
#   https://cloud.google.com/php/docs/reference/cloud-tasks/latest/V2.Task, whose full
#   wording of the HTTP default and interval was read in the same API description as
#   published at https://pub.dev/documentation/googleapis/latest/cloudtasks_v2/Task/dispatchDeadline.html).
#   generate_timeout_seconds stays <= 540 (variables.tf) below it.
# - the queue-level http_target overrides the URL and the token of every task
#   (https://docs.cloud.google.com/php/docs/reference/cloud-tasks/latest/V2.HttpTarget):
#   generate's URL cannot be handed to the functions (they are one resource, and the queue
#   needs generate's URL), so the queue carries it. Requests from Cloud Tasks to the
#   run.app URL count as internal ingress (https://cloud.google.com/run/docs/securing/ingress).
# - the OIDC token's account: "The caller must have iam.serviceAccounts.actAs permission
#   for the service account" (https://cloud.google.com/tasks/docs/reference/rest/v2beta3/OidcToken).
# - a deleted queue's name cannot be used again for 7 days: changing vertex_quota so a
#   model loses its queue deletes the queue and its waiting tasks; their jobs stay queued
#   in Firestore and the sweeper gives them tasks in the default queue.

locals {
  # The catalog's models (functions/imagegen/domain/lineup.py; tests/terraform keeps the two
  # lists equal): with a default rate every one of them is paced and gets its own queue.
  lineup_models = [
    "gemini-3.1-flash-image",
    "gemini-nano-banana-2.1",
    "gemini-3.1-flash-lite-image",
    "gemini-3-pro-image",
    "gemini-2.5-flash-image",
  ]
  quota_models = distinct([for key in keys(var.vertex_quota.overrides) : split("@", key)[0]])
  paced_models = var.vertex_quota.requests_per_minute > 0 ? distinct(concat(local.lineup_models, local.quota_models)) : local.quota_models

  # Where a job's calls go: its location (the default unless it names one), then the
  # fallback locations (functions/imagegen/services/routes.py).
  call_locations = distinct(concat([var.vertex_default_location], var.vertex_fallback_locations))

  # A model's queue dispatches as fast as the limiter lets its calls go over those
  # locations: its requests a minute there, summed, times the limiter's headroom (0.95,
  # domain/limiter.py QuotaTable), a second. A job of several images makes several calls:
  # the limiter still paces each call (a dispatch it has no slot for is answered 429).
  model_rates = {
    for model in local.paced_models : model => sum([
      for location in local.call_locations :
      lookup(var.vertex_quota.overrides, "${model}@${location}", lookup(var.vertex_quota.overrides, model, var.vertex_quota.requests_per_minute))
    ]) * 0.95 / 60
  }

  # generate's capacity: more dispatches at once would only meet full instances.
  generate_capacity = var.max_instances.generate * var.concurrency.generate

  # Every queue: "default" (models without a quota of their own, at Cloud Tasks' highest
  # rate: the limiter paces them), then one per paced model.
  job_queues = merge(
    { default = { name = "${local.prefix}-jobs", rate = 500 } },
    {
      for model, rate in local.model_rates : model => {
        name = "${local.prefix}-jobs-${replace(model, "/[^a-z0-9-]/", "-")}"
        rate = min(500, rate)
      } if rate > 0
    },
  )
  # IMAGEGEN_TASKS_QUEUES: model=queue for each paced model (main.tf)
  model_queues = join(",", [for model, q in local.job_queues : "${model}=${q.name}" if model != "default"])

  # Who creates tasks: the functions that queue jobs (submit, on_upload, the sweeper, and
  # generate, which parks a job until its quota resets and forwards the Pub/Sub messages
  # of the path before issue 27; the studio's grants are in studio.tf: it is optional).
  # The sweeper also reads them: it asks whether a job's task still waits before queueing
  # the job again.
  enqueuers = {
    submit    = google_service_account.function["submit"].member
    on_upload = google_service_account.function["on_upload"].member
    sweep     = google_service_account.function["sweep"].member
    generate  = google_service_account.function["generate"].member
  }
}

resource "google_cloud_tasks_queue" "jobs" {
  for_each = local.job_queues

  name     = each.value.name
  project  = var.project_id
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.rate
    max_concurrent_dispatches = min(5000, local.generate_capacity)
  }

  retry_config {
    max_attempts       = -1
    max_retry_duration = "${var.job_deadline_seconds}s"
    min_backoff        = "10s"
    max_backoff        = "600s" # services/routes.py PARK_BEYOND_SECONDS parks longer waits
    max_doublings      = 6
  }

  http_target {
    http_method = "POST"

    uri_override {
      scheme                    = "HTTPS"
      host                      = trimprefix(google_cloudfunctions2_function.function["generate"].service_config[0].uri, "https://")
      uri_override_enforce_mode = "ALWAYS"

      path_override {
        path = "/"
      }
    }

    oidc_token {
      service_account_email = google_service_account.platform["task_invoker"].email
      audience              = google_cloudfunctions2_function.function["generate"].service_config[0].uri
    }
  }

  depends_on = [
    time_sleep.apis_enabled,
    google_cloud_run_v2_service_iam_member.task_invoker,
  ]
}

# The account of the tasks' OIDC token may invoke generate, and nothing else.
resource "google_cloud_run_v2_service_iam_member" "task_invoker" {
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["generate"].name
  role     = "roles/run.invoker"
  member   = google_service_account.platform["task_invoker"].member
}

# The functions that create tasks may act as that account (the token's account).
resource "google_service_account_iam_member" "enqueuers_act_as_task_invoker" {
  for_each = local.enqueuers

  service_account_id = google_service_account.platform["task_invoker"].name
  role               = "roles/iam.serviceAccountUser"
  member             = each.value
}

resource "google_cloud_tasks_queue_iam_member" "jobs" {
  for_each = merge(
    { for pair in setproduct(keys(local.job_queues), keys(local.enqueuers)) : "${pair[0]}/${pair[1]}/enqueuer" => {
      queue  = pair[0]
      member = local.enqueuers[pair[1]]
      role   = "roles/cloudtasks.enqueuer"
    } },
    { for queue in keys(local.job_queues) : "${queue}/sweep/viewer" => {
      queue  = queue
      member = local.enqueuers["sweep"]
      role   = "roles/cloudtasks.viewer"
    } },
  )

  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.jobs[each.value.queue].name
  role     = each.value.role
  member   = each.value.member
}
