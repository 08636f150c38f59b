# Job events (issue 16): every state change of a job is published once to the
# job-events topic as a structured-mode CloudEvent (JSON; docs/events.md):
# type com.imagegen.job.v1.<state>, subject = job id, data = the public job
# view, id = <job id>-<sequence>, stable per transition (dedupe on it).
# Attributes: job_id, event_id, type, content-type.
#
# Subscribe (another system in the project, or across projects with
# roles/pubsub.subscriber on the topic):
#   gcloud pubsub subscriptions create my-consumer \
#     --topic=<output events_topic> \
#     --message-filter='attributes.type = "com.imagegen.job.v1.succeeded"'
# Push subscriptions work the same way; the message data is the CloudEvent.
#
# Every function that changes job states publishes (writes the transition and
# an outbox entry in one Firestore write, publishes after the commit); the
# sweeper re-publishes outbox entries a crash left behind (docs/architecture.md).
# Their grants: local.topic_publishers in iam.tf.

resource "google_pubsub_topic" "job_events" {
  #checkov:skip=CKV_GCP_83:Events carry the public job view (prompt, gs:// URIs, no image bytes or URLs); Google-managed encryption is used.
  name    = "${local.prefix}-job-events"
  project = var.project_id

  # Subscribers that attach late, or seek back, can still read a week of events.
  message_retention_duration = "604800s"

  depends_on = [time_sleep.apis_enabled]
}
