# The Pub/Sub job queue of the path before issue 27. Jobs now wait in Cloud Tasks queues
# (tasks.tf) and nobody publishes here; the topic, its push subscription and the dead-letter
# path stay so a deployment that upgrades finishes what the topic held: generate hands each
# message's job to its queue (a task named by the job id) and acknowledges it, and a
# dead-lettered message still ends its job. They can go in a later release.
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
# generate, dead_letter and deliver_webhooks therefore have no event_trigger;
# Pub/Sub pushes to their run.app URL with an OIDC token of the push-invoker
# service account, which holds roles/run.invoker on those three services only.

resource "google_pubsub_topic" "jobs" {
  #checkov:skip=CKV_GCP_83:Messages carry only job IDs (no prompts or images); Google-managed encryption is used.
  name    = "${local.prefix}-jobs"
  project = var.project_id

  message_retention_duration = "86400s"

  depends_on = [time_sleep.apis_enabled]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Messages carry only job IDs (no prompts or images); Google-managed encryption is used.
  name    = "${local.prefix}-jobs-dead-letter"
  project = var.project_id

  message_retention_duration = "604800s"

  depends_on = [time_sleep.apis_enabled]
}

# Every push subscription: <prefix>-<key>-push reads topic and pushes it to
# function's URL + push_path with an OIDC token of the push invoker, retrying
# with backoff.
#   generate          the jobs; ack deadline longer than generate's timeout
#                     (<= 540 s): a running attempt is never redelivered while
#                     it is still working
#   dead-letter       dead-lettered jobs, which dead_letter marks failed with the
#                     last error; no dead-letter policy of its own (it would
#                     point back at the topic it reads)
#   deliver-webhooks  job events and due webhook retries (webhooks.tf); the
#   webhook-retries   topic in the push path makes functions-framework put it
#                     in the CloudEvent source
locals {
  push_subscriptions = {
    generate = {
      topic             = google_pubsub_topic.jobs
      function          = "generate"
      push_path         = ""
      ack_deadline      = 600
      retention         = "86400s"
      dead_letter_topic = google_pubsub_topic.dead_letter
    }
    dead-letter = {
      topic             = google_pubsub_topic.dead_letter
      function          = "dead_letter"
      push_path         = ""
      ack_deadline      = 60
      retention         = "604800s"
      dead_letter_topic = null
    }
    deliver-webhooks = {
      topic             = google_pubsub_topic.job_events
      function          = "deliver_webhooks"
      push_path         = "/projects/${var.project_id}/topics/${google_pubsub_topic.job_events.name}"
      ack_deadline      = 60
      retention         = "86400s"
      dead_letter_topic = google_pubsub_topic.webhooks_dead_letter
    }
    webhook-retries = {
      topic             = google_pubsub_topic.webhook_retries
      function          = "deliver_webhooks"
      push_path         = "/projects/${var.project_id}/topics/${google_pubsub_topic.webhook_retries.name}"
      ack_deadline      = 60
      retention         = "86400s"
      dead_letter_topic = google_pubsub_topic.webhooks_dead_letter
    }
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions

  name    = "${local.prefix}-${each.key}-push"
  project = var.project_id
  topic   = each.value.topic.id

  ack_deadline_seconds       = each.value.ack_deadline
  message_retention_duration = each.value.retention

  push_config {
    push_endpoint = "${google_cloudfunctions2_function.function[each.value.function].service_config[0].uri}${each.value.push_path}"

    oidc_token {
      service_account_email = google_service_account.platform["push_invoker"].email
      audience              = google_cloudfunctions2_function.function[each.value.function].service_config[0].uri
    }
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter_topic[*] # null: none
    content {
      dead_letter_topic     = dead_letter_policy.value.id
      max_delivery_attempts = var.max_delivery_attempts
    }
  }

  expiration_policy {
    ttl = "" # never expire
  }

  depends_on = [
    google_pubsub_topic_iam_member.publisher,
    google_service_account_iam_member.pubsub_mints_push_tokens,
    google_cloud_run_v2_service_iam_member.invoker,
  ]
}

moved {
  from = google_pubsub_subscription.generate
  to   = google_pubsub_subscription.push["generate"]
}

moved {
  from = google_pubsub_subscription.dead_letter
  to   = google_pubsub_subscription.push["dead-letter"]
}

moved {
  from = google_pubsub_subscription.webhooks["deliver-webhooks"]
  to   = google_pubsub_subscription.push["deliver-webhooks"]
}

moved {
  from = google_pubsub_subscription.webhooks["webhook-retries"]
  to   = google_pubsub_subscription.push["webhook-retries"]
}

# Nothing silently lost: every dead-lettered message (jobs and webhook events)
# is also kept for 7 days on a pull subscription operators can inspect or
# replay (gcloud pubsub subscriptions pull <name> --auto-ack=false).
resource "google_pubsub_subscription" "hold" {
  for_each = {
    dead-letter          = google_pubsub_topic.dead_letter
    webhooks-dead-letter = google_pubsub_topic.webhooks_dead_letter
  }

  name    = "${local.prefix}-${each.key}-hold"
  project = var.project_id
  topic   = each.value.id

  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  retain_acked_messages      = true

  expiration_policy {
    ttl = ""
  }
}

moved {
  from = google_pubsub_subscription.dead_letter_hold
  to   = google_pubsub_subscription.hold["dead-letter"]
}

moved {
  from = google_pubsub_subscription.webhooks_dead_letter_hold
  to   = google_pubsub_subscription.hold["webhooks-dead-letter"]
}
