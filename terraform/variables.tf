# Inputs of the imagegen deployment. Every variable is typed, described and,
# where a wrong value would only fail late (at apply or at run time), validated.

variable "project_id" {
  type        = string
  description = "ID of the Google Cloud project to deploy into (must already exist and have billing enabled)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 chars, lowercase letters, digits and hyphens), not a project number or name."
  }
}

variable "region" {
  type        = string
  description = "Region for the functions, buckets, Eventarc trigger and Cloud Scheduler job, e.g. us-central1."
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west4 (not a zone, not a multi-region)."
  }
}

variable "firestore_location" {
  type        = string
  description = "Location of the Firestore (default) database: a multi-region (nam5, eur3) or a region. It cannot be changed after creation; pick eur3 or an EU region for EU data residency."
  default     = "nam5"
}

variable "manage_firestore_database" {
  type        = bool
  description = "Create the Firestore (default) database. Set to false when the project already has one (it must be in Native mode); indexes and the TTL policy are still managed."
  default     = true
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every resource name (functions, service accounts, topics, buckets)."
  default     = "imagegen"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-15 chars of lowercase letters, digits and hyphens, start with a letter and not end with a hyphen (service account IDs are limited to 30 chars)."
  }
}

variable "labels" {
  type        = map(string)
  description = "Extra labels applied to every labelled resource (merged with app=imagegen and managed-by=terraform)."
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.labels :
      can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must start with a lowercase letter; keys and values may contain only lowercase letters, digits, '_' and '-' (max 63 chars)."
  }
}

variable "invoker_members" {
  type        = list(string)
  description = "IAM members allowed to call the submit API (roles/run.invoker on the submit service), e.g. [\"user:alice@example.com\", \"serviceAccount:ci@my-project.iam.gserviceaccount.com\", \"group:imagegen-clients@example.com\"]."
  default     = []

  validation {
    condition = alltrue([
      for m in var.invoker_members :
      !contains(["allusers", "allauthenticatedusers"], lower(m))
    ])
    error_message = "invoker_members must not contain allUsers or allAuthenticatedUsers: the API is private and always requires an identity token."
  }

  validation {
    condition = alltrue([
      for m in var.invoker_members :
      can(regex("^(user|serviceAccount|group|domain|principal|principalSet):.+$", m))
    ])
    error_message = "Each invoker member must be an IAM member string such as user:EMAIL, serviceAccount:EMAIL, group:EMAIL or domain:DOMAIN."
  }
}

variable "admin_members" {
  type        = list(string)
  description = "Callers who may read and cancel every caller's jobs and read every caller's usage; everyone else sees only their own jobs (another caller's job is a 404). IAM-style user:EMAIL or serviceAccount:EMAIL, matched against the verified identity token's email. They still need to be invokers (invoker_members)."
  default     = []

  validation {
    condition = alltrue([
      for m in var.admin_members :
      can(regex("^(user|serviceAccount):[^,:[:space:]]+@[^,:[:space:]]+$", m))
    ])
    error_message = "Each admin member must be user:EMAIL or serviceAccount:EMAIL (groups and domains cannot be matched against a token's email)."
  }
}

variable "vertex_locations" {
  type        = list(string)
  description = "Vertex AI locations jobs may run in (request `region` is checked against this list). `global` uses the aiplatform.googleapis.com endpoint."
  default     = ["global", "us-central1", "europe-west4", "asia-northeast1"]

  validation {
    condition     = length(var.vertex_locations) > 0 && alltrue([for l in var.vertex_locations : l == "global" || can(regex("^[a-z]+-[a-z]+[0-9]$", l))])
    error_message = "vertex_locations must be a non-empty list of `global` and/or region names such as us-central1."
  }
}

variable "vertex_default_location" {
  type        = string
  description = "Vertex AI location used when a request names none and the model serves it (must be in vertex_locations)."
  default     = "global"
}

