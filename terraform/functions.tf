# The Cloud Functions (2nd gen): one resource, one instance per entry of
# local.functions. All share one source archive (see storage.tf) and one
# environment (local.function_env in main.tf); each runs as its own service
# account.
#
#   submit           HTTP API, public ingress, IAM-authenticated (invoker_members)
#   generate         invoked by Cloud Tasks (tasks.tf; and the jobs push subscription
#                    while it drains, pubsub.tf), internal
#   on_upload        Eventarc trigger on object finalize in the uploads bucket
#   dead_letter      invoked by the dead-letter push subscription, internal
#   sweep            invoked by Cloud Scheduler (scheduler.tf), internal
#   deliver_webhooks invoked by the job-events and webhook-retries push
#                    subscriptions (webhooks.tf), internal
#
# "Internal" ingress admits Pub/Sub, Eventarc and Cloud Scheduler requests
# from this project when they target the run.app URL, which is why the push
# endpoints and the scheduler use service_config[0].uri.
#
# The studio (studio.tf) is a Cloud Run service built from the same archive,
# not a function: it has its own resource.

locals {
  runtime = "python311"

  # What differs between the functions. The name is <prefix>-<key, "_" -> "-">;
  # account is the key of google_service_account.function (iam.tf); cpu null
  # leaves the platform's default for the memory size; invoker names the one
  # account that calls the function (local.invokers in iam.tf), null for
  # submit, whose callers are var.invoker_members; trigger is an Eventarc
  # trigger or null (Pub/Sub-fed functions are pushed by subscriptions).
  functions = {
    submit = {
      description = "imagegen HTTP API: POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/models."
      account     = "submit"
      memory      = var.memory.submit
      cpu         = "1"
      # issue 28: the Vertex and OpenAI front doors wait for their job up to
      # IMAGEGEN_SYNC_WAIT_SECONDS (300 s); the request must outlive the wait. A waiting
      # request sleeps between reads, so THREADS = concurrency.submit (main.tf) serves it.
      timeout       = 360
      max_instances = var.max_instances.submit
      concurrency   = var.concurrency.submit
      # Reachable from the internet, but every request needs an identity token
      # of one of var.invoker_members (no allUsers binding exists).
      ingress = "ALLOW_ALL"
      env     = local.submit_env
      secrets = {}
      invoker = null
      trigger = null
    }
    generate = {
      description   = "imagegen worker: runs one job on Vertex AI (dispatched by its Cloud Tasks queue)."
      account       = "generate"
      memory        = coalesce(var.memory.generate, var.concurrency.generate > 1 ? "1Gi" : "512Mi")
      cpu           = "1"
      timeout       = var.generate_timeout_seconds
      max_instances = var.max_instances.generate
      concurrency   = var.concurrency.generate
      ingress       = "ALLOW_INTERNAL_ONLY"
      env           = local.function_env
      secrets       = {}
      invoker       = "push_invoker"
      trigger       = null
    }
    on_upload = {
      description   = "imagegen upload handler: a job file finalized in the uploads bucket becomes a job."
      account       = "on_upload"
      memory        = var.memory.on_upload
      cpu           = null
      timeout       = 60
      max_instances = var.max_instances.on_upload
      concurrency   = 1
      ingress       = "ALLOW_INTERNAL_ONLY"
      env           = local.function_env
      secrets       = {}
      invoker       = "upload_trigger"
      trigger = {
        event_type            = "google.cloud.storage.object.v1.finalized"
        bucket                = google_storage_bucket.uploads.name
        retry_policy          = "RETRY_POLICY_RETRY"
        service_account_email = google_service_account.platform["upload_trigger"].email
      }
    }
    dead_letter = {
      description   = "imagegen dead-letter handler: marks jobs whose messages were dead-lettered as failed."
      account       = "dead_letter"
      memory        = var.memory.dead_letter
      cpu           = null
      timeout       = 60
      max_instances = var.max_instances.dead_letter
      concurrency   = 1
      ingress       = "ALLOW_INTERNAL_ONLY"
      env           = local.function_env
      secrets       = {}
      invoker       = "push_invoker"
      trigger       = null
    }
    # sweep's timeout: a batch split (issue 29) reads for up to IMAGEGEN_BATCH_SPLIT_SECONDS
    # (240) and stops at a line boundary; the rest of the sweep's work fits in a minute
    sweep = {
      description   = "imagegen sweeper: requeues or fails jobs stuck past their lease or deadline."
      account       = "sweep"
      memory        = var.memory.sweep
      cpu           = null
      timeout       = 300
      max_instances = var.max_instances.sweep
      concurrency   = 1
      ingress       = "ALLOW_INTERNAL_ONLY"
      env           = local.function_env
      secrets       = {}
      invoker       = "scheduler"
      trigger       = null
    }
    deliver_webhooks = {
      description   = "imagegen webhooks: signed deliveries of job events, upload answers (pushed by job-events)."
      account       = "webhooks"
      memory        = "512Mi"
      cpu           = null
      timeout       = 60
      max_instances = var.max_instances.deliver_webhooks
      concurrency   = 1
      # Inbound only from Pub/Sub push; outbound to the internet (webhook URLs are
      # checked against private ranges in code: functions/imagegen/netguard.py).
      ingress = "ALLOW_INTERNAL_ONLY"
      env     = local.function_env
      secrets = { IMAGEGEN_WEBHOOK_SECRET = google_secret_manager_secret.webhook.secret_id }
      invoker = "push_invoker"
      trigger = null
    }
  }
}

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images hold only the open-source function code and its public dependencies; Google-managed encryption is used.
  project       = var.project_id
  location      = var.region
  repository_id = "${local.prefix}-functions"
  format        = "DOCKER"
  description   = "Container images built from the imagegen functions."

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 10
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_cloudfunctions2_function" "function" {
  #checkov:skip=CKV_GCP_124:Only submit allows all ingress: it is the public API entry point; every request needs an identity token of var.invoker_members (run.invoker, no allUsers), so network ingress stays open. The others are ALLOW_INTERNAL_ONLY.
  for_each = local.functions

  name        = "${local.prefix}-${replace(each.key, "_", "-")}"
  project     = var.project_id
  location    = var.region
  description = each.value.description

  build_config {
    runtime           = local.runtime
    entry_point       = each.key
    service_account   = google_service_account.platform["build"].id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    available_memory                 = each.value.memory
    available_cpu                    = each.value.cpu
    timeout_seconds                  = each.value.timeout
    min_instance_count               = 0
    max_instance_count               = each.value.max_instances
    max_instance_request_concurrency = each.value.concurrency
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.value.account].email
    environment_variables            = each.value.env

    dynamic "secret_environment_variables" {
      for_each = each.value.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = each.value.trigger[*] # null: no trigger
    content {
      trigger_region        = var.region # must match the uploads bucket location
      event_type            = event_trigger.value.event_type
      retry_policy          = event_trigger.value.retry_policy
      service_account_email = event_trigger.value.service_account_email

      event_filters {
        attribute = "bucket"
        value     = event_trigger.value.bucket
      }
    }
  }

  lifecycle {
    # generate is the function that calls Vertex AI in these locations.
    precondition {
      condition     = each.key != "generate" || contains(var.vertex_locations, var.vertex_default_location)
      error_message = "vertex_default_location must be one of vertex_locations."
    }
    precondition {
      condition     = each.key != "generate" || alltrue([for l in var.vertex_fallback_locations : contains(var.vertex_locations, l)])
      error_message = "Every vertex_fallback_locations entry must be one of vertex_locations."
    }
  }

  # depends_on is per resource, so it is the union of what each function needs
  # before its first deploy: the grants its build, its trigger (on_upload) and its
  # start (deliver_webhooks reads its secret) need, made and propagated (waits.tf), and
  # the secret's first version. Ordering only: no argument depends on it.
  depends_on = [
    time_sleep.grants_propagated,
    google_secret_manager_secret_version.webhook,
  ]
}

# Deployments made before the functions were one resource keep their functions.
moved {
  from = google_cloudfunctions2_function.submit
  to   = google_cloudfunctions2_function.function["submit"]
}

moved {
  from = google_cloudfunctions2_function.generate
  to   = google_cloudfunctions2_function.function["generate"]
}

moved {
  from = google_cloudfunctions2_function.on_upload
  to   = google_cloudfunctions2_function.function["on_upload"]
}

moved {
  from = google_cloudfunctions2_function.dead_letter
  to   = google_cloudfunctions2_function.function["dead_letter"]
}

moved {
  from = google_cloudfunctions2_function.sweep
  to   = google_cloudfunctions2_function.function["sweep"]
}

moved {
  from = google_cloudfunctions2_function.deliver_webhooks
  to   = google_cloudfunctions2_function.function["deliver_webhooks"]
}
