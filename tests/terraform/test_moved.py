"""Deployments made before issue 19 keep every resource when they apply the new layout.

The functions, and the grants and subscriptions that follow them, became for_each
resources (one definition each). Terraform would destroy a resource whose address
disappears and create it again under the new one; a `moved` block from each old address
to its new instance makes the change a rename in the state instead.

Two checks: every old address has its moved block (structural, from the HCL), and
`tools.tfstandin replan` applies the pre-refactor configuration into a scratch state and
plans this one against it: nothing may be created, changed or destroyed (the plan
compares every argument of every resource, evaluated).
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, TF_DIR, TerraformConfig, for_each_map
from .test_terraform_validate import _standin_python

# The last commit before the functions were one resource (main when issue 19 began).
BEFORE = "a61b7d4"

FN = "google_cloudfunctions2_function"
RUN = "google_cloud_run_v2_service_iam_member"
SUB = "google_pubsub_subscription"
PUB = "google_pubsub_topic_iam_member"
GCS = "google_storage_bucket_iam_member"
SA = "google_service_account"
PLATFORM = ["push_invoker", "upload_trigger", "scheduler", "build"]
JOBS = ["submit", "on_upload", "sweep"]
EVENTS = ["submit", "generate", "on_upload", "dead_letter", "sweep"]
# Every address of BEFORE's terraform/ that is now an instance of a for_each resource.
OLD_ADDRESSES = {
    f"{FN}.submit": f'{FN}.function["submit"]',
    f"{FN}.generate": f'{FN}.function["generate"]',
    f"{FN}.on_upload": f'{FN}.function["on_upload"]',
    f"{FN}.dead_letter": f'{FN}.function["dead_letter"]',
    f"{FN}.sweep": f'{FN}.function["sweep"]',
    f"{FN}.deliver_webhooks": f'{FN}.function["deliver_webhooks"]',
    f"{RUN}.push_invokes_generate": f'{RUN}.invoker["generate"]',
    f"{RUN}.push_invokes_dead_letter": f'{RUN}.invoker["dead_letter"]',
    f"{RUN}.push_invokes_deliver_webhooks": f'{RUN}.invoker["deliver_webhooks"]',
    f"{RUN}.upload_trigger_invokes_on_upload": f'{RUN}.invoker["on_upload"]',
    f"{RUN}.scheduler_invokes_sweep": f'{RUN}.invoker["sweep"]',
    f"{SUB}.generate": f'{SUB}.push["generate"]',
    f"{SUB}.dead_letter": f'{SUB}.push["dead-letter"]',
    f'{SUB}.webhooks["deliver-webhooks"]': f'{SUB}.push["deliver-webhooks"]',
    f'{SUB}.webhooks["webhook-retries"]': f'{SUB}.push["webhook-retries"]',
    f"{SUB}.dead_letter_hold": f'{SUB}.hold["dead-letter"]',
    f"{SUB}.webhooks_dead_letter_hold": f'{SUB}.hold["webhooks-dead-letter"]',
    f"{SUB}_iam_member.dead_letter_source_subscriber": (
        f'{SUB}_iam_member.dead_letter_source["generate"]'
    ),
    f'{SUB}_iam_member.webhooks_dead_letter_source["deliver-webhooks"]': (
        f'{SUB}_iam_member.dead_letter_source["deliver-webhooks"]'
    ),
    f'{SUB}_iam_member.webhooks_dead_letter_source["webhook-retries"]': (
        f'{SUB}_iam_member.dead_letter_source["webhook-retries"]'
    ),
    **{f'{PUB}.jobs_publisher["{f}"]': f'{PUB}.publisher["jobs/{f}"]' for f in JOBS},
    **{f'{PUB}.job_events_publisher["{f}"]': f'{PUB}.publisher["job-events/{f}"]' for f in EVENTS},
    f"{PUB}.dead_letter_publisher": f'{PUB}.publisher["dead-letter/pubsub-agent"]',
    f'{PUB}.webhooks_dead_letter_publisher["agent"]': (
        f'{PUB}.publisher["webhooks-dead-letter/pubsub-agent"]'
    ),
    f'{PUB}.webhooks_dead_letter_publisher["function"]': (
        f'{PUB}.publisher["webhooks-dead-letter/webhooks"]'
    ),
    f"{PUB}.sweep_publishes_webhook_retries": f'{PUB}.publisher["webhook-retries/sweep"]',
    f"{GCS}.generate_outputs": f'{GCS}.function["generate/outputs"]',
    f"{GCS}.on_upload_reads_uploads": f'{GCS}.function["on_upload/uploads"]',
    f"{GCS}.on_upload_writes_results": f'{GCS}.function["on_upload/results"]',
    f"{GCS}.submit_signs_outputs[0]": f'{GCS}.function["submit/outputs"]',
    f"{GCS}.webhooks_read_outputs": f'{GCS}.function["webhooks/outputs"]',
    f"{GCS}.webhooks_rewrite_results": f'{GCS}.function["webhooks/results"]',
    **{f"{SA}.{k}": f'{SA}.platform["{k}"]' for k in PLATFORM},
    f"{PUB}.studio_jobs_publisher[0]": f'{PUB}.studio_publisher["jobs"]',
    f"{PUB}.studio_events_publisher[0]": f'{PUB}.studio_publisher["job-events"]',
    "google_cloud_scheduler_job.sweep": 'google_cloud_scheduler_job.sweep["sweep"]',
    "google_cloud_scheduler_job.model_check": 'google_cloud_scheduler_job.sweep["model-check"]',
}


def _moves(tf: TerraformConfig) -> dict[str, str]:
    def bare(ref: str) -> str:
        return ref[2:-1] if ref.startswith("${") else ref

    return {bare(m["from"]): bare(m["to"]) for m in tf.moved}


def test_every_old_address_has_a_moved_block(tf: TerraformConfig) -> None:
    moves = _moves(tf)
    for old, new in OLD_ADDRESSES.items():
        assert moves.get(old) == new, f"moved {{ from = {old} to = {new} }} is missing"


def test_moved_blocks_lead_to_instances_that_exist(tf: TerraformConfig) -> None:
    declared = {r.address for r in tf.resources}
    for old, new in _moves(tf).items():
        if old != new.split("[")[0]:  # a resource that gained for_each keeps its name
            assert old.split("[")[0] not in declared, f"{old} is still declared"
        m = re.fullmatch(r'(\w+)\.(\w+)\["([^"]+)"\]', new)
        assert m, f'moved to {new}: expected <type>.<name>["key"]'
        rtype, rname, key = m.groups()
        resource = tf.get(rtype, rname)
        assert key in for_each_map(tf, resource), (
            f"moved to {new}, but {resource.address} has no such instance"
        )


def _old_configuration(dest: Path) -> Path:
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", BEFORE, "terraform"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"needs git and the commit {BEFORE} in this checkout (a full clone): "
            + proc.stderr.decode(errors="replace"),
            pytrace=False,
        )
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "terraform"


VARS = """\
project_id            = "imagegen-replan"
invoker_members       = ["user:alice@example.com", "group:clients@example.com"]
admin_members         = ["user:admin@example.com"]
studio_members        = ["group:designers@example.com"]
reference_buckets     = ["extra-refs-bucket"]
notification_channels = ["projects/imagegen-replan/notificationChannels/123"]
budget                = { enabled = true, billing_account = "012345-6789AB-CDEF01" }
"""


# Changes made on purpose since BEFORE, each with its reason: the plan must show exactly
# these (address -> the attribute lines replan prints under it), nothing else.
INTENDED = {
    # issue 18: each image is streamed to Cloud Storage, one 4 x 4K job peaks at 217 MiB
    # (bench/RESULTS.md, memory): generate's default memory follows the measurement
    f'{FN}.function["generate"]': ["service_config[0].available_memory: '1Gi' -> '512Mi'"],
    # issue 28: the synchronous front doors wait up to 300 s for a job on submit
    f'{FN}.function["submit"]': ["service_config[0].timeout_seconds: 60 -> 360"],
}


def _changes(out: str) -> dict[str, list[str]]:
    """replan's `CHANGE <action> <address>` lines, each with the attribute lines under it."""
    changes: dict[str, list[str]] = {}
    current = None
    for line in out.splitlines():
        found = re.match(r"replan: CHANGE \S+ (\S+)$", line.strip())
        if found:
            current = changes.setdefault(found.group(1), [])
        elif current is not None and line.startswith("    "):
            current.append(line.strip())
        else:
            current = None
    return changes


def test_an_existing_deployment_plans_only_renames_and_intended_changes(tmp_path: Path) -> None:
    """Apply BEFORE (fake-cloud providers, scratch state), plan this configuration: only
    renames (moved) and the INTENDED changes."""
    old = _old_configuration(tmp_path / "before")
    var_file = tmp_path / "replan.tfvars"
    var_file.write_text(VARS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run(
        [_standin_python(), "-m", "tools.tfstandin", "replan", str(old), str(TF_DIR),
         "--var-file", str(var_file)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert _changes(out) == INTENDED, out
    assert f"46 moved, {len(INTENDED)} changed" in out, out
    for old_address, new_address in OLD_ADDRESSES.items():
        assert f"replan: moved {old_address} -> {new_address}" in out, out
