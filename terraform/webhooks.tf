# Webhooks (issue 16): deliver_webhooks POSTs job events to the URL a job
# names, signed per Standard Webhooks with the secret below, and rewrites the
# results/ answer of uploaded jobs when they end.
#
#   job-events ──push (OIDC)──▶ deliver_webhooks ◀──push── webhook-retries
#                                     │                      ▲
#                                     │ failed attempt:      │ sweep publishes
#                                     │ next_attempt_at      │ due retries
#                                     ▼ on the job ──────────┘
#                          after >= 24 h of failures: webhooks-dead-letter
#
# Pub/Sub alone cannot retry for a day (at most 100 deliveries, at most 600 s
# apart), so the retry schedule lives in Firestore (webhook_deliveries/<event
# id>, mirrored onto the job) and the sweeper
# re-publishes due retries. The subscriptions' own retry and dead-letter
# policies cover failures of the function itself.

resource "google_pubsub_topic" "webhook_retries" {
  #checkov:skip=CKV_GCP_83:Messages carry the public job view (no image bytes or URLs); Google-managed encryption is used.
  name                       = "${local.prefix}-webhook-retries"
  project                    = var.project_id
  message_retention_duration = "86400s"

  depends_on = [time_sleep.apis_enabled]
}

resource "google_pubsub_topic" "webhooks_dead_letter" {
  #checkov:skip=CKV_GCP_83:Messages carry the public job view (no image bytes or URLs); Google-managed encryption is used.
  name                       = "${local.prefix}-webhooks-dead-letter"
  project                    = var.project_id
  message_retention_duration = "604800s"

  depends_on = [time_sleep.apis_enabled]
}

# The push subscriptions (job-events and webhook-retries -> deliver_webhooks)
# and the pull subscription holding webhook dead letters for 7 days are in
# pubsub.tf, next to the jobs' own.

# --- the signing secret ------------------------------------------------------------
# whsec_<base64 of 32 random bytes>, the Standard Webhooks secret format.
# The value is in the Terraform state (keep the state bucket private); rotate
# with `gcloud secrets versions add` and redeploy deliver_webhooks.
resource "random_bytes" "webhook_secret" {
  length = 32
}

resource "google_secret_manager_secret" "webhook" {
  #checkov:skip=CKV_GCP_128:Google-managed encryption; the secret signs webhooks, it grants no access to data.
  project   = var.project_id
  secret_id = "${local.prefix}-webhook-secret"

  replication {
    auto {}
  }

  depends_on = [time_sleep.apis_enabled]
}

resource "google_secret_manager_secret_version" "webhook" {
  secret      = google_secret_manager_secret.webhook.id
  secret_data = "whsec_${random_bytes.webhook_secret.base64}"
}

# --- least-privilege IAM -----------------------------------------------------------
resource "google_secret_manager_secret_iam_member" "webhooks_read_secret" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.webhook.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function["webhooks"].member
}

# Publishing to webhooks-dead-letter (the function and the Pub/Sub agent) and
# to webhook-retries (the sweeper): local.topic_publishers in iam.tf.

# Signed URLs in webhook payloads and upload answers: read access to the
# outputs (a signed URL carries the signer's access; local.function_bucket_grants
# in iam.tf) and signBlob on itself (roles/iam.serviceAccountTokenCreator holds
# iam.serviceAccounts.signBlob). Upload answers are rewritten when the job ends,
# under results/ only (iam.tf too).
resource "google_service_account_iam_member" "webhooks_sign_blob" {
  service_account_id = google_service_account.function["webhooks"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function["webhooks"].member
}
