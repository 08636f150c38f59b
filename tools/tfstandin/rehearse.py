"""`make rehearse`: cloudbuild.yaml's steps in order, offline, failing on the first step that
would fail in Cloud Build.

    python -m tools.tfstandin.rehearse [--skip-tests] [--keep DIR]

Each step of cloudbuild.yaml has a local stand-in here (a step it does not know fails the
rehearsal, so a new pipeline step needs one):

- check-substitutions: the step's own script, with the rehearsal's substitutions;
- fetch-terraform: `terraform` on PATH;
- test: `make test` (--skip-tests: skipped, and said so);
- enable-apis, studio-repository: the step's script with a `gcloud` that records its calls;
- studio-image: a dry check of the build context (deploychecks: the Dockerfile's inputs, a
  public base, the functions' Python, an entry point of main.py); the digest handed to plan
  is the SHA-256 of the context's files;
- fmt: `terraform fmt -check -recursive -diff terraform`;
- init: the root copied to a scratch directory (a local state instead of the GCS backend),
  `terraform get`, and every check of deploychecks (lock file, images, roles, waits,
  provider bounds);
- validate: the real `terraform validate`, stand-in providers at the locked versions;
- plan, apply: the fake-cloud providers (fakecloud.py) plan and apply into the scratch
  state, with the variables the pipeline sets;
- outputs: `terraform output -raw submit_url` of that state;
- smoke-test: scripts/smoke_test.py against the local stack (devstack), started and stopped
  here.

What it cannot prove (a real project can): Google's answers (permissions really granted,
quotas, org policies, propagation times), the real providers' plan logic, a real image build.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import yaml

from devstack.stack import Stack, StackConfig

from .catalog import local_modules, lowest, required_providers
from .deploychecks import applied_root, run
from .providers import REPO, standin_env, without_override_notice
from .replan import run_terraform, stage

PROJECT = "imagegen-rehearsal"
SUBSTITUTIONS = {
    "PROJECT_ID": PROJECT,
    "BUILD_ID": "rehearsal",
    "_TF_STATE_BUCKET": f"{PROJECT}-tfstate",
    "_TF_STATE_PREFIX": "imagegen",
    "_REGION": "us-central1",
    "_INVOKER_MEMBER": f"serviceAccount:deployer@{PROJECT}.iam.gserviceaccount.com",
}
RECORDING_GCLOUD = """#!/bin/sh
echo "gcloud $*" >> "$REHEARSAL_GCLOUD_LOG"
case "$*" in *"repositories describe"*) exit 1 ;; esac
exit 0
"""


class StepFailed(Exception):
    """A step would fail in Cloud Build; the message says why."""


class Rehearsal:
    def __init__(self, repo: Path, scratch: Path, skip_tests: bool) -> None:
        self.repo, self.scratch, self.skip_tests = repo, scratch, skip_tests
        self.build = yaml.safe_load((repo / "cloudbuild.yaml").read_text(encoding="utf-8"))
        self.subs = {**self.build.get("substitutions", {}), **SUBSTITUTIONS}
        self.workspace = scratch / "workspace"
        self.workspace.mkdir()
        self.state = scratch / "terraform.tfstate"
        self.root: Path | None = None
        self.env: dict | None = None

    # --- helpers --------------------------------------------------------------------------
    def substitute(self, text: str) -> str:
        for name, value in sorted(self.subs.items(), key=lambda kv: -len(kv[0])):
            text = text.replace("${" + name + "}", str(value)).replace("$" + name, str(value))
        return text.replace("$$", "$").replace("/workspace/", f"{self.workspace}/")

    def sh(self, args: list[str], env: dict | None = None) -> str:
        proc = subprocess.run(
            args, cwd=self.repo, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            output = without_override_notice(proc.stdout + proc.stderr)[-4000:]
            raise StepFailed(f"{' '.join(args[:3])} exit {proc.returncode}:\n{output}")
        return proc.stdout

    def recording_gcloud(self) -> tuple[dict, Path]:
        bin_dir = self.scratch / "bin"
        bin_dir.mkdir(exist_ok=True)
        gcloud = bin_dir / "gcloud"
        gcloud.write_text(RECORDING_GCLOUD)
        gcloud.chmod(0o755)
        log = self.scratch / "gcloud.log"
        log.unlink(missing_ok=True)
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
        env["REHEARSAL_GCLOUD_LOG"] = str(log)
        return env, log

    def tf_vars(self) -> list[str]:
        """The variables cloudbuild.yaml sets (options.env TF_VAR_*), substituted."""
        out = []
        for item in self.build.get("options", {}).get("env", []):
            name, _, value = self.substitute(item).partition("=")
            if name.startswith("TF_VAR_"):
                out.append(f"-var={name.removeprefix('TF_VAR_')}={value}")
        return out

    # --- the steps --------------------------------------------------------------------------
    def check_substitutions(self, step: dict) -> str:
        self.sh(["bash", "-c", self.substitute(step["args"][-1])])
        return "substitutions set"

    def fetch_terraform(self, step: dict) -> str:
        return self.sh(["terraform", "version"]).splitlines()[0]

    def test(self, step: dict) -> str:
        if self.skip_tests:
            return "SKIPPED (--skip-tests): `make test` did not run"
        self.sh(["make", "test"])
        return "make test passed"

    def scripted_gcloud(self, step: dict) -> str:
        env, log = self.recording_gcloud()
        self.sh([self.substitute(a) for a in step["args"]], env=env)
        calls = log.read_text().splitlines() if log.exists() else []
        if step["id"] == "enable-apis":
            apis = set(
                re.findall(
                    r'"([a-z0-9]+\.googleapis\.com)"',
                    (self.repo / "terraform" / "apis.tf").read_text(),
                )
            )
            enabled = set(" ".join(calls).split())
            if not apis <= enabled:
                raise StepFailed(f"enable_apis.sh did not enable {sorted(apis - enabled)}")
        return f"{len(calls)} gcloud calls: " + "; ".join(c[:80] for c in calls)

    def studio_image(self, step: dict) -> str:
        problems = run(self.repo)["studio-build"]
        if problems:
            raise StepFailed("\n".join(problems))
        context = self.repo / "functions"
        digest = hashlib.sha256()
        for path in sorted(context.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(context)).encode() + path.read_bytes())
        script = self.substitute(step["args"][-1])
        image = re.search(r'IMAGE="([^"]+):[^":]+"', script)
        if image is None:
            raise StepFailed("the studio-image step names no IMAGE=...:tag")
        reference = f"{image.group(1)}@sha256:{digest.hexdigest()}"
        (self.workspace / "studio_image").write_text(reference + "\n")
        return f"build context complete; digest handed to plan: {reference}"

    def fmt(self, step: dict) -> str:
        self.sh(["terraform", *step["args"]])
        return "formatted"

    def init(self, step: dict) -> str:
        problems = {k: v for k, v in run(self.repo).items() if v}
        if problems:
            raise StepFailed("\n".join(f"{k}: {p}" for k, v in problems.items() for p in v))
        root = applied_root(self.repo)
        self.root = stage(root, self.scratch / "work")
        # The locked versions are the ones `make validate --lowest` checks (test_rehearsal).
        providers = self.scratch / "providers"
        providers.mkdir()
        self.env = standin_env(root, providers, "lowest", fake_cloud=True)
        if len(local_modules(root)) > 1:
            run_terraform(self.root, self.env, "get")
        versions = ", ".join(
            f"{s} {lowest(s, c).provider_version}" for s, c in required_providers(root).values()
        )
        return f"lock file and checks ok; modules installed; providers {versions}"

    def validate(self, step: dict) -> str:
        assert self.root is not None and self.env is not None
        run_terraform(self.root, self.env, "validate")
        return "valid"

    def plan(self, step: dict) -> str:
        assert self.root is not None and self.env is not None
        image = (self.workspace / "studio_image").read_text().strip()
        run_terraform(
            self.root, self.env, "plan", "-input=false", f"-state={self.state}",
            "-out=tfplan", *self.tf_vars(), f"-var=studio_image={image}",
        )  # fmt: skip
        shown = run_terraform(self.root, self.env, "show", "tfplan").stdout
        summary = re.search(r"Plan: .*", shown)
        return summary.group(0) if summary else "planned"

    def apply(self, step: dict) -> str:
        assert self.root is not None and self.env is not None
        out = run_terraform(self.root, self.env, "apply", f"-state={self.state}", "tfplan")
        summary = re.search(r"Apply complete!.*", out.stdout)
        return summary.group(0) if summary else "applied"

    def outputs(self, step: dict) -> str:
        assert self.root is not None and self.env is not None
        url = run_terraform(
            self.root, self.env, "output", f"-state={self.state}", "-raw", "submit_url"
        ).stdout
        (self.workspace / "submit_url").write_text(url)
        return f"submit_url = {url} (fake cloud; the smoke test runs against the local stack)"

    def smoke_test(self, step: dict) -> str:
        args = step["args"][-1]
        model = re.search(r'--model "([^"]+)"', self.substitute(args))
        stack = Stack(StackConfig.from_env(root=self.repo))
        env = stack.up()
        try:
            out = self.sh(
                [sys.executable, "scripts/smoke_test.py", env["IMAGEGEN_SUBMIT_URL"],
                 "--caller", "rehearsal@example.com", "--poll", "1", "--timeout", "120",
                 "--model", model.group(1) if model else "gemini-3.1-flash-image"],
            )  # fmt: skip
        finally:
            stack.down()
        return out.strip().splitlines()[-1][:200]

    RUNNERS: ClassVar[dict[str, Callable[[Rehearsal, dict], str]]] = {
        "check-substitutions": check_substitutions,
        "fetch-terraform": fetch_terraform,
        "test": test,
        "enable-apis": scripted_gcloud,
        "studio-repository": scripted_gcloud,
        "studio-image": studio_image,
        "fmt": fmt,
        "init": init,
        "validate": validate,
        "plan": plan,
        "apply": apply,
        "outputs": outputs,
        "smoke-test": smoke_test,
    }

    def run(self, only: set[str] | None = None) -> int:
        for step in self.build["steps"]:
            sid = step.get("id")
            runner = self.RUNNERS.get(sid)
            if runner is None:
                print(f"rehearse: FAILED {sid}: the rehearsal does not know this step; add it")
                return 1
            if only is not None and sid not in only:
                print(f"rehearse: {sid}: not selected")
                continue
            try:
                print(f"rehearse: {sid}: {runner(self, step)}", flush=True)
            except (StepFailed, SystemExit) as failure:  # run_terraform exits on a failure
                print(f"rehearse: FAILED {sid}: {failure}")
                return 1
        print("rehearse: every step of cloudbuild.yaml passed")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.tfstandin.rehearse", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--skip-tests", action="store_true", help="do not run `make test`")
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--keep", type=Path, help="keep the scratch directory here")
    args = parser.parse_args(argv)
    if shutil.which("terraform") is None:
        print("rehearse: `terraform` is not installed or not on PATH (need >= 1.5)")
        return 127
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return Rehearsal(args.repo.resolve(), args.keep, args.skip_tests).run()
    with tempfile.TemporaryDirectory(prefix="rehearse-") as tmp:
        return Rehearsal(args.repo.resolve(), Path(tmp), args.skip_tests).run()


if __name__ == "__main__":
    sys.exit(main())
