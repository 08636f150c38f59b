"""Structural invariants of terraform/, checked on the parsed HCL (offline)."""

from __future__ import annotations

import re

import pytest

from .conftest import (
    REPO_ROOT,
    TerraformConfig,
    as_map,
    block,
    blocks,
    expanded,
    for_each_map,
    instance,
)

FUNCTIONS = {
    # key of google_cloudfunctions2_function.function (local.functions)
    #   -> (entry point, service account key in google_service_account.function)
    "submit": ("submit", "submit"),
    "generate": ("generate", "generate"),
    "on_upload": ("on_upload", "on_upload"),
    "dead_letter": ("dead_letter", "dead_letter"),
    "sweep": ("sweep", "sweep"),
    "deliver_webhooks": ("deliver_webhooks", "webhooks"),
}

PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allusers", "allauthenticatedusers"}

REQUIRED_ENV = {
    "GOOGLE_CLOUD_PROJECT",
    "IMAGEGEN_OUTPUTS_BUCKET",
    "IMAGEGEN_UPLOADS_BUCKET",
    "IMAGEGEN_TASKS_LOCATION",
    "IMAGEGEN_TASKS_QUEUE",
    "IMAGEGEN_TASKS_QUEUES",
    "IMAGEGEN_JOBS_COLLECTION",
    "IMAGEGEN_FIRESTORE_DATABASE",
    "IMAGEGEN_ALLOWED_LOCATIONS",
    "IMAGEGEN_DEFAULT_LOCATION",
    "IMAGEGEN_FALLBACK_LOCATIONS",
    "IMAGEGEN_REFERENCE_BUCKETS",
    "IMAGEGEN_RETIRED_MODELS",
    "IMAGEGEN_CATALOG_JSON",
    "IMAGEGEN_LEASE_SECONDS",
    "IMAGEGEN_CALL_BUDGET_SECONDS",
    "IMAGEGEN_JOB_DEADLINE_SECONDS",
    "IMAGEGEN_MAX_ATTEMPTS",
    "LOG_LEVEL",
}

# Resource type prefix -> API it needs enabled.
API_FOR_RESOURCE = {
    "google_cloudfunctions2_function": "cloudfunctions.googleapis.com",
    "google_cloud_run_v2_service_iam": "run.googleapis.com",
    "google_cloud_run_v2_service": "run.googleapis.com",  # the studio (studio.tf)
    "google_iap_": "iap.googleapis.com",
    "google_pubsub_": "pubsub.googleapis.com",
    "google_storage_": "storage.googleapis.com",
    "google_firestore_": "firestore.googleapis.com",
    "google_cloud_scheduler_job": "cloudscheduler.googleapis.com",
    "google_service_account": "iam.googleapis.com",
    "google_project_iam_member": "cloudresourcemanager.googleapis.com",
    "google_artifact_registry_": "artifactregistry.googleapis.com",
    "google_billing_budget": "billingbudgets.googleapis.com",
    "google_logging_metric": "logging.googleapis.com",
    "google_monitoring_": "monitoring.googleapis.com",
    "google_secret_manager_": "secretmanager.googleapis.com",
    "google_cloud_tasks_": "cloudtasks.googleapis.com",
}

# Every deployment needs these even though no resource type names them.
IMPLIED_APIS = {
    "cloudbuild.googleapis.com",  # function builds
    "eventarc.googleapis.com",  # on_upload trigger
    "aiplatform.googleapis.com",  # generate calls Vertex AI
    "logging.googleapis.com",
    "run.googleapis.com",  # gen2 functions are Cloud Run services
}


def _function(tf: TerraformConfig, name: str) -> dict:
    """What function ``name`` is given: its instance of the one function resource."""
    return instance(tf, "google_cloudfunctions2_function", "function", name)


def _service_config(tf: TerraformConfig, name: str) -> dict:
    cfg = block(_function(tf, name), "service_config")
    assert cfg is not None, f"{name} has no service_config"
    return cfg


def _push_subscriptions(tf: TerraformConfig) -> dict[str, dict]:
    """Every push subscription's body by key of google_pubsub_subscription.push."""
    push = tf.get("google_pubsub_subscription", "push")
    return {k: instance(tf, push.type, push.name, k) for k in for_each_map(tf, push)}


def _iam_resources(tf: TerraformConfig):
    """Every IAM grant; for_each grants over a map of locals as their instances."""
    types = {r.type for r in tf.resources}
    for rtype in sorted(types):
        if "_iam_" in rtype or rtype.endswith("_iam_member") or rtype.endswith("_iam_binding"):
            yield from expanded(tf, rtype)


