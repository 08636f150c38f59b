#!/usr/bin/env bash
# `make validate`: terraform init (without backend) + terraform validate.
# Needs the hashicorp/google, google-beta and archive providers, i.e. access to
# registry.terraform.io (or a provider mirror configured in ~/.terraformrc).
set -uo pipefail

cd "$(dirname "$0")/.."

if ! command -v terraform >/dev/null 2>&1; then
  echo "validate_terraform: 'terraform' is not installed or not on PATH (need >= 1.5)." >&2
  exit 127
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "==> terraform -chdir=terraform init -backend=false"
if ! terraform -chdir=terraform init -backend=false -input=false -no-color >"$log" 2>&1; then
  cat "$log" >&2
  if grep -qiE "registry\.terraform\.io|Failed to query available provider packages|could not connect|Failed to install provider|no such host|dial tcp|i/o timeout|connection refused" "$log"; then
    echo >&2
    echo "validate_terraform: the Terraform provider registry is not reachable, so the google/google-beta/archive" >&2
    echo "providers cannot be installed and 'terraform validate' cannot run here. Run it where" >&2
    echo "registry.terraform.io is reachable (or configure a provider mirror); the offline checks are" >&2
    echo "'scripts/check_terraform.sh' and 'pytest tests/terraform'." >&2
    exit 3
  fi
  echo "validate_terraform: terraform init failed (see above)." >&2
  exit 1
fi

echo "==> terraform -chdir=terraform validate"
terraform -chdir=terraform validate -no-color
