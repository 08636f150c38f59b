"""The offline checks of a first deploy (tools/tfstandin/deploychecks.py): order, time and
permission, what `terraform validate`, checkov and `replan` cannot see.

Each check passes on this tree and fails on a copy of the tree before issue 32 (c08d881),
with the finding issue 32 reported: a check that passed there would not have caught it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from tools.tfstandin import deploychecks
from tools.tfstandin.deployer_roles import NEEDS, project_roles

from .conftest import REPO_ROOT, TF_DIR, TerraformConfig, as_map

BEFORE_ISSUE_32 = "c08d881"


@pytest.fixture(scope="module")
def main_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the checks read, as they were before issue 32."""
    dest = tmp_path_factory.mktemp("before-issue-32")
    paths = ["terraform", "functions", "cloudbuild.yaml", "docs", "scripts", ".gitignore"]
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", BEFORE_ISSUE_32, *paths],
        capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(
            f"needs git and the commit {BEFORE_ISSUE_32} in this checkout (a full clone): "
            + proc.stderr.decode(errors="replace"),
            pytrace=False,
        )
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.mark.parametrize("name", sorted(deploychecks.CHECKS))
def test_this_tree_passes_every_check(name: str) -> None:
    assert deploychecks.CHECKS[name](REPO_ROOT) == []


# What each check must report on the tree before issue 32 (issue 32's findings 1-6).
BEFORE = {
    "images": [r"google_cloud_run_v2_service\.studio runs the image '\$\{local\.studio_image\}'"],
    "roles": [
        r"missing \['roles/cloudtasks\.admin', 'roles/iap\.admin', "
        r"'roles/secretmanager\.admin'\]"
    ],
    "waits": [
        r"alert_policy\.failure_ratio reads the log-based metric google_logging_metric\.job_events",
        r"function depends on the grant google_project_iam_member\.build_log_writer",
        r"has an Eventarc trigger, but roles/eventarc\.serviceAgent is not granted",
    ],
    "providers": [r"google \(hashicorp/google\) '>= 6\.14\.0, < 7\.0\.0' allows 6\.14\.0"],
    "lock": [r"terraform/\.terraform\.lock\.hcl is missing"],
    "studio-build": [r"no step of cloudbuild\.yaml builds a container image"],
}


@pytest.mark.parametrize("name", sorted(deploychecks.CHECKS))
def test_each_check_fails_on_the_tree_before_issue_32(main_copy: Path, name: str) -> None:
    problems = "\n".join(deploychecks.CHECKS[name](main_copy))
    for finding in BEFORE[name]:
        assert re.search(finding, problems), problems


def test_every_check_is_shown_failing() -> None:
    assert set(BEFORE) == set(deploychecks.CHECKS)


# --- the checks are not rubber stamps on this tree either ----------------------------------
def _copy(tmp_path: Path) -> Path:
    """The files the checks read, copied from this tree (a test may then break them)."""
    skip = shutil.ignore_patterns(".terraform", ".build", "__pycache__", "*.tfstate*")
    for folder in ("terraform", "functions", "docs"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder, ignore=skip)
    for name in ("cloudbuild.yaml", "studio.Dockerfile", ".gitignore"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def test_a_function_that_skips_the_wait_is_reported(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    functions = repo / "terraform" / "functions.tf"
    text = functions.read_text()
    functions.write_text(
        text.replace("time_sleep.grants_propagated,", "google_project_iam_member.build_log_writer,")
    )
    (repo / "terraform" / "waits.tf").write_text(
        (repo / "terraform" / "waits.tf")
        .read_text()
        .replace("google_project_iam_member.build_log_writer,", "")
    )
    problems = "\n".join(deploychecks.check_waits(repo))
    assert "depends on the grant google_project_iam_member.build_log_writer" in problems


def test_a_lock_outside_the_constraints_is_reported(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    lock = repo / "terraform" / "examples" / "deploy" / ".terraform.lock.hcl"
    lock.write_text(lock.read_text().replace('version     = "0.13.1"', 'version     = "0.9.1"'))
    assert "locks hashicorp/time 0.9.1, outside" in "\n".join(deploychecks.check_lock_file(repo))


def test_a_dockerfile_copying_a_missing_file_is_reported(tmp_path: Path) -> None:
    repo = _copy(tmp_path)
    dockerfile = repo / "studio.Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY main.py ./", "COPY app.py ./"))
    assert "COPY app.py: not in functions/" in "\n".join(deploychecks.check_studio_build(repo))


# --- the role table itself -----------------------------------------------------------------
def test_every_row_names_a_role_and_a_google_page() -> None:
    for need in NEEDS:
        assert need.permission, need
        if need.roles:
            assert all(r.startswith("roles/") for r in need.roles), need
            assert need.source.startswith("https://cloud.google.com/"), need
    assert {"roles/secretmanager.admin", "roles/iap.admin"} <= set(project_roles())
    assert not {"roles/owner", "roles/editor"} & set(project_roles())


# --- documentation drift (issue 32, finding 7) ------------------------------------------------
NUMBERS = {"five": 5, "six": 6, "seven": 7, "eight": 8}


def test_the_deploy_guide_counts_the_functions(tf: TerraformConfig) -> None:
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    said = re.search(r"(\w+) Cloud Functions", doc)
    assert said and NUMBERS.get(said.group(1)) == len(as_map(tf.locals["functions"])), said


def test_the_deploy_guide_states_the_variables_defaults(tf: TerraformConfig) -> None:
    """Every row of the guide's variable table whose default is a plain value states the
    default variables.tf has (it said `refuse` for retired_model_policy, which is `route`)."""
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    doc = doc[doc.index("Common variables") :]
    doc = doc[: doc.index("\n## ")]
    checked = 0
    for name, default in re.findall(r"(?m)^\| `(\w+)` \| `([^`]*)` \|", doc):
        var = tf.variables.get(name)
        if var is None or isinstance(var.get("default"), (dict, list)):
            continue
        actual = var.get("default")
        actual = (
            {True: "true", False: "false"}.get(actual, actual)
            if isinstance(actual, bool)
            else actual
        )
        assert str(actual) == default.strip('"'), (
            f"docs/deploy.md: {name} defaults to {actual!r}, not {default!r}"
        )
        checked += 1
    assert checked >= 5 and "retired_model_policy" in doc


def test_checks_run_from_the_command_line() -> None:
    proc = subprocess.run(
        [".venv/bin/python" if (REPO_ROOT / ".venv").exists() else "python", "-m",
         "tools.tfstandin", "check"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": ok") == len(deploychecks.CHECKS), proc.stdout
    assert TF_DIR.exists()
