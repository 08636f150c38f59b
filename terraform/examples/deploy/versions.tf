# The root cloudbuild.yaml applies: providers, the state backend and the module.
# .terraform.lock.hcl beside this file pins the provider versions and their checksums;
# `terraform init` installs exactly those (upgrade on purpose: `terraform init -upgrade`,
# then commit the lock file).
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.50.0, < 7.0.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 6.50.0, < 7.0.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.7.2, < 4.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.7.1, < 3.0.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.13.1, < 1.0.0"
    }
  }

  # Partial configuration: bucket and prefix are given at init time, e.g.
  #   terraform init -backend-config=bucket=my-tf-state -backend-config=prefix=imagegen
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = module.imagegen.labels
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

# The Billing Budgets API must be called with a quota project when the caller
# uses user credentials (ADC from `gcloud auth application-default login`);
# the module uses this configuration only for the optional budget.
provider "google" {
  alias                 = "billing"
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}
