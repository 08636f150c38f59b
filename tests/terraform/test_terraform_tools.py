"""Run the real tools over terraform/: `terraform fmt -check` and checkov.

Both must be installed; a missing tool fails with its name, never skips.
checkov may live in its own environment (it pins a fork of the hcl2 module):
set CHECKOV=/path/to/checkov, or put it on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, TF_DIR


def _find(tool: str, env_var: str) -> str:
    explicit = os.environ.get(env_var)
    if explicit:
        return explicit
    found = shutil.which(tool)
    if found:
        return found
    beside_python = Path(sys.executable).parent / tool
    if beside_python.exists():
        return str(beside_python)
    pytest.fail(
        f"`{tool}` is not installed or not on PATH (set {env_var}=/path/to/{tool}); "
        f"it is required to check terraform/",
        pytrace=False,
    )


def test_terraform_fmt() -> None:
    terraform = _find("terraform", "TERRAFORM")
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        "terraform fmt found unformatted files; run `terraform fmt -recursive terraform`:\n"
        + proc.stdout
        + proc.stderr
    )


def test_checkov_has_no_failed_checks() -> None:
    checkov = _find("checkov", "CHECKOV")
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    proc = subprocess.run(
        [
            checkov,
            "-d",
            str(TF_DIR),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov produced no JSON report (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    reports = report if isinstance(report, list) else [report]
    failed = []
    for rep in reports:
        for check in rep.get("results", {}).get("failed_checks", []):
            failed.append(
                f"{check['check_id']} {check['resource']} ({check['file_path']}): "
                f"{check['check_name']}"
            )
        summary = rep.get("summary", {})
        if not rep.get("results") and summary.get("failed"):
            failed.append(f"{summary['failed']} failed checks")
    assert not failed, (
        "checkov failed checks (fix them or skip inline with #checkov:skip=CKV_...:reason):\n"
        + "\n".join(failed)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