variable "vertex_fallback_locations" {
  type        = list(string)
  description = "Ordered Vertex AI locations tried when the chosen location is exhausted (429) or unavailable; each must be in vertex_locations."
  default     = ["us-central1"]
}

variable "retired_model_policy" {
  type        = string
  description = "What the API does with a request for a retired model: `refuse` (HTTP 400) or `route` (run it on Google's published replacement model, translating its parameters, and say so in the job). Route is the default: requests written for models Google has shut down keep working."
  default     = "route"

  validation {
    condition     = contains(["refuse", "route"], var.retired_model_policy)
    error_message = "retired_model_policy must be \"refuse\" or \"route\"."
  }
}

variable "catalog_override_json" {
  type        = string
  description = "Optional JSON text merged over the built-in model catalog (IMAGEGEN_CATALOG_JSON); empty means the built-in catalog only."
  default     = ""

  validation {
    condition     = var.catalog_override_json == "" || can(jsondecode(var.catalog_override_json))
    error_message = "catalog_override_json must be empty or valid JSON."
  }
}

variable "reference_buckets" {
  type        = list(string)
  description = "Names of extra buckets (without gs://) that generate may read reference images from; the uploads bucket is always allowed. The deployer needs permission to set IAM on them."
  default     = []

  validation {
    condition     = alltrue([for b in var.reference_buckets : can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", b))])
    error_message = "reference_buckets must hold bare bucket names (no gs:// prefix, no path)."
  }
}

variable "max_instances" {
  type = object({
    submit      = optional(number, 20)
    generate    = optional(number, 10)
    on_upload   = optional(number, 5)
    dead_letter = optional(number, 2)
    sweep       = optional(number, 1)
    # deliver_webhooks: one delivery per instance, each at most the webhook timeout
    deliver_webhooks = optional(number, 10)
  })
  description = "Maximum instance count per function. generate's maximum times its concurrency bounds parallel Vertex AI calls (and so quota use and spend)."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.max_instances : v >= 1 && v <= 1000 && floor(v) == v])
    error_message = "Every max_instances value must be a whole number between 1 and 1000."
  }
}

variable "memory" {
  type = object({
    submit      = optional(string, "512Mi")
    generate    = optional(string)
    on_upload   = optional(string, "512Mi")
    dead_letter = optional(string, "256Mi")
    sweep       = optional(string, "512Mi")
  })
  description = "Memory per function, in Cloud Run units (e.g. 256Mi, 512Mi, 1Gi, 2Gi). generate streams each image to Cloud Storage as it arrives: bench/RESULTS.md (memory) measured a peak of 217 MiB for one job of 4 x 4K incompressible images (600 MiB for the old buffered path, same run), so its default is 512Mi, the smallest the second-generation environment takes (https://cloud.google.com/run/docs/configuring/services/memory-limits, read 2026-11-25), at concurrency.generate = 1, and 1Gi when an instance runs more than one job at once (about 75 MiB more a concurrent 4 x 4K job: projected, not measured). sweep splits Vertex batch outputs (issue 29): bench/RESULTS.md (batch) measured the streamed split of a 10,000-item output of 1K images peaking above 230 MiB, too close to 256Mi, so its default is 512Mi."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.memory : v == null || can(regex("^[0-9]+(Mi|Gi)$", v))])
    error_message = "memory values must look like 256Mi or 1Gi."
  }
}

variable "concurrency" {
  type = object({
    submit   = optional(number, 80)
    generate = optional(number, 1)
  })
  description = "Concurrent requests per instance: submit is I/O bound (default 80, with 1 vCPU); generate holds one Vertex AI call per request (1-4)."
  default     = {}

  validation {
    condition     = var.concurrency.submit >= 1 && var.concurrency.submit <= 1000
    error_message = "concurrency.submit must be between 1 and 1000."
  }

  validation {
    condition     = var.concurrency.generate >= 1 && var.concurrency.generate <= 4
    error_message = "concurrency.generate must be between 1 and 4."
  }
}

