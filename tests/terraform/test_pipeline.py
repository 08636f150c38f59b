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
    assert ids.index("enable-apis") < ids.index("studio-repository")  # Artifact Registry API
    assert _step(build, "enable-apis")["args"] == ["scripts/enable_apis.sh", "$PROJECT_ID"]
    script = (REPO_ROOT / "scripts" / "enable_apis.sh").read_text(encoding="utf-8")
    assert "terraform/apis.tf" in script and "cloudresourcemanager.googleapis.com" in script


def test_make_validate_is_offline_and_part_of_make_test() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^validate: tools\n\tscripts/validate_terraform.sh", makefile, re.M)
    # make test runs pytest over tests/ (in two parts side by side, together the whole
    # suite: tests/conftest.py), which includes test_terraform_validate.py
    assert re.search(
        r"^test: install tools lint\n\t\$\(PY\) scripts/test_parts.py$", makefile, re.M
    )
    runner = (REPO_ROOT / "scripts" / "test_parts.py").read_text(encoding="utf-8")
    assert '"-m", "pytest"' in runner and "IMAGEGEN_TEST_PART" in runner
    assert (REPO_ROOT / "tests" / "terraform" / "test_terraform_validate.py").exists()


def test_terraform_steps_apply_the_example_root(build: dict) -> None:
    """The module has no backend: every terraform step after fmt runs in its root."""
    for step_id in ("init", "validate", "plan", "apply", "outputs"):
        script = " ".join(_step(build, step_id)["args"])
        assert "-chdir=terraform/examples/deploy" in script, (step_id, script)
    init = " ".join(_step(build, "init")["args"])
    assert "-upgrade" not in init, "the committed lock file decides the provider versions"
    env = build["options"]["env"]
    assert "TF_VAR_state_bucket=${_TF_STATE_BUCKET}" in env


def test_the_studio_image_is_built_before_plan_and_passed_by_digest(build: dict) -> None:
    ids = [s["id"] for s in build["steps"]]
    assert ids.index("studio-repository") < ids.index("studio-image") < ids.index("plan")
    image = "\n".join(_step(build, "studio-image")["args"])
    assert "docker build -f studio.Dockerfile" in image and "docker push" in image
    assert "RepoDigests" in image and "> /workspace/studio_image" in image
    assert "studio:$BUILD_ID" in image, "a tag per build: never a fixed :latest"
    plan = " ".join(_step(build, "plan")["args"])
    assert "-var studio_image=$$(cat /workspace/studio_image)" in plan


def test_smoke_test_uses_the_script_and_a_current_model(build: dict) -> None:
    script = "\n".join(_step(build, "smoke-test")["args"])
    assert "python3 scripts/smoke_test.py" in script
    assert "curl" not in script
    assert build["substitutions"]["_SMOKE_MODEL"] == "gemini-3.1-flash-image"


def test_make_rehearse_runs_the_pipeline_offline() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(
        r"^rehearse: install tools\n\t\$\(PY\) -m tools.tfstandin.rehearse", makefile, re.M
    )
