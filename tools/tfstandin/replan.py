"""`replan OLD NEW`: does a refactored configuration change anything in a deployment?

OLD (what a deployment runs today) is applied with the fake-cloud stand-in providers
(fakecloud.py) into a scratch local state; then NEW is planned against that state, as an
operator's `terraform plan` after pulling the refactor would be. The answer is the plan:
every resource is a no-op (perhaps after a `moved` block carried it to a new address), or
the change is listed with the attributes that differ. Offline: the providers never leave
this process tree, and the backend is a local file in a temporary directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from .catalog import local_modules
from .providers import standin_env, without_override_notice

# The configuration's backend block is dropped in the scratch copy: Terraform then keeps
# the state in a local file (-state), and needs no `terraform init`, which would ask the
# registry for the providers the dev_overrides already point at.
_BACKEND = re.compile(r'(?m)^\s*backend\s+"[a-z]+"\s*\{[^{}]*\}\s*$')


def run_terraform(work: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise SystemExit("tfstandin: `terraform` is not installed or not on PATH (need >= 1.5)")
    proc = subprocess.run(
        [terraform, f"-chdir={work}", *args, "-no-color"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(without_override_notice(proc.stdout + proc.stderr).strip())
        raise SystemExit(f"tfstandin: terraform {args[0]} failed (exit {proc.returncode})")
    return proc


def stage(config: Path, work: Path) -> Path:
    """Make ``work`` hold the configuration ``config`` only, with the local modules it
    calls at the same relative paths; the copy of ``config`` in it (backends removed)."""
    if work.exists():
        shutil.rmtree(work)
    modules = local_modules(config)
    top = Path(os.path.commonpath([str(m) for m in modules]))
    # archive_file reads ../functions with the real provider; the fake one reads nothing.
    shutil.copytree(top, work, ignore=shutil.ignore_patterns(".terraform", ".build", "*.tfstate*"))
    root = work / config.resolve().relative_to(top)
    for tf in root.glob("*.tf"):
        tf.write_text(_BACKEND.sub("", tf.read_text()))
    return root


def _changed_attributes(before: object, after: object, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after)):
            out += _changed_attributes(before.get(key), after.get(key), f"{path}.{key}")
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            out += _changed_attributes(b, a, f"{path}[{i}]")
        return out
    return [] if before == after else [f"{path.lstrip('.')}: {before!r} -> {after!r}"]


def replan(old_dir: Path, new_dir: Path, var_files: list[str], keep: Path | None = None) -> int:
    """Apply ``old_dir``, plan ``new_dir`` on its state; 0 when the plan changes nothing.

    ``keep``: a directory that receives old-state.json (every resource of OLD with its
    evaluated arguments) and plan.json (the plan of NEW), for a reader to inspect.
    """
    var_args = [f"-var-file={Path(f).resolve()}" for f in var_files]
    with tempfile.TemporaryDirectory(prefix="tfstandin-replan-") as tmp_text:
        tmp = Path(tmp_text)
        providers = tmp / "providers"
        providers.mkdir()
        env = standin_env(new_dir, providers, versions="lowest", fake_cloud=True)
        work, state = tmp / "work", tmp / "terraform.tfstate"
        root = stage(old_dir, work)
        if len(local_modules(old_dir)) > 1:
            run_terraform(root, env, "get")
        run_terraform(
            root, env, "apply", "-input=false", "-auto-approve", f"-state={state}", *var_args
        )
        applied = json.loads(run_terraform(root, env, "show", "-json", str(state)).stdout)
        count = len(applied.get("values", {}).get("root_module", {}).get("resources", []))
        print(f"replan: applied {old_dir} into a scratch state: {count} resources")

        root = stage(new_dir, work)
        if len(local_modules(new_dir)) > 1:
            run_terraform(root, env, "get")
        run_terraform(
            root, env, "plan", "-input=false", f"-state={state}", "-out=replan.tfplan", *var_args
        )
        plan = json.loads(run_terraform(root, env, "show", "-json", "replan.tfplan").stdout)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "old-state.json").write_text(json.dumps(applied, indent=1, sort_keys=True))
        (keep / "plan.json").write_text(json.dumps(plan, indent=1, sort_keys=True))

    changes = [c for c in plan.get("resource_changes", []) if c["mode"] == "managed"]
    moved = [c for c in changes if c.get("previous_address")]
    for c in moved:
        print(f"replan: moved {c['previous_address']} -> {c['address']}")
    real = [c for c in changes if c["change"]["actions"] != ["no-op"]]
    for c in real:
        change = c["change"]
        print(f"replan: CHANGE {'/'.join(change['actions'])} {c['address']}")
        for line in _changed_attributes(change.get("before"), change.get("after")):
            print(f"    {line}")
    print(
        f"replan: {len(changes)} resources planned, {len(moved)} moved, "
        f"{len(real)} changed; {'nothing would change' if not real else 'NOT a pure refactor'}"
    )
    return 1 if real else 0
