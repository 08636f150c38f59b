"""cloudbuild.yaml, the Makefile and the deploy scripts: what a first deploy depends on."""

from __future__ import annotations

import re

import pytest
import yaml  # pyyaml: a dev dependency (pyproject.toml)

from .conftest import REPO_ROOT, TerraformConfig


@pytest.fixture(scope="module")
def build() -> dict:
    return yaml.safe_load((REPO_ROOT / "cloudbuild.yaml").read_text(encoding="utf-8"))


def _step(build: dict, step_id: str) -> dict:
    for step in build["steps"]:
        if step["id"] == step_id:
            return step
    raise AssertionError(f"cloudbuild.yaml has no step {step_id!r}")


def test_terraform_image_is_a_full_release(build: dict) -> None:
    version = build["substitutions"]["_TF_VERSION"]
    assert re.fullmatch(r"1\.\d+\.\d+", version), f"pin a full 1.x.y version, not {version!r}"
    terraform_steps = [s for s in build["steps"] if s["name"].startswith("hashicorp/terraform")]
    assert terraform_steps
    assert all(s["name"] == "hashicorp/terraform:${_TF_VERSION}" for s in terraform_steps)


def test_tests_run_on_the_functions_python(build: dict, tf: TerraformConfig) -> None:
    runtime = tf.locals["runtime"]  # e.g. python311
    major, minor = runtime.removeprefix("python")[0], runtime.removeprefix("python")[1:]
    script = "\n".join(_step(build, "test")["args"])
    assert f"uv python install {major}.{minor}" in script
    assert f"sys.version_info[:2] == ({major}, {minor})" in script
    assert 'make test PYTHON="$$PY311"' in script


def test_checkov_is_installed_once(build: dict) -> None:
    script = "\n".join(_step(build, "test")["args"])
    assert "checkov" not in script, "make tools installs checkov; the step must not add another"
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^CHECKOV \?=", makefile, re.M), "a caller's CHECKOV must win (?=)"
    assert not re.search(r"^export CHECKOV :=", makefile, re.M)


def test_apis_are_enabled_before_the_first_plan(build: dict) -> None:
    ids = [s["id"] for s in build["steps"]]
    assert ids.index("enable-apis") < ids.index("init") < ids.index("plan")
    assert _step(build, "enable-apis")["args"] == ["scripts/enable_apis.sh", "$PROJECT_ID"]
    script = (REPO_ROOT / "scripts" / "enable_apis.sh").read_text(encoding="utf-8")
    assert "terraform/apis.tf" in script and "cloudresourcemanager.googleapis.com" in script


def test_make_validate_is_offline_and_part_of_make_test() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^validate: tools\n\tscripts/validate_terraform.sh", makefile, re.M)
    # make test runs pytest over tests/, which includes test_terraform_validate.py
    assert re.search(r"^test: install tools lint\n\t\$\(PY\) -m pytest$", makefile, re.M)
    assert (REPO_ROOT / "tests" / "terraform" / "test_terraform_validate.py").exists()