variable "generate_timeout_seconds" {
  type        = number
  description = "Request timeout of generate. It must stay below the push subscription's 600 s ack deadline; the lease is this + 60 s and the Vertex AI call budget this - 60 s."
  default     = 540

  validation {
    condition     = var.generate_timeout_seconds >= 120 && var.generate_timeout_seconds <= 540
    error_message = "generate_timeout_seconds must be between 120 and 540 (the Pub/Sub push ack deadline is at most 600 s)."
  }
}

variable "output_retention_days" {
  type        = number
  description = "Days generated images are kept in the outputs bucket before lifecycle deletion."
  default     = 30

  validation {
    condition     = var.output_retention_days >= 1 && var.output_retention_days <= 3650
    error_message = "output_retention_days must be between 1 and 3650."
  }
}

variable "batch_files_retention_days" {
  type        = number
  description = "Days a batch's files (Vertex inputs, item plans, Vertex's predictions, under batches/ of the outputs bucket) are kept before lifecycle deletion. At least 6: a batch is split within its deadline (IMAGEGEN_BATCH_DEADLINE_SECONDS, 5 days); its images are then stored under jobs/."
  default     = 14

  validation {
    condition     = var.batch_files_retention_days >= 6 && var.batch_files_retention_days <= 3650
    error_message = "batch_files_retention_days must be between 6 and 3650 (a batch may run 5 days)."
  }
}

variable "max_delivery_attempts" {
  type        = number
  description = "Pub/Sub deliveries of one job message to generate before it is dead-lettered (also IMAGEGEN_MAX_ATTEMPTS)."
  default     = 5

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "max_delivery_attempts must be between 5 and 100 (Pub/Sub dead-letter policy limits)."
  }
}

variable "job_deadline_seconds" {
  type        = number
  description = "Age after which the sweeper fails a job that is still queued or running (IMAGEGEN_JOB_DEADLINE_SECONDS)."
  default     = 3600

  validation {
    condition     = var.job_deadline_seconds >= 600 && var.job_deadline_seconds <= 604800
    error_message = "job_deadline_seconds must be between 600 (10 min) and 604800 (7 days, the Pub/Sub retention limit)."
  }
}

variable "sweep_schedule" {
  type        = string
  description = "Cron schedule (unix-cron, in sweep_time_zone) on which Cloud Scheduler calls sweep."
  default     = "*/5 * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.sweep_schedule))) == 5
    error_message = "sweep_schedule must be a five-field unix-cron expression such as \"*/5 * * * *\"."
  }
}

variable "model_check_schedule" {
  type        = string
  description = "Cron schedule (unix-cron, in sweep_time_zone) of the daily model lifecycle check (lifecycle.tf)."
  default     = "17 6 * * *"

  validation {
    condition     = length(split(" ", trimspace(var.model_check_schedule))) == 5
    error_message = "model_check_schedule must be a five-field unix-cron expression such as \"17 6 * * *\"."
  }
}

variable "sweep_time_zone" {
  type        = string
  description = "Time zone (tz database name) of sweep_schedule."
  default     = "Etc/UTC"
}