def _members(body: dict) -> list[str]:
    out = []
    if "member" in body:
        out.append(str(body["member"]))
    members = body.get("members")
    if isinstance(members, list):
        out.extend(str(m) for m in members)
    elif members is not None:
        out.append(str(members))
    return out


# --- storage -------------------------------------------------------------------


def test_every_bucket_is_private(tf: TerraformConfig) -> None:
    buckets = tf.of_type("google_storage_bucket")
    assert {b.name for b in buckets} >= {"source", "uploads", "outputs"}
    for b in buckets:
        assert b.body.get("uniform_bucket_level_access") is True, (
            f"{b.address}: uniform_bucket_level_access must be true"
        )
        assert b.body.get("public_access_prevention") == "enforced", (
            f"{b.address}: public_access_prevention must be enforced"
        )
        assert b.body.get("force_destroy") == "${var.force_destroy_buckets}", (
            f"{b.address}: force_destroy must come from the variable"
        )


def test_uploads_and_source_are_versioned_and_outputs_expire(tf: TerraformConfig) -> None:
    for name in ("uploads", "source"):
        versioning = block(tf.get("google_storage_bucket", name).body, "versioning")
        assert versioning and versioning.get("enabled") is True, f"{name} bucket must be versioned"
    rules = blocks(tf.get("google_storage_bucket", "outputs").body, "lifecycle_rule")
    ages = [
        block(r, "condition").get("age")
        for r in rules
        if block(r, "action").get("type") == "Delete"
    ]
    assert "${var.output_retention_days}" in ages, (
        "outputs bucket must delete objects after var.output_retention_days"
    )


# --- IAM -------------------------------------------------------------------------


def test_no_primitive_roles(tf: TerraformConfig, tf_text_without_comments: str) -> None:
    for r in _iam_resources(tf):
        assert r.body.get("role") not in PRIMITIVE_ROLES, (
            f"{r.address} grants primitive role {r.body.get('role')}"
        )
    found = re.findall(r"roles/(owner|editor|viewer)\b", tf_text_without_comments)
    assert not found, f"primitive roles referenced in terraform/: {found}"


def test_no_public_members(tf: TerraformConfig) -> None:
    for r in _iam_resources(tf):
        for m in _members(r.body):
            assert m.lower() not in PUBLIC_MEMBERS, f"{r.address} grants to {m}"
            assert "allusers" not in m.lower() and "allauthenticatedusers" not in m.lower(), (
                f"{r.address}: {m}"
            )


def test_invoker_members_rejects_public_principals(tf: TerraformConfig) -> None:
    var = tf.variables["invoker_members"]
    conditions = " ".join(v["condition"] for v in blocks(var, "validation")).lower()
    assert "allusers" in conditions and "allauthenticatedusers" in conditions, (
        "invoker_members must have a validation rejecting allUsers and allAuthenticatedUsers"
    )
    default = var.get("default") or []
    assert not {str(m).lower() for m in default} & PUBLIC_MEMBERS


def test_submit_invokers_are_only_invoker_members(tf: TerraformConfig) -> None:
    grants = [
        r
        for r in tf.of_type("google_cloud_run_v2_service_iam_member")
        if r.body.get("name") == '${google_cloudfunctions2_function.function["submit"].name}'
    ]
    assert len(grants) == 1, "exactly one run.invoker grant resource on submit"
    g = grants[0]
    assert g.body["role"] == "roles/run.invoker"
    assert "var.invoker_members" in str(g.body.get("for_each")), (
        "submit invokers must come from var.invoker_members"
    )
    assert g.body["member"] == "${each.value}"


def test_each_function_has_its_own_service_account(tf: TerraformConfig) -> None:
    emails = {}
    for name, (_, sa_key) in FUNCTIONS.items():
        email = _service_config(tf, name).get("service_account_email")
        assert email == f'${{google_service_account.function["{sa_key}"].email}}', (
            f'{name} must run as google_service_account.function["{sa_key}"], got {email}'
        )
        emails[name] = email
    assert len(set(emails.values())) == len(FUNCTIONS), (
        f"functions share service accounts: {emails}"
    )
    accounts = as_map(tf.locals["function_accounts"])
    assert set(accounts) == {sa for _, sa in FUNCTIONS.values()}


def test_vertex_ai_user_only_for_generate_and_sweep(tf: TerraformConfig) -> None:
    """generate calls the models; sweep creates and cancels batch prediction jobs (issue 29,
    batches.tf). No other account, and never through a for_each that could widen it."""
    grants = [r for r in _iam_resources(tf) if r.body.get("role") == "roles/aiplatform.user"]
    members = sorted(m for g in grants for m in _members(g.body))
    assert members == sorted(_function_members({"generate", "sweep"})), (
        "roles/aiplatform.user may only go to generate's and sweep's service accounts"
    )
    for g in grants:
        assert "for_each" not in g.body and "count" not in g.body


