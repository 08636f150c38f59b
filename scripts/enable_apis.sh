#!/usr/bin/env bash
# Enable every API terraform/apis.tf lists, before the first `terraform plan`.
#
# Terraform enables them too (google_project_service), but only during apply: a
# plan reads data sources and refreshes through APIs that a fresh project may not
# have enabled yet, and a just-enabled API can take a while to answer. Enabling
# them first, and waiting for each operation (gcloud does), makes the first apply
# in an empty project go through in one pass. Idempotent; run it again any time.
#
# Usage: scripts/enable_apis.sh PROJECT_ID   (needs roles/serviceusage.serviceUsageAdmin)
set -euo pipefail

cd "$(dirname "$0")/.."
PROJECT="${1:?usage: scripts/enable_apis.sh PROJECT_ID}"

if ! command -v gcloud >/dev/null 2>&1; then
  echo "enable_apis: the Google Cloud CLI (gcloud) is not installed or not on PATH." >&2
  exit 127
fi

# The list is read from apis.tf, so it cannot drift from what Terraform manages.
mapfile -t APIS < <(grep -oE '"[a-z0-9]+\.googleapis\.com"' terraform/apis.tf | tr -d '"' | sort -u)
[ "${#APIS[@]}" -gt 0 ] || { echo "enable_apis: no API found in terraform/apis.tf" >&2; exit 1; }

# Service Usage (enables APIs) and Cloud Resource Manager (project IAM) first:
# every other call of the apply goes through one of them.
echo "==> enabling serviceusage + cloudresourcemanager in $PROJECT"
gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com --project "$PROJECT"
echo "==> enabling ${#APIS[@]} APIs: ${APIS[*]}"
gcloud services enable "${APIS[@]}" --project "$PROJECT"
echo "enable_apis: done"