variable "log_level" {
  type        = string
  description = "LOG_LEVEL of every function."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "signed_url_access" {
  type        = bool
  description = "Let submit sign read URLs for outputs in GET /v1/jobs/{id}: grants its service account objectViewer on the outputs bucket and signBlob on itself."
  default     = true
}

variable "signed_url_seconds" {
  type        = number
  description = "Lifetime of the V4 signed URLs on job outputs (GET /v1/jobs/{id}, webhooks, upload answers): default 15 minutes, at most 7 days (604800 s, the V4 limit)."
  default     = 900

  validation {
    condition     = var.signed_url_seconds >= 60 && var.signed_url_seconds <= 604800
    error_message = "signed_url_seconds must be between 60 and 604800 (7 days)."
  }
}

variable "webhooks" {
  type = object({
    allowed_hosts        = optional(list(string), []) # empty: any public https host
    timeout_seconds      = optional(number, 10)
    retry_window_seconds = optional(number, 86400) # retry at least this long, then dead-letter
  })
  description = "Webhook delivery: an optional allow-list of receiver host names, the per-attempt timeout, and how long failed deliveries are retried before they are dead-lettered."
  default     = {}

  validation {
    condition     = var.webhooks.timeout_seconds >= 1 && var.webhooks.timeout_seconds <= 30
    error_message = "webhooks.timeout_seconds must be between 1 and 30."
  }

  validation {
    condition     = var.webhooks.retry_window_seconds >= 86400
    error_message = "webhooks.retry_window_seconds must be at least 86400 (24 hours)."
  }
}

variable "budget" {
  type = object({
    enabled         = optional(bool, false)
    billing_account = optional(string, "")
    amount          = optional(number)
    amount_usd      = optional(number, 100)
    currency_code   = optional(string)
  })
  description = "Optional monthly billing budget on this project with alerts at 50/80/90/100 % (e-mail to billing admins, and var.notification_channels). amount is in the billing account's currency (amount_usd is its older name, used when amount is unset); currency_code may be left unset, and if set must equal the billing account's currency. billing_account is the ID (XXXXXX-XXXXXX-XXXXXX); the deployer needs roles/billing.costsManager on it."
  default     = {}

  validation {
    condition     = !var.budget.enabled || can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.budget.billing_account))
    error_message = "When budget.enabled is true, budget.billing_account must be a billing account ID like 012345-6789AB-CDEF01."
  }

  validation {
    condition     = coalesce(var.budget.amount, var.budget.amount_usd) > 0
    error_message = "budget.amount (or amount_usd) must be positive."
  }

  validation {
    condition     = var.budget.currency_code == null || can(regex("^[A-Z]{3}$", var.budget.currency_code))
    error_message = "budget.currency_code must be unset or a 3-letter ISO 4217 code such as EUR."
  }
}

variable "notification_channels" {
  type        = list(string)
  description = "Cloud Monitoring notification channels (projects/<project>/notificationChannels/<id>) that receive every alert of monitoring.tf and the budget's threshold notifications. Empty: alerts are still created and shown in the console, but notify nobody."
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each notification channel must be a resource name like projects/my-project/notificationChannels/1234567890."
  }
}

variable "alert_thresholds" {
  type = object({
    failure_ratio       = optional(number, 0.2)
    submit_5xx_per_5min = optional(number, 0)
  })
  description = "Alert thresholds: failure_ratio is failed / finished jobs over 15 minutes (0-1); submit_5xx_per_5min is the number of 5xx answers of the submit API in 5 minutes above which to alert."
  default     = {}

  validation {
    condition     = var.alert_thresholds.failure_ratio > 0 && var.alert_thresholds.failure_ratio < 1
    error_message = "alert_thresholds.failure_ratio must be between 0 and 1 (exclusive)."
  }

  validation {
    condition     = var.alert_thresholds.submit_5xx_per_5min >= 0
    error_message = "alert_thresholds.submit_5xx_per_5min must be 0 or more."
  }
}

variable "tracing" {
  type        = bool
  description = "Export OpenTelemetry traces to Cloud Trace (one trace per job: submit, then generate). Grants the functions roles/cloudtrace.agent."
  default     = true
}

variable "state_bucket" {
  type        = string
  description = "Name of the bucket holding this deployment's Terraform state (it carries the webhook signing secret), when it is in the same project: the function build account's project-wide Storage Object Admin then excludes it. Empty: no exclusion (keep the state in another project)."
  default     = ""

  validation {
    condition     = var.state_bucket == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be a bare bucket name (no gs:// prefix, no path), or empty."
  }
}

variable "force_destroy_buckets" {
  type        = bool
  description = "Allow `terraform destroy` to delete buckets that still hold objects (uploads, generated images). Keep false in production."
  default     = false
}

variable "limits" {
  type = object({
    caller_requests_per_minute = optional(number, 0)
    global_requests_per_minute = optional(number, 0)
    caller_usd_per_day         = optional(number, 0)
    global_usd_per_day         = optional(number, 0)
  })
  description = "Limits enforced at submit (0 = none): requests a minute and estimated dollars a day, per caller (the identity token's email) and for the whole deployment. Over a limit, POST /v1/jobs answers 429 and queues nothing."
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.limits : v >= 0])
    error_message = "limits must be 0 (no limit) or positive."
  }
}