def _function_members(names) -> set[str]:
    return {f'${{google_service_account.function["{n}"].member}}' for n in names}


def test_jobs_topic_publishers(tf: TerraformConfig) -> None:
    """Nobody publishes job IDs since issue 27 (jobs are Cloud Tasks tasks): the jobs topic
    only drains what it held."""
    publishers = [
        r
        for r in expanded(tf, "google_pubsub_topic_iam_member")
        if r.body.get("topic") == "${google_pubsub_topic.jobs.name}"
    ]
    assert not publishers, [p.address for p in publishers]
    project_publishers = [
        r
        for r in tf.of_type("google_project_iam_member")
        if r.body.get("role") == "roles/pubsub.publisher"
        and "google_service_account.function" in str(r.body.get("member"))
    ]
    assert not project_publishers, "functions publish to topics only, never project-wide"


def test_task_queues_and_their_grants(tf: TerraformConfig) -> None:
    """Issue 27: tasks reach generate with the task invoker's token; the functions that
    queue jobs may create tasks in the queues (and act as that account), the sweeper may
    read them; all of it on the queues and the one account, nothing project-wide."""
    queue = tf.get("google_cloud_tasks_queue", "jobs")
    target = block(queue.body, "http_target")
    oidc = block(target, "oidc_token")
    assert oidc["service_account_email"] == (
        '${google_service_account.platform["task_invoker"].email}'
    )
    retry = block(queue.body, "retry_config")
    assert retry["max_attempts"] == -1, "a task is never given up before the job's deadline"
    assert retry["max_retry_duration"] == "${var.job_deadline_seconds}s"
    enqueuers = as_map(tf.locals["enqueuers"])
    assert set(enqueuers) == {"submit", "on_upload", "sweep", "generate"}
    grants = tf.get("google_cloud_tasks_queue_iam_member", "jobs").body["for_each"]
    assert "roles/cloudtasks.enqueuer" in grants and "roles/cloudtasks.viewer" in grants
    act_as = tf.get("google_service_account_iam_member", "enqueuers_act_as_task_invoker")
    assert act_as.body["role"] == "roles/iam.serviceAccountUser"
    assert act_as.body["for_each"] == "${local.enqueuers}"
    project_tasks = [
        r
        for r in tf.of_type("google_project_iam_member")
        if str(r.body.get("role", "")).startswith("roles/cloudtasks.")
    ]
    assert not project_tasks, "Cloud Tasks roles are granted on the queues"


def test_lineup_models_match_the_catalog(tf: TerraformConfig) -> None:
    """terraform/tasks.tf's copy of the catalog's models (the paced models' queues)."""
    from imagegen.domain.catalog import load_catalog

    assert tf.locals["lineup_models"] == [spec.id for spec in load_catalog("", "")]


def test_pubsub_service_agent_can_dead_letter(tf: TerraformConfig) -> None:
    agent = "${local.pubsub_service_agent}"
    dl_publish = [
        r
        for r in expanded(tf, "google_pubsub_topic_iam_member")
        if r.body.get("topic") == "${google_pubsub_topic.dead_letter.name}"
        and r.body.get("role") == "roles/pubsub.publisher"
        and r.body.get("member") == agent
    ]
    assert dl_publish, (
        "the Pub/Sub service agent needs roles/pubsub.publisher on the dead-letter topic"
    )
    dead_lettering = {
        f'${{google_pubsub_subscription.push["{k}"].name}}'
        for k, s in _push_subscriptions(tf).items()
        if block(s, "dead_letter_policy") is not None
    }
    assert dead_lettering, "the jobs and webhook subscriptions dead-letter"
    subscribed = set()
    for r in tf.of_type("google_pubsub_subscription_iam_member"):
        keys = for_each_map(tf, r) if "for_each" in r.body else {None: None}
        for k in keys:
            body = r.body if k is None else instance(tf, r.type, r.name, k)
            if body.get("role") == "roles/pubsub.subscriber" and body.get("member") == agent:
                subscribed.add(body["subscription"])
    assert dead_lettering <= subscribed, (
        "the Pub/Sub service agent needs roles/pubsub.subscriber on "
        f"{sorted(dead_lettering - subscribed)}"
    )
    token = [
        r
        for r in tf.of_type("google_service_account_iam_member")
        if r.body.get("service_account_id")
        == '${google_service_account.platform["push_invoker"].name}'
        and r.body.get("role") == "roles/iam.serviceAccountTokenCreator"
        and r.body.get("member") == agent
    ]
    assert token, "the Pub/Sub service agent must be able to mint OIDC tokens for the push invoker"


