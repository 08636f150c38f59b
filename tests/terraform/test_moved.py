"""Deployments made before issue 19, and before issue 32, keep every resource when they
apply today's layout.

Issue 19: the functions, and the grants and subscriptions that follow them, became
for_each resources (one definition each). Issue 32: terraform/ became a module called by
terraform/examples/deploy. Terraform would destroy a resource whose address disappears and
create it again under the new one; `moved` blocks (the module's own for issue 19, the
root's moved.tf for issue 32, chained) make both a rename in the state instead.

Two checks: every old address has its moved block (structural, from the HCL), and
`tools.tfstandin replan` applies each old configuration into a scratch state and plans
today's root against it: only moves and the INTENDED changes (the plan compares every
argument of every resource, evaluated).
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from .conftest import EXAMPLE_DIR, REPO_ROOT, TerraformConfig, for_each_map
from .test_terraform_validate import _standin_python

# The last commit before the functions were one resource (main when issue 19 began).
BEFORE = "a61b7d4"
# The last commit with terraform/ as the root (main when issue 32 began).
BEFORE_MODULE = "c08d881"

FN = "google_cloudfunctions2_function"
RUN = "google_cloud_run_v2_service_iam_member"
SUB = "google_pubsub_subscription"
PUB = "google_pubsub_topic_iam_member"
GCS = "google_storage_bucket_iam_member"
SA = "google_service_account"
PLATFORM = ["push_invoker", "upload_trigger", "scheduler", "build"]
# the jobs topic's publishers before issue 27 (jobs are Cloud Tasks tasks now): destroyed
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


def _old_configuration(dest: Path, commit: str) -> Path:
    proc = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", commit, "terraform"],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"needs git and the commit {commit} in this checkout (a full clone): "
            + proc.stderr.decode(errors="replace"),
            pytrace=False,
        )
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "terraform"


STUDIO_IMAGE = (
    "us-central1-docker.pkg.dev/imagegen-replan/imagegen-studio/studio@sha256:"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)
VARS = """\
project_id            = "imagegen-replan"
invoker_members       = ["user:alice@example.com", "group:clients@example.com"]
admin_members         = ["user:admin@example.com"]
studio_members        = ["group:designers@example.com"]
reference_buckets     = ["extra-refs-bucket"]
notification_channels = ["projects/imagegen-replan/notificationChannels/123"]
budget                = { enabled = true, billing_account = "012345-6789AB-CDEF01" }
state_bucket          = "imagegen-replan-tfstate"
studio_image          = "%s"
"""

M = "module.imagegen."

# Changes made on purpose since the old layouts, each with its reason: the plan must show
# exactly these (address -> the attribute lines replan prints under it, or a prefix of the
# one line of a created resource), nothing else. Add a change made on purpose here, with
# its reason, in the same commit.
INTENDED_SINCE_MODULE = {
    # issue 32: the studio runs the image the pipeline built, by digest; build_config (which
    # started no build) and base_image_uri (for source deploys) are gone
    f"{M}google_cloud_run_v2_service.studio[0]": [
        "build_config: [",
        "template[0].containers[0].base_image_uri: 'us-central1-docker.pkg.dev/serverless-"
        "runtimes/google-22-full/runtimes/python311' -> None",
        "template[0].containers[0].image: 'us-central1-docker.pkg.dev/imagegen-replan/"
        f"imagegen-functions/studio:latest' -> '{STUDIO_IMAGE}'",
    ],
    # issue 32: idempotency records expire (TTL on expire_at)
    f"{M}google_firestore_field.idempotency_expire_at_ttl": [
        ": None -> {'collection': 'idempotency'"
    ],
    # issue 32: the function build account may not read the Terraform state's bucket
    f"{M}google_project_iam_member.build_staging_access": ["condition: [] -> [{"],
    # issue 32: the Eventarc agent's role, granted explicitly
    f"{M}google_project_iam_member.eventarc_service_agent": [
        ": None -> {'condition': [], 'member'"
    ],
    # issue 32: the waits of a first apply (waits.tf)
    f"{M}time_sleep.apis_enabled": [": None -> {'create_duration': '60s'"],
    f"{M}time_sleep.grants_propagated": [": None -> {'create_duration': '180s'"],
    f"{M}time_sleep.log_metrics_ready": [": None -> {'create_duration': '600s'"],
    # issue 28: the synchronous front doors wait up to 300 s for a job on submit
    f'{M}{FN}.function["submit"]': ["service_config[0].timeout_seconds: 60 -> 360"],
    # issue 29 (terraform/batches.tf): a sweep splits a batch's output for up to 240 s
    f'{M}{FN}.function["sweep"]': [
        "service_config[0].available_memory: '256Mi' -> '512Mi'",  # the split's peak (bench)
        "service_config[0].timeout_seconds: 60 -> 300",
    ],
    f'{M}google_cloud_scheduler_job.sweep["sweep"]': ["attempt_deadline: '120s' -> '320s'"],
    # issue 29: the Vertex AI service agent, and who may touch a batch's files
    f"{M}google_project_service_identity.aiplatform": [
        ": None -> {'project': 'imagegen-replan', 'service': 'aiplatform.googleapis.com'"
    ],
    **{
        f'{M}google_storage_bucket_iam_member.batch["{key}"]': [
            ": None -> {'bucket': 'imagegen-replan-imagegen-outputs', 'condition': "
            + ("[]" if key == "sweep/read" else f"[{{'description': '{key}: objects under")
        ]
        for key in (
            "vertex-agent/read-inputs",
            "vertex-agent/write-outputs",
            "submit/batch-files",
            "on_upload/batch-files",
            "sweep/read",
            "sweep/item-images",
        )
    },
    # issue 29: the sweep creates, follows and cancels Vertex batch prediction jobs
    f"{M}google_project_iam_member.sweep_batch_jobs": [": None -> {'condition': [], 'member'"],
    # issue 29: the studio's list of a caller's batches, newest first
    f"{M}google_firestore_index.batches_caller_created": [
        ": None -> {'api_scope': None, 'collection': 'batches'"
    ],
    # issue 29: a batch's files under batches/ are deleted after batch_files_retention_days
    f"{M}google_storage_bucket.outputs": ["lifecycle_rule: [{"],
}
# issue 27: jobs wait for their turn in Cloud Tasks queues (terraform/tasks.tf): the API, the
# default queue (no model is paced in VARS), the tasks' invoker account and its grants, the
# enqueuers' roles; every function reads its queues instead of the jobs topic, which nobody
# publishes to any more (its publishers' grants go); the new API defers the data source of
# the Cloud Storage agent to apply (its grant's member is unknown at plan, unchanged)
TASKS_ENV = [
    "service_config[0].environment_variables.IMAGEGEN_JOBS_TOPIC: 'imagegen-jobs' -> None",
    "service_config[0].environment_variables.IMAGEGEN_TASKS_LOCATION: None -> 'us-central1'",
    "service_config[0].environment_variables.IMAGEGEN_TASKS_QUEUE: None -> 'imagegen-jobs'",
    "service_config[0].environment_variables.IMAGEGEN_TASKS_QUEUES: None -> ''",
]
ENQUEUERS = ["generate", "on_upload", "submit", "sweep"]
GENERATE_DESCRIPTION = (
    "description: 'imagegen worker: runs one job on Vertex AI (pushed by the jobs "
    "subscription).' -> 'imagegen worker: runs one job on Vertex AI (dispatched by its Cloud "
    "Tasks queue).'"
)
ISSUE_27 = {
    **{f'{M}{FN}.function["{f}"]': TASKS_ENV for f in ("dead_letter", "deliver_webhooks")},
    **{f'{M}{FN}.function["{f}"]': TASKS_ENV for f in ("on_upload", "sweep")},
    f'{M}{FN}.function["generate"]': [GENERATE_DESCRIPTION, *TASKS_ENV],
    f"{M}{RUN}.task_invoker": [": None -> {'condition': [], 'location': 'us-central1'"],
    f'{M}google_cloud_tasks_queue.jobs["default"]': [": None -> {'app_engine_routing_override'"],
    **{
        f'{M}google_cloud_tasks_queue_iam_member.jobs["default/{f}/enqueuer"]': [": None -> {"]
        for f in ENQUEUERS
    },
    f'{M}google_cloud_tasks_queue_iam_member.jobs["default/sweep/viewer"]': [": None -> {"],
    f'{M}google_cloud_tasks_queue_iam_member.studio_enqueuer["default"]': [": None -> {"],
    f"{M}{SA}_iam_member.studio_acts_as_task_invoker[0]": [": None -> {"],
    **{
        f'{M}{SA}_iam_member.enqueuers_act_as_task_invoker["{f}"]': [": None -> {"]
        for f in ENQUEUERS
    },
    f'{M}{SA}.platform["task_invoker"]': [": None -> {'account_id': 'imagegen-task-invoker'"],
    f'{M}google_project_service.this["cloudtasks.googleapis.com"]': [": None -> {"],
    f"{M}google_project_iam_member.gcs_agent_pubsub_publisher": ["member: 'serviceAccount:"],
    **{f'{M}{PUB}.publisher["jobs/{f}"]': [": {'condition': []"] for f in JOBS},
    f'{M}{PUB}.studio_publisher["jobs"]': [": {'condition': []"],
}
STUDIO = INTENDED_SINCE_MODULE[f"{M}google_cloud_run_v2_service.studio[0]"]
INTENDED_SINCE_MODULE.update(ISSUE_27)
INTENDED_SINCE_MODULE[f"{M}google_cloud_run_v2_service.studio[0]"] = [
    *STUDIO[:2],
    "template[0].containers[0].env: [",
    STUDIO[2],
]
INTENDED_SINCE_MODULE[f'{M}{FN}.function["submit"]'] = [
    *TASKS_ENV,
    "service_config[0].timeout_seconds: 60 -> 360",
]
# the sweep: issue 29's memory and timeout around issue 27's queues (attributes in plan order)
INTENDED_SINCE_MODULE[f'{M}{FN}.function["sweep"]'] = [
    "service_config[0].available_memory: '256Mi' -> '512Mi'",
    *TASKS_ENV,
    "service_config[0].timeout_seconds: 60 -> 300",
]
INTENDED = {
    **INTENDED_SINCE_MODULE,
    # issue 18: each image is streamed to Cloud Storage, one 4 x 4K job peaks at 217 MiB
    # (bench/RESULTS.md, memory): generate's default memory follows the measurement
    f'{M}{FN}.function["generate"]': [
        GENERATE_DESCRIPTION,
        "service_config[0].available_memory: '1Gi' -> '512Mi'",
        *TASKS_ENV,
    ],
}
# before issue 19 the jobs topic's publishers had their own names: those are destroyed
for _f in JOBS:
    INTENDED[f'{M}{PUB}.jobs_publisher["{_f}"]'] = INTENDED.pop(f'{M}{PUB}.publisher["jobs/{_f}"]')
INTENDED[f"{M}{PUB}.studio_jobs_publisher[0]"] = INTENDED.pop(f'{M}{PUB}.studio_publisher["jobs"]')


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


def _replan(tmp_path: Path, commit: str) -> str:
    old = _old_configuration(tmp_path / commit, commit)
    var_file = tmp_path / "replan.tfvars"
    var_file.write_text(VARS % STUDIO_IMAGE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run(
        [_standin_python(), "-m", "tools.tfstandin", "replan", str(old), str(EXAMPLE_DIR),
         "--var-file", str(var_file)],
        capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=False,
    )  # fmt: skip
    return proc.stdout + proc.stderr


def _assert_only(out: str, intended: dict[str, list[str]]) -> None:
    changes = _changes(out)
    assert set(changes) == set(intended), out
    for address, lines in intended.items():
        assert len(changes[address]) == len(lines), (address, changes[address])
        for seen, wanted in zip(changes[address], lines, strict=True):
            assert seen.startswith(wanted), (address, seen, wanted)


def test_a_deployment_of_before_issue_19_plans_only_moves_and_intended_changes(
    tmp_path: Path,
) -> None:
    """Apply a61b7d4 (fake-cloud providers, scratch state), plan today's root: only moves
    (through both layers of moved blocks) and the INTENDED changes."""
    out = _replan(tmp_path, BEFORE)
    _assert_only(out, INTENDED)
    for old_address, new_address in OLD_ADDRESSES.items():
        assert f"replan: moved {old_address} -> {M}{new_address}" in out, out


def test_a_deployment_of_before_issue_32_moves_into_the_module(tmp_path: Path) -> None:
    """Apply c08d881 (terraform/ as the root), plan today's root: every resource moved into
    module.imagegen, and only the changes issue 32 made on purpose."""
    out = _replan(tmp_path, BEFORE_MODULE)
    _assert_only(out, INTENDED_SINCE_MODULE)
    applied = int(re.search(r"into a scratch state: (\d+) resources", out).group(1))
    moved = int(re.search(r"(\d+) moved", out).group(1))
    assert moved == applied - 2, out  # every managed resource; not the two data sources
