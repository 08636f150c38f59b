# APIs the deployment uses. disable_on_destroy = false: tearing imagegen down
# must never switch off an API other workloads in the project may rely on.

locals {
  apis = toset(concat([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com", # the jobs' queues (tasks.tf)
    "eventarc.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # signBlob for signed URLs, OIDC tokens
    "logging.googleapis.com",
    "monitoring.googleapis.com", # dashboard, alert policies (monitoring.tf)
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com", # the webhook signing secret
    "storage.googleapis.com",
    ],
    var.budget.enabled ? ["billingbudgets.googleapis.com"] : [],
    var.tracing ? ["cloudtrace.googleapis.com"] : [],
  var.studio_enabled && var.studio_iap ? ["iap.googleapis.com"] : [])) # studio.tf
}

resource "google_project_service" "this" {
  for_each = local.apis

  project                    = var.project_id
  service                    = each.value
  disable_on_destroy         = false
  disable_dependent_services = false
}

# Service agents are created lazily; IAM bindings on an agent that does not
# exist yet fail with "Service account ... does not exist". Mint them first.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [time_sleep.apis_enabled]
}

resource "google_project_service_identity" "eventarc" {
  provider = google-beta

  project = var.project_id
  service = "eventarc.googleapis.com"

  depends_on = [time_sleep.apis_enabled]
}