def test_storage_service_agent_publishes_for_triggers(tf: TerraformConfig) -> None:
    grants = [
        r
        for r in tf.of_type("google_project_iam_member")
        if r.body.get("role") == "roles/pubsub.publisher"
        and "google_storage_project_service_account" in str(r.body.get("member"))
    ]
    assert grants, (
        "the Cloud Storage service agent needs roles/pubsub.publisher for storage triggers"
    )


def test_on_upload_never_writes_the_uploads_bucket(tf: TerraformConfig) -> None:
    writer_roles = {
        "roles/storage.objectCreator",
        "roles/storage.objectUser",
        "roles/storage.objectAdmin",
        "roles/storage.admin",
    }
    on_upload = '${google_service_account.function["on_upload"].member}'
    grants = expanded(tf, "google_storage_bucket_iam_member")
    assert any(r.body.get("member") == on_upload for r in grants), "on_upload reads uploads"
    for r in grants:
        if r.body.get("member") != on_upload or r.body.get("role") not in writer_roles:
            continue
        assert r.body.get("bucket") == "${google_storage_bucket.outputs.name}", (
            f"{r.address}: on_upload may write only to the outputs bucket "
            "(it would retrigger itself)"
        )
        condition = block(r.body, "condition")
        # results/: its answers; batches/: a dropped batch's files (issue 29, batches.tf)
        assert condition and any(
            f"/objects/{prefix}/" in condition["expression"] for prefix in ("results", "batches")
        ), f"{r.address}: on_upload writes must be limited to the results/ or batches/ prefix"
    project_writes = [
        r
        for r in tf.of_type("google_project_iam_member")
        if r.body.get("member") == on_upload and r.body.get("role", "").startswith("roles/storage.")
    ]
    assert not project_writes


def test_invocation_grants_are_per_service(tf: TerraformConfig) -> None:
    expected = {
        "generate": '${google_service_account.platform["push_invoker"].member}',  # draining
        "dead_letter": '${google_service_account.platform["push_invoker"].member}',
        "on_upload": '${google_service_account.platform["upload_trigger"].member}',
        "sweep": '${google_service_account.platform["scheduler"].member}',
        "deliver_webhooks": '${google_service_account.platform["push_invoker"].member}',
    }
    grants = {}
    for r in tf.of_type("google_cloud_run_v2_service_iam_member"):
        assert r.body["role"] == "roles/run.invoker", (
            f"{r.address}: only run.invoker is granted on services"
        )
        if r.name != "invoker":
            grants.setdefault(r.body["name"], set()).add(r.body["member"])
    # One grant per function that has an invoker (local.functions[*].invoker).
    invoker = tf.get("google_cloud_run_v2_service_iam_member", "invoker")
    assert "local.functions" in invoker.body["for_each"]
    assert "if f.invoker != null" in invoker.body["for_each"]
    for fn in for_each_map(tf, invoker):
        body = instance(tf, invoker.type, invoker.name, fn)
        grants.setdefault(body["name"], set()).add(body["member"])
    assert as_map(tf.locals["functions"])["submit"]["invoker"] is None, (
        "submit's callers are var.invoker_members"
    )
    # issue 27: Cloud Tasks dispatches jobs to generate with the task invoker's token
    generate = '${google_cloudfunctions2_function.function["generate"].name}'
    tasks = '${google_service_account.platform["task_invoker"].member}'
    assert tasks in grants.get(generate, set()), "the task invoker must invoke generate"
    grants[generate].discard(tasks)
    for fn, member in expected.items():
        name = f'${{google_cloudfunctions2_function.function["{fn}"].name}}'
        assert grants.get(name) == {member}, f"{fn} must be invocable by {member} only"
    project_invokers = [
        r
        for r in tf.of_type("google_project_iam_member")
        if r.body.get("role") == "roles/run.invoker"
    ]
    assert not project_invokers, "run.invoker must be granted on specific services, not the project"


# --- Pub/Sub -------------------------------------------------------------------


