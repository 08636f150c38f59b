# imagegen is a module: no provider or backend configuration here (the convention of
# terraform-google-modules). A root configuration calls it, configures the providers
# and the state backend: examples/deploy is the one cloudbuild.yaml applies.
#
# Lower bounds are the oldest versions `make validate` checks (tools/tfstandin/catalog.py:
# the schema of each is served to the real `terraform validate`); a lower bound older than
# the oldest checked schema fails tests/terraform/test_rehearsal.py. google and
# google-beta 6.50.0 also carry every attribute used here (iap_enabled on
# google_cloud_run_v2_service is beta-only in 6.x).
terraform {
  # >= 1.5: optional object attributes with defaults, lifecycle preconditions,
  # terraform_data; validated with 1.11.4 and 1.15.5.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.50.0, < 7.0.0"
      # The optional budget calls the Billing Budgets API through a configuration with
      # a quota project (budget.tf); the caller passes it as google.billing.
      configuration_aliases = [google.billing]
    }
    # google_project_service_identity (beta-only) mints the Pub/Sub, Eventarc and IAP
    # service agents before IAM is granted to them; the studio's iap_enabled.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.50.0, < 7.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.2, < 4.0.0" # random_bytes (the webhook signing secret)
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.7.1, < 3.0.0" # glob patterns in archive_file.excludes
    }
    # time_sleep: propagation waits of a first apply (waits.tf).
    time = {
      source  = "hashicorp/time"
      version = ">= 0.13.1, < 1.0.0"
    }
  }
}
