# The imagegen module (terraform/) with every input passed through: this root takes the
# same variables as the module (variables.tf here is a copy of the module's, kept equal
# by tests/terraform/test_module_layout.py), so a terraform.tfvars written for the module
# works here unchanged.

module "imagegen" {
  source = "../.."

  providers = {
    google         = google
    google.billing = google.billing
    google-beta    = google-beta
  }

  project_id                 = var.project_id
  region                     = var.region
  firestore_location         = var.firestore_location
  manage_firestore_database  = var.manage_firestore_database
  name_prefix                = var.name_prefix
  labels                     = var.labels
  invoker_members            = var.invoker_members
  admin_members              = var.admin_members
  vertex_locations           = var.vertex_locations
  vertex_default_location    = var.vertex_default_location
  vertex_fallback_locations  = var.vertex_fallback_locations
  retired_model_policy       = var.retired_model_policy
  catalog_override_json      = var.catalog_override_json
  reference_buckets          = var.reference_buckets
  max_instances              = var.max_instances
  memory                     = var.memory
  concurrency                = var.concurrency
  generate_timeout_seconds   = var.generate_timeout_seconds
  output_retention_days      = var.output_retention_days
  batch_files_retention_days = var.batch_files_retention_days
  max_delivery_attempts      = var.max_delivery_attempts
  job_deadline_seconds       = var.job_deadline_seconds
  sweep_schedule             = var.sweep_schedule
  model_check_schedule       = var.model_check_schedule
  sweep_time_zone            = var.sweep_time_zone
  log_level                  = var.log_level
  signed_url_access          = var.signed_url_access
  signed_url_seconds         = var.signed_url_seconds
  webhooks                   = var.webhooks
  budget                     = var.budget
  notification_channels      = var.notification_channels
  alert_thresholds           = var.alert_thresholds
  tracing                    = var.tracing
  state_bucket               = var.state_bucket
  force_destroy_buckets      = var.force_destroy_buckets
  limits                     = var.limits
  studio_enabled             = var.studio_enabled
  studio_image               = var.studio_image
  studio_iap                 = var.studio_iap
  studio_members             = var.studio_members
  studio_max_instances       = var.studio_max_instances
  vertex_quota               = var.vertex_quota
  counter_shards             = var.counter_shards
}
