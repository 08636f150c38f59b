# The five Cloud Functions (2nd gen). All share one source archive (see
# storage.tf) and one environment (local.function_env in main.tf); each runs
# as its own service account.
#
#   submit      HTTP API, public ingress, IAM-authenticated (invoker_members)
#   generate    invoked by the jobs push subscription (pubsub.tf), internal
#   on_upload   Eventarc trigger on object finalize in the uploads bucket
#   dead_letter invoked by the dead-letter push subscription, internal
#   sweep       invoked by Cloud Scheduler (scheduler.tf), internal
#
# "Internal" ingress admits Pub/Sub, Eventarc and Cloud Scheduler requests
# from this project when they target the run.app URL, which is why the push
# endpoints and the scheduler use service_config[0].uri.

locals {
  runtime = "python311"
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

  depends_on = [google_project_service.this]
}

resource "google_cloudfunctions2_function" "submit" {
  #checkov:skip=CKV_GCP_124:submit is the public API entry point; every request needs an identity token of var.invoker_members (run.invoker, no allUsers), so network ingress stays open.
  name        = "${local.prefix}-submit"
  project     = var.project_id
  location    = var.region
  description = "imagegen HTTP API: POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/models."

  build_config {
    runtime           = local.runtime
    entry_point       = "submit"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    available_memory                 = var.memory.submit
    available_cpu                    = "1"
    timeout_seconds                  = 60
    min_instance_count               = 0
    max_instance_count               = var.max_instances.submit
    max_instance_request_concurrency = var.concurrency.submit
    # Reachable from the internet, but every request needs an identity token
    # of one of var.invoker_members (no allUsers binding exists).
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    service_account_email          = google_service_account.function["submit"].email
    environment_variables          = local.submit_env
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.build_staging_access,
  ]
}

resource "google_cloudfunctions2_function" "generate" {
  name        = "${local.prefix}-generate"
  project     = var.project_id
  location    = var.region
  description = "imagegen worker: runs one job on Vertex AI (pushed by the jobs subscription)."

  build_config {
    runtime           = local.runtime
    entry_point       = "generate"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  # No event_trigger: see pubsub.tf for why delivery is a managed push
  # subscription (retries + dead-lettering owned by Terraform).
  service_config {
    available_memory                 = var.memory.generate
    available_cpu                    = "1"
    timeout_seconds                  = var.generate_timeout_seconds
    min_instance_count               = 0
    max_instance_count               = var.max_instances.generate
    max_instance_request_concurrency = var.concurrency.generate
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function["generate"].email
    environment_variables            = local.function_env
  }

  lifecycle {
    precondition {
      condition     = contains(var.vertex_locations, var.vertex_default_location)
      error_message = "vertex_default_location must be one of vertex_locations."
    }
    precondition {
      condition     = alltrue([for l in var.vertex_fallback_locations : contains(var.vertex_locations, l)])
      error_message = "Every vertex_fallback_locations entry must be one of vertex_locations."
    }
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.build_staging_access,
  ]
}

resource "google_cloudfunctions2_function" "on_upload" {
  name        = "${local.prefix}-on-upload"
  project     = var.project_id
  location    = var.region
  description = "imagegen upload handler: a job file finalized in the uploads bucket becomes a job."

  build_config {
    runtime           = local.runtime
    entry_point       = "on_upload"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    available_memory                 = var.memory.on_upload
    timeout_seconds                  = 60
    min_instance_count               = 0
    max_instance_count               = var.max_instances.on_upload
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function["on_upload"].email
    environment_variables            = local.function_env
  }

  event_trigger {
    trigger_region        = var.region # must match the uploads bucket location
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.upload_trigger.email

    event_filters {
      attribute = "bucket"
      value     = google_storage_bucket.uploads.name
    }
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.build_staging_access,
    google_project_iam_member.gcs_agent_pubsub_publisher,
    google_project_iam_member.upload_trigger_event_receiver,
    google_project_service_identity.eventarc,
  ]
}

resource "google_cloudfunctions2_function" "dead_letter" {
  name        = "${local.prefix}-dead-letter"
  project     = var.project_id
  location    = var.region
  description = "imagegen dead-letter handler: marks jobs whose messages were dead-lettered as failed."

  build_config {
    runtime           = local.runtime
    entry_point       = "dead_letter"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    available_memory                 = var.memory.dead_letter
    timeout_seconds                  = 60
    min_instance_count               = 0
    max_instance_count               = var.max_instances.dead_letter
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function["dead_letter"].email
    environment_variables            = local.function_env
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.build_staging_access,
  ]
}

resource "google_cloudfunctions2_function" "sweep" {
  name        = "${local.prefix}-sweep"
  project     = var.project_id
  location    = var.region
  description = "imagegen sweeper: requeues or fails jobs stuck past their lease or deadline."

  build_config {
    runtime           = local.runtime
    entry_point       = "sweep"
    service_account   = google_service_account.build.id
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.functions_source.name
      }
    }
  }

  service_config {
    available_memory                 = var.memory.sweep
    timeout_seconds                  = 60
    min_instance_count               = 0
    max_instance_count               = var.max_instances.sweep
    max_instance_request_concurrency = 1
    ingress_settings                 = "ALLOW_INTERNAL_ONLY"
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function["sweep"].email
    environment_variables            = local.function_env
  }

  depends_on = [
    google_project_iam_member.build_log_writer,
    google_artifact_registry_repository_iam_member.build_writer,
    google_storage_bucket_iam_member.build_reads_source,
    google_project_iam_member.build_staging_access,
  ]
}
