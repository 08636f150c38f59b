# imagegen studio (issue 21): the playground and gallery page, a Cloud Run service running
# the same package as the functions (entry point `studio` in functions/main.py) against the
# same Firestore, Pub/Sub and buckets.
#
# Its image (var.studio_image, by digest) is built from functions/ with studio.Dockerfile
# and pushed by cloudbuild.yaml before plan (step studio-image). A Cloud Run
# `build_config` block (what this file had before issue 32) is metadata for source
# deploys and starts no build (hashicorp/terraform-provider-google issues 22263 and
# 23057; GoogleCloudPlatform/terraform-google-cloud-run pull request 398): the service
# pointed at an image nothing produced. docs/deploy.md ("The studio's image") says why
# the studio is not a seventh function (IAP).
#
# Access: Identity-Aware Proxy enabled directly on the service (no load balancer):
# `iap_enabled` on google_cloud_run_v2_service. In google provider 6.50.0 (the schema
# `make validate` checks) that argument exists only in google-beta; GA from the 7.x
# majors. Sources (read 2026-11-25):
#   https://cloud.google.com/run/docs/securing/identity-aware-proxy-cloud-run
#   (IAP from Cloud Run; older copies of the page: "the project must be within an
#   organization", "identities must be from within the same organization" and a Preview
#   label; the current English page lists "no organization" access too. They disagree:
#   docs/studio.md keeps the safe reading and documents the fallback.)
#   https://docs.cloud.google.com/iap/docs/signed-headers-howto (x-goog-iap-jwt-assertion,
#   ES256, public keys, audience).
# IAP calls the service as its service agent, which needs roles/run.invoker on it; users
# need roles/iap.httpsResourceAccessor on the IAP-secured service (var.studio_members).
#
# Fallback (var.studio_iap = false, e.g. a project without an organization): no IAP; Cloud
# Run IAM admits var.studio_members (roles/run.invoker) and they open the studio through
# `gcloud run services proxy <service> --region <region>`, which forwards their Google
# identity token; the studio verifies it like the API does (IMAGEGEN_STUDIO_ID_TOKENS=1).

locals {
  studio_name = "${local.prefix}-studio"
  # What IAP puts in `aud` for a service it fronts directly (docs/studio.md, Facts).
  studio_iap_audience = "/projects/${local.project_number}/locations/${var.region}/services/${local.studio_name}"
  studio_env = merge(local.function_env, {
    WORKERS                       = "1"
    THREADS                       = "20"
    IMAGEGEN_ADMIN_MEMBERS        = local.admin_emails
    IMAGEGEN_STUDIO_IAP_AUDIENCES = var.studio_iap ? local.studio_iap_audience : ""
    IMAGEGEN_STUDIO_ID_TOKENS     = var.studio_iap ? "0" : "1"
  })
}

# The IAP service agent (service-<number>@gcp-sa-iap.iam.gserviceaccount.com), made now.
resource "google_project_service_identity" "iap" {
  count    = var.studio_enabled && var.studio_iap ? 1 : 0
  provider = google-beta

  project = var.project_id
  service = "iap.googleapis.com"

  depends_on = [time_sleep.apis_enabled]
}

resource "google_service_account" "studio" {
  count = var.studio_enabled ? 1 : 0

  project      = var.project_id
  account_id   = local.studio_name
  display_name = "imagegen studio"
  description  = "Studio page and its API: the signed-in user's jobs only (same rules as submit)."

  depends_on = [time_sleep.apis_enabled]
}

