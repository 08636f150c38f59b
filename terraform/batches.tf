# Batches through Vertex AI batch prediction (issue 29; docs/batches.md).
#
# How a batch runs, and so who needs what:
#   submit / on_upload  write the batch's files under batches/<id>/ of the outputs bucket
#                       (each group's input.jsonl for Vertex, items.jsonl, fanout.jsonl,
#                       rejected.json): create only, no Vertex role (submit makes no
#                       Vertex call; a cancel is a mark the sweep carries out)
#   sweep               creates, follows, cancels and lists the Vertex batch jobs (the
#                       follow step of services/batch_follow.py), reads batches/ (items,
#                       fan-out, the predictions Vertex wrote) and stores each item's
#                       images under jobs/<item job id>/, as generate does for a job
#   Vertex AI's agent   reads each group's input.jsonl and writes its output prefix, both
#                       under batches/ of the outputs bucket
#   deliver_webhooks    rewrites an upload-made batch's answer under results/ (its grants
#                       in iam.tf already cover it)
#
# Sources (read 2026-12-06):
# - "the AI Platform Service Agent must have permission to the Cloud Storage file" (the
#   input), output written to the job's gcsDestination prefix:
#   https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage
# - batchPredictionJobs create / get / list need aiplatform.batchPredictionJobs.create,
#   .get, .list on the parent or name, cancel .cancel:
#   https://cloud.google.com/vertex-ai/docs/general/iam-permissions ; the predefined Vertex
#   AI roles and which permissions they hold:
#   https://cloud.google.com/iam/docs/roles-permissions/aiplatform
# - roles/storage.objectViewer (get, list), objectCreator (create, no overwrite),
#   objectUser (create, get, list, delete: an overwrite):
#   https://cloud.google.com/iam/docs/roles-permissions/storage
# - IAM conditions on resource.name of objects ("projects/_/buckets/B/objects/PREFIX"),
#   as the results/ grants in iam.tf use them:
#   https://cloud.google.com/storage/docs/samples/storage-add-bucket-conditional-iam-binding

# The Vertex AI service agent, service-<project number>@gcp-sa-aiplatform.iam.gserviceaccount.com,
# made here so its grants below do not wait for the first Vertex call to create it.
resource "google_project_service_identity" "aiplatform" {
  provider = google-beta

  project = var.project_id
  service = "aiplatform.googleapis.com"

  depends_on = [time_sleep.apis_enabled]
}

# Who may do what under which prefix of the outputs bucket ("<who>/<what>"). prefix null:
# the whole bucket. The sweep lists a Vertex output directory (objects.list), which is
# asked of the bucket rather than of an object name; that a prefix condition lets it
# through was not found in Google's pages and cannot be proven offline, so the sweep's
# read grant has no condition: it reads the bucket as deliver_webhooks does (iam.tf).
locals {
  batch_bucket_grants = {
    "vertex-agent/read-inputs" = {
      member = google_project_service_identity.aiplatform.member
      role   = "roles/storage.objectViewer"
      prefix = "batches/"
    }
    "vertex-agent/write-outputs" = {
      member = google_project_service_identity.aiplatform.member
      role   = "roles/storage.objectCreator"
      prefix = "batches/"
    }
    "submit/batch-files" = {
      member = google_service_account.function["submit"].member
      role   = "roles/storage.objectCreator"
      prefix = "batches/"
    }
    "on_upload/batch-files" = {
      member = google_service_account.function["on_upload"].member
      role   = "roles/storage.objectCreator"
      prefix = "batches/"
    }
    "sweep/read" = {
      member = google_service_account.function["sweep"].member
      role   = "roles/storage.objectViewer"
      prefix = null
    }
    # a split that was cut off stores an item's image again when it runs again: overwrite
    "sweep/item-images" = {
      member = google_service_account.function["sweep"].member
      role   = "roles/storage.objectUser"
      prefix = "jobs/"
    }
  }
}

resource "google_storage_bucket_iam_member" "batch" {
  for_each = local.batch_bucket_grants

  bucket = google_storage_bucket.outputs.name
  role   = each.value.role
  member = each.value.member

  dynamic "condition" {
    for_each = each.value.prefix[*] # null: the whole bucket
    content {
      title       = "${trimsuffix(condition.value, "/")}-prefix-only"
      description = "${each.key}: objects under ${condition.value} only."
      expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.outputs.name}/objects/${condition.value}\")"
    }
  }
}

# The sweep creates, gets, lists and cancels batch prediction jobs: it needs
# aiplatform.batchPredictionJobs.create, .get, .list and .cancel (iam-permissions page).
# roles/aiplatform.viewer, which it holds for the model check (lifecycle.tf), is read-only;
# roles/aiplatform.user ("Vertex AI User", which generate holds, iam.tf) is the predefined
# role for using Vertex AI. That its list holds .create and .cancel was not seen in the
# part of the roles page read (2026-12-06): verify on a deployment; until then a 403 at
# create is retried by every sweep (services/batch_follow.py), nothing is lost. A custom
# role with the four permissions would be narrower, at the price of roles/iam.roleAdmin
# for every deployer.
resource "google_project_iam_member" "sweep_batch_jobs" {
  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.function["sweep"].member
}

# The studio's list of a caller's batches, newest first
# (where caller == X [and created_at < T] order by created_at desc:
# adapters/batches_firestore.py, BatchStore.of_caller). The follow step's queries
# (state in [...], events_pending == true) need only the single-field indexes.
resource "google_firestore_index" "batches_caller_created" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = "batches" # IMAGEGEN_BATCHES_COLLECTION's default

  fields {
    field_path = "caller"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [time_sleep.apis_enabled]
}
