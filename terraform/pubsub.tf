# Job queue.
#
# Design decision: generate is fed by a Terraform-managed PUSH subscription on
# the jobs topic, not by a function event_trigger.
# google_cloudfunctions2_function.event_trigger creates its Eventarc
# subscription itself and exposes no dead-letter policy, so a subscription we
# manage is the only way Terraform can own retries and dead-lettering.
# functions-framework (cloudevent signature) accepts the raw Pub/Sub push body
# and converts it into a google.cloud.pubsub.topic.v1.messagePublished
# CloudEvent, so the Python entry point is the same either way. Publishers must
# set at least one message attribute: the conversion needs message.attributes,
# and Pub/Sub omits the field when a message has none.
#
# generate and dead_letter therefore have no event_trigger; Pub/Sub pushes to
# their run.app URL with an OIDC token of the push-invoker service account,
# which holds roles/run.invoker on those two services only.

resource "google_pubsub_topic" "jobs" {
  #checkov:skip=CKV_GCP_83:Messages carry only job IDs (no prompts or images); Google-managed encryption is used.
  name    = "${local.prefix}-jobs"
  project = var.project_id

  message_retention_duration = "86400s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Messages carry only job IDs (no prompts or images); Google-managed encryption is used.
  name    = "${local.prefix}-jobs-dead-letter"
  project = var.project_id

  message_retention_duration = "604800s"

  depends_on = [google_project_service.this]
}

resource "google_pubsub_subscription" "generate" {
  name    = "${local.prefix}-generate-push"
  project = var.project_id
  topic   = google_pubsub_topic.jobs.id

  # Longer than generate's timeout (<= 540 s): a running attempt is never
  # redelivered while it is still working.
  ack_deadline_seconds       = 600
  message_retention_duration = "86400s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["generate"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.function["generate"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_service_account_iam_member.pubsub_mints_push_tokens,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}

# Dead-lettered jobs are pushed to dead_letter, which marks them failed with
# the last error. It has its own retry policy and no dead-letter policy of its
# own (it would point back at the topic it reads).
resource "google_pubsub_subscription" "dead_letter" {
  name    = "${local.prefix}-dead-letter-push"
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"

  push_config {
    push_endpoint = google_cloudfunctions2_function.function["dead_letter"].service_config[0].uri

    oidc_token {
      service_account_email = google_service_account.push_invoker.email
      audience              = google_cloudfunctions2_function.function["dead_letter"].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  expiration_policy {
    ttl = ""
  }

  depends_on = [
    google_service_account_iam_member.pubsub_mints_push_tokens,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}

# Nothing silently lost: every dead-lettered message is also kept for 7 days
# on a pull subscription operators can inspect or replay
# (gcloud pubsub subscriptions pull <name> --auto-ack=false).
resource "google_pubsub_subscription" "dead_letter_hold" {
  name    = "${local.prefix}-dead-letter-hold"
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}