resource "google_cloud_run_v2_service" "studio" {
  count    = var.studio_enabled ? 1 : 0
  provider = google-beta

  name                = local.studio_name
  project             = var.project_id
  location            = var.region
  description         = "imagegen studio: playground and gallery behind Identity-Aware Proxy."
  ingress             = "INGRESS_TRAFFIC_ALL"
  launch_stage        = "BETA" # iap_enabled: Preview on some copies of the page (see above)
  iap_enabled         = var.studio_iap
  deletion_protection = false

  template {
    service_account                  = google_service_account.studio[0].email
    max_instance_request_concurrency = 20
    timeout                          = "60s"

    scaling {
      min_instance_count = 0
      max_instance_count = var.studio_max_instances
    }

    containers {
      image = var.studio_image

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
      }

      dynamic "env" {
        for_each = local.studio_env
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.studio_image != ""
      error_message = "studio_enabled needs studio_image: the studio's image by digest, which cloudbuild.yaml builds and pushes before plan (docs/deploy.md). Or set studio_enabled = false."
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

# --- Access --------------------------------------------------------------------------
resource "google_cloud_run_v2_service_iam_member" "iap_invokes_studio" {
  count = var.studio_enabled && var.studio_iap ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.studio[0].name
  role     = "roles/run.invoker"
  member   = google_project_service_identity.iap[0].member
}

resource "google_iap_web_cloud_run_service_iam_member" "studio_users" {
  for_each = var.studio_enabled && var.studio_iap ? toset(var.studio_members) : toset([])

  project                = var.project_id
  location               = var.region
  cloud_run_service_name = google_cloud_run_v2_service.studio[0].name
  role                   = "roles/iap.httpsResourceAccessor"
  member                 = each.value
}

# Fallback without IAP: the users themselves are Cloud Run invokers.
resource "google_cloud_run_v2_service_iam_member" "studio_invokers" {
  for_each = var.studio_enabled && !var.studio_iap ? toset(var.studio_members) : toset([])

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.studio[0].name
  role     = "roles/run.invoker"
  member   = each.value
}

# --- What the studio's account may do: what submit may, nothing more ---------------------
resource "google_project_iam_member" "studio_firestore_user" {
  count = var.studio_enabled ? 1 : 0

  project = var.project_id
  role    = "roles/datastore.user"
  member  = google_service_account.studio[0].member
}

# It queues jobs as Cloud Tasks tasks, as submit does (tasks.tf, issue 27): it creates tasks
# in every job queue and may act as the tasks' invoker account.
resource "google_cloud_tasks_queue_iam_member" "studio_enqueuer" {
  for_each = var.studio_enabled ? google_cloud_tasks_queue.jobs : {}

  project  = var.project_id
  location = var.region
  name     = each.value.name
  role     = "roles/cloudtasks.enqueuer"
  member   = google_service_account.studio[0].member
}

resource "google_service_account_iam_member" "studio_acts_as_task_invoker" {
  count = var.studio_enabled ? 1 : 0

  service_account_id = google_service_account.platform["task_invoker"].name
  role               = "roles/iam.serviceAccountUser"
  member             = google_service_account.studio[0].member
}

# It publishes its jobs' events, as submit does.
resource "google_pubsub_topic_iam_member" "studio_publisher" {
  for_each = var.studio_enabled ? {
    job-events = google_pubsub_topic.job_events.name
  } : {}

  project = var.project_id
  topic   = each.value
  role    = "roles/pubsub.publisher"
  member  = google_service_account.studio[0].member
}

moved {
  from = google_pubsub_topic_iam_member.studio_events_publisher[0]
  to   = google_pubsub_topic_iam_member.studio_publisher["job-events"]
}

# Reads outputs (earlier images as references, signed thumbnails) and writes a new
# job's inline references under jobs/<id>/inputs/, as submit does.
resource "google_storage_bucket_iam_member" "studio_outputs" {
  count = var.studio_enabled ? 1 : 0

  bucket = google_storage_bucket.outputs.name
  role   = "roles/storage.objectUser"
  member = google_service_account.studio[0].member
}

resource "google_service_account_iam_member" "studio_sign_blob" {
  count = var.studio_enabled && var.signed_url_access ? 1 : 0

  service_account_id = google_service_account.studio[0].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.studio[0].member
}
