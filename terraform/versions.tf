terraform {
  # >= 1.5: optional object attributes with defaults, lifecycle preconditions,
  # terraform_data; tested with 1.11.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.14.0, < 7.0.0"
    }
    # Only for google_project_service_identity (beta-only resource), which mints
    # the Pub/Sub and Eventarc service agents before IAM is granted to them.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.14.0, < 7.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.5.0, < 4.0.0" # random_bytes (the webhook signing secret)
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.2, < 3.0.0" # glob patterns in archive_file.excludes
    }
  }

  # Partial configuration: bucket and prefix are given at init time, e.g.
  #   terraform init -backend-config=bucket=my-tf-state -backend-config=prefix=imagegen
  # `terraform init -backend=false` (used by `make validate`) skips it entirely.
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = local.labels
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

# The Billing Budgets API must be called with a quota project when the caller
# uses user credentials (ADC from `gcloud auth application-default login`);
# this alias is used only by the optional budget.
provider "google" {
  alias                 = "billing"
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}
