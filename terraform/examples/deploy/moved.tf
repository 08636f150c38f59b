# Deployments made with terraform/ as their root (before issue 32) keep every resource:
# each address moves into module.imagegen, where the module's own moved blocks carry the
# pre-issue-19 addresses on to their for_each instances. Keep them: removing a moved block
# breaks every deployment that has not applied it yet
# (https://developer.hashicorp.com/terraform/language/modules/develop/refactoring, read
# 2026-11-25). tests/terraform/test_module_layout.py checks the list is complete, and
# tests/terraform/test_moved.py plans this root against states of the old layout.

moved {
  from = google_artifact_registry_repository.functions
  to   = module.imagegen.google_artifact_registry_repository.functions
}

moved {
  from = google_artifact_registry_repository_iam_member.build_writer
  to   = module.imagegen.google_artifact_registry_repository_iam_member.build_writer
}

moved {
  from = google_billing_budget.project
  to   = module.imagegen.google_billing_budget.project
}

moved {
  from = google_cloud_run_v2_service.studio
  to   = module.imagegen.google_cloud_run_v2_service.studio
}

moved {
  from = google_cloud_run_v2_service_iam_member.iap_invokes_studio
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.iap_invokes_studio
}

moved {
  from = google_cloud_run_v2_service_iam_member.invoker
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.invoker
}

moved {
  from = google_cloud_run_v2_service_iam_member.push_invokes_dead_letter
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.push_invokes_dead_letter
}

moved {
  from = google_cloud_run_v2_service_iam_member.push_invokes_deliver_webhooks
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.push_invokes_deliver_webhooks
}

moved {
  from = google_cloud_run_v2_service_iam_member.push_invokes_generate
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.push_invokes_generate
}

moved {
  from = google_cloud_run_v2_service_iam_member.scheduler_invokes_sweep
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.scheduler_invokes_sweep
}

moved {
  from = google_cloud_run_v2_service_iam_member.studio_invokers
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.studio_invokers
}

moved {
  from = google_cloud_run_v2_service_iam_member.submit_invokers
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.submit_invokers
}

moved {
  from = google_cloud_run_v2_service_iam_member.upload_trigger_invokes_on_upload
  to   = module.imagegen.google_cloud_run_v2_service_iam_member.upload_trigger_invokes_on_upload
}

moved {
  from = google_cloud_scheduler_job.model_check
  to   = module.imagegen.google_cloud_scheduler_job.model_check
}

moved {
  from = google_cloud_scheduler_job.sweep
  to   = module.imagegen.google_cloud_scheduler_job.sweep
}

moved {
  from = google_cloudfunctions2_function.dead_letter
  to   = module.imagegen.google_cloudfunctions2_function.dead_letter
}

moved {
  from = google_cloudfunctions2_function.deliver_webhooks
  to   = module.imagegen.google_cloudfunctions2_function.deliver_webhooks
}

moved {
  from = google_cloudfunctions2_function.function
  to   = module.imagegen.google_cloudfunctions2_function.function
}

moved {
  from = google_cloudfunctions2_function.generate
  to   = module.imagegen.google_cloudfunctions2_function.generate
}

moved {
  from = google_cloudfunctions2_function.on_upload
  to   = module.imagegen.google_cloudfunctions2_function.on_upload
}

moved {
  from = google_cloudfunctions2_function.submit
  to   = module.imagegen.google_cloudfunctions2_function.submit
}

moved {
  from = google_cloudfunctions2_function.sweep
  to   = module.imagegen.google_cloudfunctions2_function.sweep
}

moved {
  from = google_firestore_database.default
  to   = module.imagegen.google_firestore_database.default
}

moved {
  from = google_firestore_field.jobs_expire_at_ttl
  to   = module.imagegen.google_firestore_field.jobs_expire_at_ttl
}

moved {
  from = google_firestore_field.usage_expire_at_ttl
  to   = module.imagegen.google_firestore_field.usage_expire_at_ttl
}

moved {
  from = google_firestore_field.vertex_slots_expire_at_ttl
  to   = module.imagegen.google_firestore_field.vertex_slots_expire_at_ttl
}

moved {
  from = google_firestore_index.jobs_caller_created_at
  to   = module.imagegen.google_firestore_index.jobs_caller_created_at
}

moved {
  from = google_firestore_index.jobs_caller_created_desc
  to   = module.imagegen.google_firestore_index.jobs_caller_created_desc
}

moved {
  from = google_firestore_index.jobs_state_updated_at
  to   = module.imagegen.google_firestore_index.jobs_state_updated_at
}

moved {
  from = google_firestore_index.usage_counter_sums
  to   = module.imagegen.google_firestore_index.usage_counter_sums
}

moved {
  from = google_iap_web_cloud_run_service_iam_member.studio_users
  to   = module.imagegen.google_iap_web_cloud_run_service_iam_member.studio_users
}

moved {
  from = google_logging_metric.job_cost_usd
  to   = module.imagegen.google_logging_metric.job_cost_usd
}

moved {
  from = google_logging_metric.job_events
  to   = module.imagegen.google_logging_metric.job_events
}

