# Buckets: function source, uploads (job files dropped by users; triggers
# on_upload) and outputs (generated images; on_upload results under results/).
# All private: uniform bucket-level access, public access prevention enforced.

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs; a usage-log bucket would itself be an unlogged bucket.
  name     = local.bucket_names.source
  project  = var.project_id
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  versioning {
    enabled = true
  }

  # Each deploy uploads a new content-addressed archive; old ones are noise.
  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_storage_bucket" "uploads" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs; a usage-log bucket would itself be an unlogged bucket.
  name     = local.bucket_names.uploads
  project  = var.project_id
  location = var.region # the Eventarc trigger region must match the bucket location

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_storage_bucket" "outputs" {
  #checkov:skip=CKV_GCP_62:Access is audited with Cloud Audit Logs; a usage-log bucket would itself be an unlogged bucket.
  name     = local.bucket_names.outputs
  project  = var.project_id
  location = var.region

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy_buckets

  # Versioning keeps an overwritten image recoverable for a day; retries of
  # generate rewrite jobs/<id>/<n>.<ext> in place.
  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age = var.output_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # A batch's files (inputs, item plans, Vertex's predictions: batches/, batches.tf) are
  # read until its items are split into jobs/ (by its deadline, at most
  # IMAGEGEN_BATCH_DEADLINE_SECONDS, 5 days); then they are copies.
  lifecycle_rule {
    condition {
      age            = var.batch_files_retention_days
      matches_prefix = ["batches/"]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

# Function source: a zip of ../functions, named by content hash so that any
# change to the code changes storage_source and redeploys the functions. The zip is
# written in the root's working directory (path.root), not inside the module: a module
# may sit in a read-only cache, and the path stays what it was when terraform/ was the
# root (a changed `source` would replace the object).
data "archive_file" "functions" {
  type        = "zip"
  source_dir  = "${path.module}/../functions"
  output_path = "${path.root}/.build/functions.zip"
  excludes = [
    "**/__pycache__/**",
    "**/*.pyc",
    "**/.pytest_cache/**",
    "**/.venv/**",
  ]
}

resource "google_storage_bucket_object" "functions_source" {
  name   = "functions/${data.archive_file.functions.output_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.functions.output_path
}