def test_push_subscriptions_retry_and_dead_letter(tf: TerraformConfig) -> None:
    others = [
        s
        for s in tf.of_type("google_pubsub_subscription")
        if s.name != "push" and block(s.body, "push_config") is not None
    ]
    assert not others, "every push subscription is an instance of google_pubsub_subscription.push"
    push = _push_subscriptions(tf)
    assert set(push) == {"generate", "dead-letter", "deliver-webhooks", "webhook-retries"}
    for key, s in push.items():
        address = f'google_pubsub_subscription.push["{key}"]'
        assert s["name"] == f"${{local.prefix}}-{key}-push"
        retry = block(s, "retry_policy")
        assert retry and retry.get("minimum_backoff") and retry.get("maximum_backoff"), (
            f"{address} needs a retry_policy"
        )
        oidc = block(block(s, "push_config"), "oidc_token")
        assert (
            oidc
            and oidc.get("service_account_email")
            == '${google_service_account.platform["push_invoker"].email}'
        ), f"{address} must push with an OIDC token of the push invoker"
        expiration = block(s, "expiration_policy")
        assert expiration is not None and expiration.get("ttl") == "", (
            f"{address} must never expire"
        )
        dlp = block(s, "dead_letter_policy")
        if key in {"deliver-webhooks", "webhook-retries"}:  # their own dead letters
            assert dlp["dead_letter_topic"] == "${google_pubsub_topic.webhooks_dead_letter.id}"
            assert dlp["max_delivery_attempts"] == "${var.max_delivery_attempts}"
            fn = 'google_cloudfunctions2_function.function["deliver_webhooks"]'
            endpoint = block(s, "push_config")["push_endpoint"]
            # The topic in the path: functions-framework puts it in the CloudEvent source.
            assert endpoint == (
                f"${{{fn}.service_config[0].uri}}/projects/${{var.project_id}}/topics/"
                f"{s['topic'].removesuffix('.id}')}.name}}"
            ), endpoint
            continue
        if s["topic"] == "${google_pubsub_topic.dead_letter.id}":
            # The dead-letter consumer cannot dead-letter into the topic it reads.
            assert dlp is None, f"{address} must not dead-letter into its own topic"
            continue
        assert dlp is not None, f"{address} needs a dead_letter_policy"
        assert dlp["dead_letter_topic"] == "${google_pubsub_topic.dead_letter.id}"
        assert dlp["max_delivery_attempts"] == "${var.max_delivery_attempts}"


def test_generate_subscription_settings(tf: TerraformConfig) -> None:
    subscriptions = _push_subscriptions(tf)
    s = subscriptions["generate"]
    assert s["topic"] == "${google_pubsub_topic.jobs.id}"
    assert s["ack_deadline_seconds"] == 600
    retry = block(s, "retry_policy")
    assert (retry["minimum_backoff"], retry["maximum_backoff"]) == ("10s", "600s")
    push = block(s, "push_config")
    uri = '${google_cloudfunctions2_function.function["generate"].service_config[0].uri}'
    assert push["push_endpoint"] == uri
    assert block(push, "oidc_token")["audience"] == uri
    assert "no_wrapper" not in push, "functions-framework needs the wrapped push body"
    dl = subscriptions["dead-letter"]
    assert (
        block(dl, "push_config")["push_endpoint"]
        == '${google_cloudfunctions2_function.function["dead_letter"].service_config[0].uri}'
    )


def test_max_delivery_attempts_range(tf: TerraformConfig) -> None:
    var = tf.variables["max_delivery_attempts"]
    assert var["default"] == 5
    condition = blocks(var, "validation")[0]["condition"]
    assert ">= 5" in condition and "<= 100" in condition


# --- functions -------------------------------------------------------------------


def test_functions_runtime_entry_points_and_source(tf: TerraformConfig) -> None:
    [resource] = tf.of_type("google_cloudfunctions2_function")
    assert set(for_each_map(tf, resource)) == set(FUNCTIONS)
    for name, (entry_point, _) in FUNCTIONS.items():
        # <prefix>-<key with "-" for "_">: the names deployments have (imagegen-on-upload)
        name_expr = f'${{local.prefix}}-${{replace("{name}", "_", "-")}}'
        assert _function(tf, name)["name"] == name_expr
        build = block(_function(tf, name), "build_config")
        assert build["entry_point"] == entry_point
        assert build["runtime"] == "${local.runtime}"
        storage = block(block(build, "source"), "storage_source")
        assert storage["object"] == "${google_storage_bucket_object.functions_source.name}"
    assert tf.locals["runtime"] == "python311"
    archive = next(d for d in tf.data_sources if d.type == "archive_file")
    assert archive.body["source_dir"] == "${path.module}/../functions"
    excludes = " ".join(archive.body["excludes"])
    assert "__pycache__" in excludes and "*.pyc" in excludes
    obj = tf.get("google_storage_bucket_object", "functions_source").body
    assert "data.archive_file.functions.output_" in obj["name"], (
        "source object name must carry the archive hash"
    )