moved {
  from = google_logging_metric.job_seconds
  to   = module.imagegen.google_logging_metric.job_seconds
}

moved {
  from = google_logging_metric.models_retired
  to   = module.imagegen.google_logging_metric.models_retired
}

moved {
  from = google_logging_metric.vertex_calls
  to   = module.imagegen.google_logging_metric.vertex_calls
}

moved {
  from = google_monitoring_alert_policy.dead_letter_backlog
  to   = module.imagegen.google_monitoring_alert_policy.dead_letter_backlog
}

moved {
  from = google_monitoring_alert_policy.failure_ratio
  to   = module.imagegen.google_monitoring_alert_policy.failure_ratio
}

moved {
  from = google_monitoring_alert_policy.model_retired
  to   = module.imagegen.google_monitoring_alert_policy.model_retired
}

moved {
  from = google_monitoring_alert_policy.submit_5xx
  to   = module.imagegen.google_monitoring_alert_policy.submit_5xx
}

moved {
  from = google_monitoring_dashboard.operations
  to   = module.imagegen.google_monitoring_dashboard.operations
}

moved {
  from = google_project_iam_member.build_log_writer
  to   = module.imagegen.google_project_iam_member.build_log_writer
}

moved {
  from = google_project_iam_member.build_staging_access
  to   = module.imagegen.google_project_iam_member.build_staging_access
}

moved {
  from = google_project_iam_member.firestore_user
  to   = module.imagegen.google_project_iam_member.firestore_user
}

moved {
  from = google_project_iam_member.function_trace_agent
  to   = module.imagegen.google_project_iam_member.function_trace_agent
}

moved {
  from = google_project_iam_member.gcs_agent_pubsub_publisher
  to   = module.imagegen.google_project_iam_member.gcs_agent_pubsub_publisher
}

moved {
  from = google_project_iam_member.generate_vertex_user
  to   = module.imagegen.google_project_iam_member.generate_vertex_user
}

moved {
  from = google_project_iam_member.studio_firestore_user
  to   = module.imagegen.google_project_iam_member.studio_firestore_user
}

moved {
  from = google_project_iam_member.sweep_reads_model_garden
  to   = module.imagegen.google_project_iam_member.sweep_reads_model_garden
}

moved {
  from = google_project_iam_member.upload_trigger_event_receiver
  to   = module.imagegen.google_project_iam_member.upload_trigger_event_receiver
}

moved {
  from = google_project_service.this
  to   = module.imagegen.google_project_service.this
}

moved {
  from = google_project_service_identity.eventarc
  to   = module.imagegen.google_project_service_identity.eventarc
}

moved {
  from = google_project_service_identity.iap
  to   = module.imagegen.google_project_service_identity.iap
}

moved {
  from = google_project_service_identity.pubsub
  to   = module.imagegen.google_project_service_identity.pubsub
}

moved {
  from = google_pubsub_subscription.dead_letter
  to   = module.imagegen.google_pubsub_subscription.dead_letter
}

moved {
  from = google_pubsub_subscription.dead_letter_hold
  to   = module.imagegen.google_pubsub_subscription.dead_letter_hold
}

moved {
  from = google_pubsub_subscription.generate
  to   = module.imagegen.google_pubsub_subscription.generate
}

moved {
  from = google_pubsub_subscription.hold
  to   = module.imagegen.google_pubsub_subscription.hold
}

moved {
  from = google_pubsub_subscription.push
  to   = module.imagegen.google_pubsub_subscription.push
}

moved {
  from = google_pubsub_subscription.webhooks
  to   = module.imagegen.google_pubsub_subscription.webhooks
}

moved {
  from = google_pubsub_subscription.webhooks_dead_letter_hold
  to   = module.imagegen.google_pubsub_subscription.webhooks_dead_letter_hold
}

moved {
  from = google_pubsub_subscription_iam_member.dead_letter_source
  to   = module.imagegen.google_pubsub_subscription_iam_member.dead_letter_source
}

moved {
  from = google_pubsub_subscription_iam_member.dead_letter_source_subscriber
  to   = module.imagegen.google_pubsub_subscription_iam_member.dead_letter_source_subscriber
}

moved {
  from = google_pubsub_subscription_iam_member.webhooks_dead_letter_source
  to   = module.imagegen.google_pubsub_subscription_iam_member.webhooks_dead_letter_source
}

moved {
  from = google_pubsub_topic.dead_letter
  to   = module.imagegen.google_pubsub_topic.dead_letter
}

moved {
  from = google_pubsub_topic.job_events
  to   = module.imagegen.google_pubsub_topic.job_events
}

moved {
  from = google_pubsub_topic.jobs
  to   = module.imagegen.google_pubsub_topic.jobs
}

moved {
  from = google_pubsub_topic.webhook_retries
  to   = module.imagegen.google_pubsub_topic.webhook_retries
}

moved {
  from = google_pubsub_topic.webhooks_dead_letter
  to   = module.imagegen.google_pubsub_topic.webhooks_dead_letter
}

