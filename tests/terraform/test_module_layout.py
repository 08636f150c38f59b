"""terraform/ is a module, terraform/examples/deploy the root that calls it (issue 32).

The root takes the module's inputs unchanged (a copy of its variables.tf, each passed
through), gives back every output, configures the providers and the backend the module
does not, and moves every address of the old root into the module. docs/deploy.md's
input/output table is generated from the module (tools/tfstandin/moduledoc.py).
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from io import BytesIO

import pytest

from tools.tfstandin.moduledoc import markdown as module_io

from .conftest import EXAMPLE_DIR, REPO_ROOT, TF_DIR, TerraformConfig

ROOT_HEADER_LINES = 4  # the comment above the copy in examples/deploy/variables.tf
BEFORE_ISSUE_32 = "c08d881"


def test_the_root_takes_the_module_s_variables_unchanged() -> None:
    copy = (EXAMPLE_DIR / "variables.tf").read_text(encoding="utf-8").split("\n")
    module = (TF_DIR / "variables.tf").read_text(encoding="utf-8")
    assert "\n".join(copy[ROOT_HEADER_LINES:]) == module, (
        "terraform/examples/deploy/variables.tf must be the module's (below its header): "
        "python -m tools.tfstandin moduledoc --sync"
    )


def test_the_root_passes_every_input_and_gives_back_every_output(tf: TerraformConfig) -> None:
    main = (EXAMPLE_DIR / "main.tf").read_text(encoding="utf-8")
    passed = dict(re.findall(r"(?m)^  (\w+)\s+= var\.(\w+)$", main))
    assert passed == {name: name for name in tf.variables}, "main.tf passes each var as itself"
    assert re.search(r'source\s+= "\.\./\.\."', main)
    outputs = (EXAMPLE_DIR / "outputs.tf").read_text(encoding="utf-8")
    given = dict(re.findall(r'output "(\w+)" \{[^}]*?value\s+= module\.imagegen\.(\w+)', outputs))
    assert given == {name: name for name in tf.outputs}


def test_the_root_configures_what_the_module_does_not() -> None:
    versions = (EXAMPLE_DIR / "versions.tf").read_text(encoding="utf-8")
    assert re.search(r'backend "gcs" \{\}', versions), "partial GCS backend, set at init"
    assert re.search(r'(?s)provider "google" \{.*?alias\s+= "billing"', versions)
    assert "default_labels = module.imagegen.labels" in versions
    main = (EXAMPLE_DIR / "main.tf").read_text(encoding="utf-8")
    assert "google.billing = google.billing" in main
    assert not (TF_DIR / ".terraform.lock.hcl").exists(), "the lock belongs to the root"
    assert (EXAMPLE_DIR / ".terraform.lock.hcl").exists()


def _old_addresses(tmp_path) -> set[str]:
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", BEFORE_ISSUE_32, "terraform"],
        capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"needs the commit {BEFORE_ISSUE_32} (a full clone)", pytrace=False)
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(tmp_path, filter="data")
    text = "\n".join(p.read_text() for p in (tmp_path / "terraform").glob("*.tf"))
    declared = set(re.findall(r'(?m)^resource "(\w+)" "(\w+)"', text))
    moved_from = re.findall(r"(?m)^\s*from\s*=\s*(\w+)\.(\w+)", text)
    return {f"{t}.{n}" for t, n in declared | set(moved_from)}


def test_every_address_of_the_old_root_moves_into_the_module(tmp_path) -> None:
    moved = (EXAMPLE_DIR / "moved.tf").read_text(encoding="utf-8")
    pairs = dict(re.findall(r"(?m)^\s*from\s*=\s*(\S+)\n\s*to\s*=\s*(\S+)", moved))
    for old in sorted(_old_addresses(tmp_path)):
        assert pairs.get(old) == f"module.imagegen.{old}", f"moved.tf: {old} is not moved"
    assert all(to == f"module.imagegen.{frm}" for frm, to in pairs.items())


def test_the_guide_lists_the_module_s_inputs_and_outputs() -> None:
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = re.search(r"(?s)<!-- module-io -->\n(.*?)\n<!-- /module-io -->", doc)
    assert section, "docs/deploy.md: no <!-- module-io --> section"
    assert section.group(1) == module_io(TF_DIR), (
        "docs/deploy.md's input/output table is stale: "
        "python -m tools.tfstandin moduledoc --sync rewrites it"
    )