def test_ingress_and_timeouts(tf: TerraformConfig) -> None:
    for name in FUNCTIONS:
        cfg = _service_config(tf, name)
        expected = "ALLOW_ALL" if name == "submit" else "ALLOW_INTERNAL_ONLY"
        assert cfg["ingress_settings"] == expected, f"{name}: ingress_settings must be {expected}"
        timeout = cfg["timeout_seconds"]
        if name == "generate":
            assert timeout == "${var.generate_timeout_seconds}"
        elif name == "submit":
            # issue 28: longer than the front doors' wait (IMAGEGEN_SYNC_WAIT_SECONDS, 300 s)
            from imagegen.config import Settings

            assert timeout > Settings.model_fields["sync_wait_seconds"].default, timeout
        elif name == "sweep":
            # issue 29: a batch split reads for up to IMAGEGEN_BATCH_SPLIT_SECONDS, then
            # the rest of the sweep's work
            from imagegen.config import Settings

            split = Settings.model_fields["batch_split_seconds"].default
            assert split + 30 <= timeout <= split + 120, timeout
        else:
            assert timeout == 60, f"{name}: timeout_seconds must be 60"
    submit = _service_config(tf, "submit")
    assert submit["available_cpu"] == "1"
    assert submit["max_instance_request_concurrency"] == "${var.concurrency.submit}"
    generate = _service_config(tf, "generate")
    assert generate["max_instance_request_concurrency"] == "${var.concurrency.generate}"
    assert tf.variables["generate_timeout_seconds"]["default"] == 540


def test_event_triggers(tf: TerraformConfig) -> None:
    trigger = block(_function(tf, "on_upload"), "event_trigger")
    assert trigger is not None, "on_upload needs an event_trigger"
    assert trigger["event_type"] == "google.cloud.storage.object.v1.finalized"
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert (
        trigger["service_account_email"]
        == '${google_service_account.platform["upload_trigger"].email}'
    )
    filters = blocks(trigger, "event_filters")
    assert {"attribute": "bucket", "value": "${google_storage_bucket.uploads.name}"} in filters
    for name in ("generate", "dead_letter", "submit", "sweep", "deliver_webhooks"):
        assert block(_function(tf, name), "event_trigger") is None, (
            f"{name} must have no event_trigger (Pub/Sub push / HTTP, see pubsub.tf)"
        )


def test_function_environment(tf: TerraformConfig) -> None:
    env = as_map(tf.locals["function_env"])
    missing = REQUIRED_ENV - set(env)
    assert not missing, f"local.function_env lacks {sorted(missing)}"
    assert env["IMAGEGEN_MAX_ATTEMPTS"] == "${tostring(var.max_delivery_attempts)}"
    assert env["IMAGEGEN_LEASE_SECONDS"] == "${tostring(var.generate_timeout_seconds + 60)}"
    assert env["IMAGEGEN_CALL_BUDGET_SECONDS"] == "${tostring(var.generate_timeout_seconds - 60)}"
    assert env["IMAGEGEN_JOBS_COLLECTION"] == "${local.jobs_collection}"
    assert tf.locals["jobs_collection"] == "jobs"
    assert "local.bucket_names.uploads" in str(tf.locals["reference_buckets"]), (
        "uploads is always a reference bucket"
    )
    for name in FUNCTIONS:
        expected = "${local.submit_env}" if name == "submit" else "${local.function_env}"
        assert _service_config(tf, name)["environment_variables"] == expected, (
            f"{name} must get {expected}"
        )
    # submit: one gunicorn worker with a thread per concurrent request it accepts
    submit_env = str(tf.locals["submit_env"])
    assert "local.function_env" in submit_env and "var.concurrency.submit" in submit_env
    for limit in (
        "CALLER_REQUESTS_PER_MINUTE",
        "GLOBAL_REQUESTS_PER_MINUTE",
        "CALLER_USD_PER_DAY",
        "GLOBAL_USD_PER_DAY",
    ):
        assert f"IMAGEGEN_{limit}" in env


def test_scheduler_calls_sweep_with_oidc(tf: TerraformConfig) -> None:
    job = instance(tf, "google_cloud_scheduler_job", "sweep", "sweep")
    assert job["schedule"] == "${var.sweep_schedule}"
    target = block(job, "http_target")
    uri = '${google_cloudfunctions2_function.function["sweep"].service_config[0].uri}'
    assert target["uri"] == uri
    oidc = block(target, "oidc_token")
    assert oidc["service_account_email"] == '${google_service_account.platform["scheduler"].email}'
    assert oidc["audience"] == uri
    assert tf.variables["sweep_schedule"]["default"] == "*/5 * * * *"
    # The daily model lifecycle check calls the same function in its models mode.
    check = instance(tf, "google_cloud_scheduler_job", "sweep", "model-check")
    assert check["schedule"] == "${var.model_check_schedule}"
    assert block(check, "http_target")["uri"] == uri + "?mode=models"
    assert block(block(check, "http_target"), "oidc_token") == oidc


