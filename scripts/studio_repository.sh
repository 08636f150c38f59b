#!/usr/bin/env bash
# The Artifact Registry repository (Docker) that holds the studio's images, made when it is
# missing. cloudbuild.yaml runs this before it builds the image: on a first deploy the image
# must be pushed before `terraform plan`, before Terraform could make a repository. It keeps
# the 10 newest images (older ones are deleted by a cleanup policy) and survives
# `terraform destroy` (docs/deploy.md, "Tear down").
#
# Usage: scripts/studio_repository.sh PROJECT_ID REGION REPOSITORY
#   (needs roles/artifactregistry.admin; idempotent)
set -euo pipefail

PROJECT="${1:?usage: scripts/studio_repository.sh PROJECT_ID REGION REPOSITORY}"
REGION="${2:?region}"
REPOSITORY="${3:?repository}"

if ! command -v gcloud >/dev/null 2>&1; then
  echo "studio_repository: the Google Cloud CLI (gcloud) is not installed or not on PATH." >&2
  exit 127
fi

if gcloud artifacts repositories describe "$REPOSITORY" --location "$REGION" --project "$PROJECT" >/dev/null 2>&1; then
  echo "studio_repository: $REGION/$REPOSITORY exists"
else
  echo "studio_repository: creating $REGION/$REPOSITORY"
  gcloud artifacts repositories create "$REPOSITORY" --project "$PROJECT" --location "$REGION" \
    --repository-format=docker --description="imagegen studio images (cloudbuild.yaml)"
fi

# Keep the 10 newest versions; delete the rest after 30 days (the same policy as the
# functions' repository, terraform/functions.tf).
POLICY="$(mktemp)"
trap 'rm -f "$POLICY"' EXIT
cat >"$POLICY" <<'JSON'
[
  {"name": "keep-recent", "action": {"type": "Keep"}, "mostRecentVersions": {"keepCount": 10}},
  {"name": "delete-old", "action": {"type": "Delete"}, "condition": {"olderThan": "2592000s"}}
]
JSON
gcloud artifacts repositories set-cleanup-policies "$REPOSITORY" --project "$PROJECT" \
  --location "$REGION" --policy="$POLICY" --no-dry-run
