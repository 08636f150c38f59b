"""What the account that deploys imagegen needs: resource type -> the permission that creates
it -> the predefined role that grants that permission, each with the Google page it comes
from. The role list in cloudbuild.yaml and docs/deploy.md is this table's roles
(tools/tfstandin/deploychecks.py checks both; `python -m tools.tfstandin roles` prints the
table for docs/deploy.md).

Read 2026-12-06 unless a row says otherwise. ROLES_INDEX pages list every role of a service
with its permissions (https://cloud.google.com/iam/docs/roles-permissions/<service>).
"""

from __future__ import annotations

from dataclasses import dataclass

READ = "2026-12-06"


def _page(service: str) -> str:
    return f"https://cloud.google.com/iam/docs/roles-permissions/{service}"


@dataclass(frozen=True)
class Need:
    what: str  # a Terraform resource type, or "cloudbuild.yaml: <step>"
    permission: str  # the permission(s) creating it needs
    roles: tuple[str, ...]  # predefined roles that grant them (all needed)
    source: str


NONE = ()  # made by Terraform itself: no Google API, no permission

NEEDS: tuple[Need, ...] = (
    # --- Terraform resource types (terraform/ and terraform/examples/deploy) ------------
    Need(
        "google_project_service",
        "serviceusage.services.enable",
        ("roles/serviceusage.serviceUsageAdmin",),
        _page("serviceusage"),
    ),
    Need(
        "google_project_service_identity",
        "serviceusage.services.enable (service identity)",
        ("roles/serviceusage.serviceUsageAdmin",),
        _page("serviceusage"),
    ),
    Need(
        "google_service_account",
        "iam.serviceAccounts.create",
        ("roles/iam.serviceAccountAdmin",),
        _page("iam"),
    ),
    Need(
        "google_service_account_iam_member",
        "iam.serviceAccounts.setIamPolicy",
        ("roles/iam.serviceAccountAdmin",),
        _page("iam"),
    ),
    Need(
        "google_project_iam_member",
        "resourcemanager.projects.setIamPolicy",
        ("roles/resourcemanager.projectIamAdmin",),
        _page("resourcemanager"),
    ),
    Need(
        "google_storage_bucket",
        "storage.buckets.create",
        ("roles/storage.admin",),
        _page("storage"),
    ),
    Need(
        "google_storage_bucket_object",
        "storage.objects.create",
        ("roles/storage.admin",),
        _page("storage"),
    ),
    Need(
        "google_storage_bucket_iam_member",
        "storage.buckets.setIamPolicy",
        ("roles/storage.admin",),
        _page("storage"),
    ),
    Need("google_pubsub_topic", "pubsub.topics.create", ("roles/pubsub.admin",), _page("pubsub")),
    Need(
        "google_pubsub_topic_iam_member",
        "pubsub.topics.setIamPolicy",
        ("roles/pubsub.admin",),
        _page("pubsub"),
    ),
    Need(
        "google_pubsub_subscription",
        "pubsub.subscriptions.create; actAs the push account",
        ("roles/pubsub.admin", "roles/iam.serviceAccountUser"),
        _page("pubsub"),
    ),
    Need(
        "google_pubsub_subscription_iam_member",
        "pubsub.subscriptions.setIamPolicy",
        ("roles/pubsub.admin",),
        _page("pubsub"),
    ),
    Need(
        "google_firestore_database",
        "datastore.databases.create",
        ("roles/datastore.owner",),
        _page("datastore"),
    ),
    Need(
        "google_firestore_index",
        "datastore.indexes.create",
        ("roles/datastore.owner",),
        _page("datastore"),
    ),
    Need(
        "google_firestore_field",
        "datastore.indexes.update (a TTL policy is a field configuration)",
        ("roles/datastore.owner",),
        _page("datastore"),
    ),
    Need(
        "google_artifact_registry_repository",
        "artifactregistry.repositories.create",
        ("roles/artifactregistry.admin",),
        _page("artifactregistry"),
    ),
    Need(
        "google_artifact_registry_repository_iam_member",
        "artifactregistry.repositories.setIamPolicy",
        ("roles/artifactregistry.admin",),
        _page("artifactregistry"),
    ),
    Need(
        "google_cloudfunctions2_function",
        "cloudfunctions.functions.create; actAs its runtime, build, trigger accounts",
        ("roles/cloudfunctions.admin", "roles/iam.serviceAccountUser"),
        _page("cloudfunctions"),
    ),
    # on_upload's event_trigger: Cloud Functions creates the Eventarc trigger in the caller's
    # name. Kept from the role list before issue 32 (not re-read this time).
    Need(
        "google_cloudfunctions2_function (event_trigger)",
        "eventarc.triggers.create",
        ("roles/eventarc.admin",),
        _page("eventarc"),
    ),
    Need(
        "google_cloud_run_v2_service",
        "run.services.create; actAs its account",
        ("roles/run.admin", "roles/iam.serviceAccountUser"),
        "https://cloud.google.com/run/docs/securing/identity-aware-proxy-cloud-run",
    ),
    Need(
        "google_cloud_run_v2_service_iam_member",
        "run.services.setIamPolicy",
        ("roles/run.admin",),
        _page("run"),
    ),
    Need(
        "google_iap_web_cloud_run_service_iam_member",
        "iap.webServices.setIamPolicy",
        ("roles/iap.admin",),
        _page("iap"),
    ),
    Need(
        "google_cloud_scheduler_job",
        "cloudscheduler.jobs.create; actAs its OIDC account",
        ("roles/cloudscheduler.admin", "roles/iam.serviceAccountUser"),
        _page("cloudscheduler"),
    ),
    Need(
        "google_cloud_tasks_queue",
        "cloudtasks.queues.create; actAs the account of its OIDC token",
        ("roles/cloudtasks.admin", "roles/iam.serviceAccountUser"),
        _page("cloudtasks"),
    ),
    Need(
        "google_cloud_tasks_queue_iam_member",
        "cloudtasks.queues.setIamPolicy",
        ("roles/cloudtasks.admin",),
        _page("cloudtasks"),
    ),
    Need(
        "google_secret_manager_secret",
        "secretmanager.secrets.create",
        ("roles/secretmanager.admin",),
        _page("secretmanager"),
    ),
    Need(
        "google_secret_manager_secret_version",
        "secretmanager.versions.add",
        ("roles/secretmanager.admin",),
        _page("secretmanager"),
    ),
    Need(
        "google_secret_manager_secret_iam_member",
        "secretmanager.secrets.setIamPolicy",
        ("roles/secretmanager.admin",),
        _page("secretmanager"),
    ),
    Need(
        "google_logging_metric",
        "logging.logMetrics.create",
        ("roles/logging.configWriter",),
        _page("logging"),
    ),
    Need(
        "google_monitoring_alert_policy",
        "monitoring.alertPolicies.create",
        ("roles/monitoring.editor",),
        _page("monitoring"),
    ),
    Need(
        "google_monitoring_dashboard",
        "monitoring.dashboards.create",
        ("roles/monitoring.editor",),
        _page("monitoring"),
    ),
    Need(
        "google_billing_budget",
        "billing.budgets.create (billing account; optional)",
        ("roles/billing.costsManager",),
        _page("billing"),
    ),
    Need(
        "random_bytes",
        "none: made by Terraform",
        NONE,
        "https://registry.terraform.io/providers/hashicorp/random",
    ),
    Need(
        "time_sleep",
        "none: made by Terraform",
        NONE,
        "https://registry.terraform.io/providers/hashicorp/time",
    ),
    # --- Steps of cloudbuild.yaml that call Google before or after Terraform ------------
    Need(
        "cloudbuild.yaml: enable-apis",
        "serviceusage.services.enable",
        ("roles/serviceusage.serviceUsageAdmin",),
        _page("serviceusage"),
    ),
    Need(
        "cloudbuild.yaml: studio-repository",
        "artifactregistry.repositories.create",
        ("roles/artifactregistry.admin",),
        _page("artifactregistry"),
    ),
    Need(
        "cloudbuild.yaml: studio-image",
        "artifactregistry.repositories.uploadArtifacts",
        ("roles/artifactregistry.admin",),
        _page("artifactregistry"),
    ),
    Need(
        "cloudbuild.yaml: init/plan/apply (state)",
        "storage.objects.get, .create (state bucket)",
        ("roles/storage.admin",),
        _page("storage"),
    ),
    Need(
        "cloudbuild.yaml: build logs",
        "logging.logEntries.create",
        ("roles/logging.logWriter",),
        _page("logging"),
    ),
)

# Granted on the billing account, not the project, and only with budget.enabled.
OPTIONAL = {"roles/billing.costsManager"}


def project_roles() -> list[str]:
    """The roles the deployer needs on the project, sorted."""
    return sorted({r for n in NEEDS for r in n.roles} - OPTIONAL)


def markdown() -> str:
    """The table as docs/deploy.md shows it."""
    lines = [
        f"| creates | permission | role | source (read {READ}) |",
        "|---|---|---|---|",
    ]
    for n in NEEDS:
        roles = ", ".join(f"`{r}`" for r in n.roles) or "none"
        lines.append(f"| `{n.what}` | {n.permission} | {roles} | {n.source} |")
    return "\n".join(lines)
