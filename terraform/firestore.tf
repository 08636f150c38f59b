# Job store: Firestore (default) database in Native mode.

resource "google_firestore_database" "default" {
  count = var.manage_firestore_database ? 1 : 0

  project     = var.project_id
  name        = local.firestore_database
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  # `terraform destroy` leaves the database (and its jobs) in place: a project
  # has one (default) database and its data outlives a redeploy.
  deletion_policy = "ABANDON"

  depends_on = [time_sleep.apis_enabled]
}

locals {
  # Indexes wait for the database when this configuration creates it.
  firestore_database_name = var.manage_firestore_database ? google_firestore_database.default[0].name : local.firestore_database
}

# Used by the sweeper: jobs in a state, oldest update first
# (where state == X and updated_at < T order by updated_at).
resource "google_firestore_index" "jobs_state_updated_at" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = local.jobs_collection

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  fields {
    field_path = "updated_at"
    order      = "ASCENDING"
  }

  depends_on = [time_sleep.apis_enabled]
}

# Used by GET /v1/usage: one caller's jobs created in a day or month
# (where caller == X and created_at >= A and created_at < B).
resource "google_firestore_index" "jobs_caller_created_at" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = local.jobs_collection

  fields {
    field_path = "caller"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }

  depends_on = [time_sleep.apis_enabled]
}

# Rate and spend counters (domain/quota.py) carry expire_at: minute windows are
# removed after a day, daily spend after 400 days.
resource "google_firestore_field" "usage_expire_at_ttl" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = "usage"
  field      = "expire_at"

  ttl_config {}
  index_config {}

  depends_on = [time_sleep.apis_enabled]
}

# Idempotency records (adapters/jobs_firestore.py: idempotency/<key> -> job id) carry
# expire_at, the job's deadline: a key can be replayed until then, and TTL deletes the
# record afterwards instead of keeping every key forever.
resource "google_firestore_field" "idempotency_expire_at_ttl" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = "idempotency"
  field      = "expire_at"

  ttl_config {}
  index_config {}

  depends_on = [time_sleep.apis_enabled]
}

# Optional cleanup: documents whose expire_at (a timestamp) has passed are
# deleted by Firestore TTL within about a day. Documents without the field
# are kept forever.
resource "google_firestore_field" "jobs_expire_at_ttl" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = local.jobs_collection
  field      = "expire_at"

  ttl_config {}

  # No single-field indexes on expire_at: it is never queried, and indexing a
  # monotonically increasing timestamp creates hotspots.
  index_config {}

  depends_on = [time_sleep.apis_enabled]
}

# Used by the studio's gallery: one caller's jobs, newest first, paged by created_at
# (where caller == X [and created_at < T] order by created_at desc).
resource "google_firestore_index" "jobs_caller_created_desc" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = local.jobs_collection

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

# Issue 18: a sharded usage counter is summed with an aggregation query
# (where counter == X, sum(reserved_usd) or sum(requests)). SUM() is computed from index
# scans, so the summed field must be indexed next to the filter
# (https://cloud.google.com/blog/products/databases/aggregate-with-sum-and-avg-in-firestore,
# read 2026-11-25).
resource "google_firestore_index" "usage_counter_sums" {
  for_each   = toset(["reserved_usd", "requests"])
  project    = var.project_id
  database   = local.firestore_database_name
  collection = "usage"

  fields {
    field_path = "counter"
    order      = "ASCENDING"
  }

  fields {
    field_path = each.value
    order      = "ASCENDING"
  }

  depends_on = [time_sleep.apis_enabled]
}

# Issue 18: the Vertex limiter's slot documents (adapters/limiter_firestore.py) are
# written once each and carry expire_at (a day after their second).
resource "google_firestore_field" "vertex_slots_expire_at_ttl" {
  project    = var.project_id
  database   = local.firestore_database_name
  collection = "vertex_slots"
  field      = "expire_at"

  ttl_config {}
  index_config {}

  depends_on = [time_sleep.apis_enabled]
}
