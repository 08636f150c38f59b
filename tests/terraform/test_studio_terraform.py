"""terraform/studio.tf: the studio behind IAP on the service itself, least privilege, and
the IAM + `gcloud run services proxy` fallback (docs/studio.md)."""

from __future__ import annotations

from .conftest import TerraformConfig, block


def test_studio_runs_the_image_the_pipeline_built_behind_iap(tf: TerraformConfig) -> None:
    service = tf.get("google_cloud_run_v2_service", "studio").body
    # iap_enabled is beta-only in google 6.50.0
    assert service["provider"] in ("google-beta", "${google-beta}")
    assert service["iap_enabled"] == "${var.studio_iap}"
    # build_config starts no build (issue 32): the image is an input, by digest
    assert block(service, "build_config") is None
    template = block(service, "template")
    assert block(template, "containers")["image"] == "${var.studio_image}"
    assert "@sha256:" in str(tf.variables["studio_image"]["validation"])
    assert template["service_account"] == "${google_service_account.studio[0].email}"
    env = tf.locals["studio_env"]
    assert "IMAGEGEN_STUDIO_IAP_AUDIENCES" in str(env)
    assert "/locations/${var.region}/services/" in str(tf.locals["studio_iap_audience"])


def test_only_iap_and_named_members_reach_the_studio(tf: TerraformConfig) -> None:
    iap = tf.get("google_cloud_run_v2_service_iam_member", "iap_invokes_studio").body
    assert iap["role"] == "roles/run.invoker"
    assert "google_project_service_identity.iap" in iap["member"]
    users = tf.get("google_iap_web_cloud_run_service_iam_member", "studio_users").body
    assert users["role"] == "roles/iap.httpsResourceAccessor"
    assert "var.studio_members" in str(users["for_each"])
    fallback = tf.get("google_cloud_run_v2_service_iam_member", "studio_invokers").body
    assert "!var.studio_iap" in str(fallback["for_each"])
    assert "allUsers" not in tf.raw["studio.tf"].replace("never allUsers", "")


def test_studio_account_has_submits_rights_and_no_more(tf: TerraformConfig) -> None:
    roles = {
        r.body["role"]
        for r in tf.resources
        if r.type.endswith("_iam_member")
        and "google_service_account.studio" in str(r.body)
        and "member" in r.body
        and "studio[0].member" in str(r.body["member"])
    }
    assert roles == {
        "roles/datastore.user",
        "roles/pubsub.publisher",
        "roles/storage.objectUser",
        "roles/iam.serviceAccountTokenCreator",
        # issue 27: it queues jobs as Cloud Tasks tasks, as submit does
        "roles/cloudtasks.enqueuer",
        "roles/iam.serviceAccountUser",
    }
    assert not any(
        r.body.get("role") == "roles/aiplatform.user" and "studio" in str(r.body)
        for r in tf.resources
    ), "the studio never calls Vertex AI: generate does"