moved {
  from = google_pubsub_topic_iam_member.dead_letter_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.dead_letter_publisher
}

moved {
  from = google_pubsub_topic_iam_member.job_events_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.job_events_publisher
}

moved {
  from = google_pubsub_topic_iam_member.jobs_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.jobs_publisher
}

moved {
  from = google_pubsub_topic_iam_member.publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.publisher
}

moved {
  from = google_pubsub_topic_iam_member.studio_events_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.studio_events_publisher
}

moved {
  from = google_pubsub_topic_iam_member.studio_jobs_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.studio_jobs_publisher
}

moved {
  from = google_pubsub_topic_iam_member.studio_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.studio_publisher
}

moved {
  from = google_pubsub_topic_iam_member.sweep_publishes_webhook_retries
  to   = module.imagegen.google_pubsub_topic_iam_member.sweep_publishes_webhook_retries
}

moved {
  from = google_pubsub_topic_iam_member.webhooks_dead_letter_publisher
  to   = module.imagegen.google_pubsub_topic_iam_member.webhooks_dead_letter_publisher
}

moved {
  from = google_secret_manager_secret.webhook
  to   = module.imagegen.google_secret_manager_secret.webhook
}

moved {
  from = google_secret_manager_secret_iam_member.webhooks_read_secret
  to   = module.imagegen.google_secret_manager_secret_iam_member.webhooks_read_secret
}

moved {
  from = google_secret_manager_secret_version.webhook
  to   = module.imagegen.google_secret_manager_secret_version.webhook
}

moved {
  from = google_service_account.build
  to   = module.imagegen.google_service_account.build
}

moved {
  from = google_service_account.function
  to   = module.imagegen.google_service_account.function
}

moved {
  from = google_service_account.platform
  to   = module.imagegen.google_service_account.platform
}

moved {
  from = google_service_account.push_invoker
  to   = module.imagegen.google_service_account.push_invoker
}

moved {
  from = google_service_account.scheduler
  to   = module.imagegen.google_service_account.scheduler
}

moved {
  from = google_service_account.studio
  to   = module.imagegen.google_service_account.studio
}

moved {
  from = google_service_account.upload_trigger
  to   = module.imagegen.google_service_account.upload_trigger
}

moved {
  from = google_service_account_iam_member.pubsub_mints_push_tokens
  to   = module.imagegen.google_service_account_iam_member.pubsub_mints_push_tokens
}

moved {
  from = google_service_account_iam_member.studio_sign_blob
  to   = module.imagegen.google_service_account_iam_member.studio_sign_blob
}

moved {
  from = google_service_account_iam_member.submit_sign_blob
  to   = module.imagegen.google_service_account_iam_member.submit_sign_blob
}

moved {
  from = google_service_account_iam_member.webhooks_sign_blob
  to   = module.imagegen.google_service_account_iam_member.webhooks_sign_blob
}

moved {
  from = google_storage_bucket.outputs
  to   = module.imagegen.google_storage_bucket.outputs
}

moved {
  from = google_storage_bucket.source
  to   = module.imagegen.google_storage_bucket.source
}

moved {
  from = google_storage_bucket.uploads
  to   = module.imagegen.google_storage_bucket.uploads
}

moved {
  from = google_storage_bucket_iam_member.build_reads_source
  to   = module.imagegen.google_storage_bucket_iam_member.build_reads_source
}

moved {
  from = google_storage_bucket_iam_member.function
  to   = module.imagegen.google_storage_bucket_iam_member.function
}

moved {
  from = google_storage_bucket_iam_member.generate_outputs
  to   = module.imagegen.google_storage_bucket_iam_member.generate_outputs
}

moved {
  from = google_storage_bucket_iam_member.generate_reference_reader
  to   = module.imagegen.google_storage_bucket_iam_member.generate_reference_reader
}

moved {
  from = google_storage_bucket_iam_member.on_upload_reads_uploads
  to   = module.imagegen.google_storage_bucket_iam_member.on_upload_reads_uploads
}

moved {
  from = google_storage_bucket_iam_member.on_upload_writes_results
  to   = module.imagegen.google_storage_bucket_iam_member.on_upload_writes_results
}

moved {
  from = google_storage_bucket_iam_member.studio_outputs
  to   = module.imagegen.google_storage_bucket_iam_member.studio_outputs
}

moved {
  from = google_storage_bucket_iam_member.submit_signs_outputs
  to   = module.imagegen.google_storage_bucket_iam_member.submit_signs_outputs
}

moved {
  from = google_storage_bucket_iam_member.webhooks_read_outputs
  to   = module.imagegen.google_storage_bucket_iam_member.webhooks_read_outputs
}

moved {
  from = google_storage_bucket_iam_member.webhooks_rewrite_results
  to   = module.imagegen.google_storage_bucket_iam_member.webhooks_rewrite_results
}

moved {
  from = google_storage_bucket_object.functions_source
  to   = module.imagegen.google_storage_bucket_object.functions_source
}

moved {
  from = random_bytes.webhook_secret
  to   = module.imagegen.random_bytes.webhook_secret
}