# --- Firestore -------------------------------------------------------------------


def test_firestore_database_and_sweeper_index(tf: TerraformConfig) -> None:
    db = tf.get("google_firestore_database", "default").body
    assert db["type"] == "FIRESTORE_NATIVE"
    assert db["deletion_policy"] == "ABANDON"
    assert db["point_in_time_recovery_enablement"] == "POINT_IN_TIME_RECOVERY_ENABLED"
    index = tf.get("google_firestore_index", "jobs_state_updated_at").body
    assert index["collection"] == "${local.jobs_collection}"
    fields = [(f["field_path"], f["order"]) for f in blocks(index, "fields")]
    assert fields == [("state", "ASCENDING"), ("updated_at", "ASCENDING")]
    usage = tf.get("google_firestore_index", "jobs_caller_created_at").body
    fields = [(f["field_path"], f["order"]) for f in blocks(usage, "fields")]
    assert fields == [("caller", "ASCENDING"), ("created_at", "ASCENDING")], (
        "GET /v1/usage queries caller == X and a created_at range"
    )


# --- APIs, variables, outputs, versions -------------------------------------------


def test_apis_cover_every_resource(tf: TerraformConfig) -> None:
    enabled = set(re.findall(r'"([a-z0-9]+\.googleapis\.com)"', tf.raw["apis.tf"]))
    needed = set(IMPLIED_APIS)
    for r in tf.resources:
        if r.type in {"google_project_service", "google_project_service_identity"}:
            continue
        if r.type.startswith(("random_", "time_")):  # no API: made by Terraform itself
            continue
        matches = [api for prefix, api in API_FOR_RESOURCE.items() if r.type.startswith(prefix)]
        assert matches, f"{r.address}: add its resource type to API_FOR_RESOURCE in this test"
        needed.update(matches)
    assert needed <= enabled, f"apis.tf does not enable {sorted(needed - enabled)}"
    service = tf.get("google_project_service", "this").body
    assert service["disable_on_destroy"] is False


@pytest.mark.parametrize(
    "name",
    [
        "project_id",
        "region",
        "vertex_locations",
        "vertex_default_location",
        "vertex_fallback_locations",
        "invoker_members",
        "name_prefix",
        "max_instances",
        "memory",
        "output_retention_days",
        "max_delivery_attempts",
        "job_deadline_seconds",
        "reference_buckets",
        "sweep_schedule",
        "budget",
        "labels",
        "force_destroy_buckets",
        "retired_model_policy",
        "catalog_override_json",
        "firestore_location",
    ],
)
def test_required_variable_exists(tf: TerraformConfig, name: str) -> None:
    assert name in tf.variables, f"variable {name} is missing"


def test_every_variable_is_typed_and_described(tf: TerraformConfig) -> None:
    for name, var in tf.variables.items():
        assert var.get("type"), f"variable {name} has no type"
        assert str(var.get("description", "")).strip(), f"variable {name} has no description"
        for v in blocks(var, "validation"):
            assert str(v.get("error_message", "")).strip(), (
                f"variable {name}: validation without error_message"
            )


def test_every_output_is_described(tf: TerraformConfig) -> None:
    assert {
        "submit_url",
        "uploads_bucket",
        "outputs_bucket",
        "jobs_topic",
        "dead_letter_topic",
    } <= set(tf.outputs)
    for name, out in tf.outputs.items():
        assert str(out.get("description", "")).strip(), f"output {name} has no description"


def test_versions_pinned_and_no_provider_or_backend_in_the_module(tf: TerraformConfig) -> None:
    """terraform/ is a module: it pins provider ranges; its callers configure providers
    and state (examples/deploy: test_module_layout.py)."""
    (terraform,) = tf.terraform_blocks
    assert ">= 1.5" in terraform["required_version"]
    providers = as_map(blocks(terraform, "required_providers")[0])
    for name in ("google", "google-beta", "random", "archive", "time"):
        spec = as_map(providers[name])
        assert spec["source"] == f"hashicorp/{name}"
        assert "<" in spec["version"] or "~>" in spec["version"], (
            f"{name} provider must have an upper bound"
        )
    assert not blocks(terraform, "backend"), "a module has no backend"
    assert not any("provider" in parsed for parsed in tf.files.values()), "nor provider blocks"