# --- Studio (issue 21; terraform/studio.tf, docs/studio.md) ------------------------------
variable "studio_enabled" {
  type        = bool
  description = "Deploy the studio (playground and gallery page) as its own Cloud Run service."
  default     = true
}

variable "studio_image" {
  type        = string
  description = "The studio's container image, by digest (REGION-docker.pkg.dev/PROJECT/REPOSITORY/studio@sha256:...): built from functions/ with studio.Dockerfile and pushed by cloudbuild.yaml (step studio-image) before plan, so every code change is a new digest and a new revision. Required when studio_enabled."
  default     = ""

  validation {
    condition     = var.studio_image == "" || can(regex("^[a-z0-9.-]+(:[0-9]+)?/[^@:[:space:]]+@sha256:[0-9a-f]{64}$", var.studio_image))
    error_message = "studio_image must be an image reference by digest (.../studio@sha256:<64 hex>), or empty when studio_enabled is false."
  }
}

variable "studio_iap" {
  type        = bool
  description = "Protect the studio with Identity-Aware Proxy enabled on the service. false: Cloud Run IAM only, opened with `gcloud run services proxy` (for projects where IAP on Cloud Run is not available, e.g. outside an organization)."
  default     = true
}

variable "studio_members" {
  type        = list(string)
  description = "Who may open the studio: roles/iap.httpsResourceAccessor (studio_iap) or roles/run.invoker (fallback), e.g. [\"group:designers@example.com\"]. Each sees only their own jobs."
  default     = []

  validation {
    condition = alltrue([
      for m in var.studio_members :
      can(regex("^(user|group|domain|serviceAccount):.+$", m))
    ])
    error_message = "studio_members are IAM members such as user:EMAIL, group:EMAIL or domain:DOMAIN (never allUsers)."
  }
}

variable "studio_max_instances" {
  type        = number
  description = "Maximum instances of the studio service."
  default     = 3
}

variable "vertex_quota" {
  type = object({
    requests_per_minute = optional(number, 0)
    overrides           = optional(map(number), {})
    max_wait_seconds    = optional(number, 5)
  })
  description = "Pacing of Vertex AI calls by a shared limiter (issue 18), per model and location: requests_per_minute (0 = not paced) and overrides keyed \"model@location\" or \"model\". Gemini image models use dynamic shared quota (no per-project quota; 429 RESOURCE_EXHAUSTED when the shared pool is short, https://docs.cloud.google.com/vertex-ai/generative-ai/docs/quotas-genai read 2026-11-25), so set the rate the deployment's calls really get (or its Provisioned Throughput); the limiter halves it on 429s and grows back. A job whose turn is further off than max_wait_seconds is handed back to Pub/Sub unclaimed."
  default     = {}

  validation {
    condition     = var.vertex_quota.requests_per_minute >= 0 && var.vertex_quota.max_wait_seconds >= 0 && alltrue([for v in values(var.vertex_quota.overrides) : v >= 0])
    error_message = "vertex_quota values must not be negative."
  }
}

variable "counter_shards" {
  type        = number
  description = "Shards per daily budget counter (issue 18): Firestore sustains about one write a second per document, so use at least the peak submissions a second x 2.5 (512 for 200/s). Rate counters need only ceil(limit/60). Overshoot bound: docs/architecture.md."
  default     = 16

  validation {
    condition     = var.counter_shards >= 1 && var.counter_shards <= 2000
    error_message = "counter_shards must be between 1 and 2000."
  }
}