def test_idempotency_records_expire(tf: TerraformConfig) -> None:
    """Issue 32: idempotency/<key> records carry expire_at (adapters/jobs_firestore.py);
    without a TTL policy Firestore kept them forever."""
    ttl = tf.get("google_firestore_field", "idempotency_expire_at_ttl").body
    assert ttl["collection"] == "idempotency" and ttl["field"] == "expire_at"
    assert "ttl_config" in ttl
    adapter = (REPO_ROOT / "functions" / "imagegen" / "adapters" / "jobs_firestore.py").read_text()
    assert 'idempotency: str = "idempotency"' in adapter and '"expire_at":' in adapter


def test_the_build_account_cannot_read_the_state_bucket(tf: TerraformConfig) -> None:
    """Issue 32: project-wide objectAdmin, except the bucket holding the state (and with it
    the webhook secret)."""
    grant = tf.get("google_project_iam_member", "build_staging_access").body
    assert grant["role"] == "roles/storage.objectAdmin"
    (dynamic,) = grant["dynamic"]
    expression = str(dynamic["condition"]["content"][0]["expression"])
    assert "resource.name != " in expression and "!resource.name.startsWith(" in expression
    assert "var.state_bucket" in str(dynamic["condition"]["for_each"])


def test_checkov_skips_are_inline_and_explained(tf: TerraformConfig) -> None:
    for fname, text in tf.raw.items():
        for line in text.splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{10,}", line), (
                    f"{fname}: checkov skip without a reason: {line.strip()}"
                )


# --- results that reach people (issue 16) -----------------------------------------------


def test_job_events_topic_and_its_publishers(tf: TerraformConfig) -> None:
    tf.get("google_pubsub_topic", "job_events")
    grants = [
        r.body
        for r in expanded(tf, "google_pubsub_topic_iam_member")
        if r.body.get("topic") == "${google_pubsub_topic.job_events.name}"
    ]
    assert all(g["role"] == "roles/pubsub.publisher" for g in grants)
    functions = {g["member"] for g in grants if "function[" in g["member"]}
    # Every function that changes job states; deliver_webhooks only reads events.
    assert functions == _function_members(
        {"submit", "generate", "on_upload", "dead_letter", "sweep"}
    )
    env = as_map(tf.locals["function_env"])
    assert env["IMAGEGEN_EVENTS_TOPIC"] == "${google_pubsub_topic.job_events.name}"
    assert "var.signed_url_seconds" in env["IMAGEGEN_SIGNED_URL_SECONDS"]


def test_webhooks_secret_and_least_privilege(tf: TerraformConfig) -> None:
    cfg = _service_config(tf, "deliver_webhooks")
    [secret_env] = blocks(cfg, "secret_environment_variables")
    assert secret_env["key"] == "IMAGEGEN_WEBHOOK_SECRET"
    assert secret_env["secret"] == "${google_secret_manager_secret.webhook.secret_id}"
    me = '${google_service_account.function["webhooks"].member}'
    accessor = tf.get("google_secret_manager_secret_iam_member", "webhooks_read_secret").body
    assert accessor["role"] == "roles/secretmanager.secretAccessor" and accessor["member"] == me
    # signBlob on itself only, not project-wide
    sign = tf.get("google_service_account_iam_member", "webhooks_sign_blob").body
    assert sign["role"] == "roles/iam.serviceAccountTokenCreator"
    assert sign["member"] == me and 'function["webhooks"].name' in sign["service_account_id"]
    rewrite = instance(tf, "google_storage_bucket_iam_member", "function", "webhooks/results")
    assert rewrite["member"] == me and rewrite["role"] == "roles/storage.objectUser"
    assert "/objects/results/" in block(rewrite, "condition")["expression"]
    project_roles = [
        r.body["role"]
        for r in tf.of_type("google_project_iam_member")
        if r.body.get("member") == me
    ]
    assert project_roles == ["roles/datastore.user"] or not project_roles
    retention = tf.variables["webhooks"]
    assert ">= 86400" in blocks(retention, "validation")[1]["condition"]


def test_generate_memory_follows_the_measurement(tf: TerraformConfig) -> None:
    """Issue 18: with each image streamed to Cloud Storage, one 4 x 4K job peaks at 217 MiB
    (bench/RESULTS.md, memory), so generate defaults to 512Mi at one job an instance and to
    1Gi when it runs more than one at once; a memory the caller sets wins."""
    memory = str(_service_config(tf, "generate").get("available_memory"))
    assert "coalesce(var.memory.generate" in memory, memory
    assert '"512Mi"' in memory and '"1Gi"' in memory and "var.concurrency.generate > 1" in memory
