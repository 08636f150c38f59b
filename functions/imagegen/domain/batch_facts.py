"""What Vertex AI batch prediction is and offers, as facts with their sources (issue 29).

Which models it serves is a fact of each model in the catalog (`ModelSpec.batch_prediction`,
sourced in domain/lineup.py, changeable through the catalog overlay): a batch's items on
such a model go to one Vertex `BatchPredictionJob` at the batch price, the others fan out
into ordinary paced jobs at the online price. The facts of the service itself (its price,
states, formats, limits) are here.

Every fact below was read on 2026-12-06. Where the sources could not be read in full, or
disagree, the note says so and the value is the safe one.
"""

from __future__ import annotations

# --- sources (read 2026-12-06) -----------------------------------------------------------
BATCH_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-gemini"
)
BATCH_GCS_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/"
    "batch-prediction-from-cloud-storage"
)
BATCH_RESUME_PAGE = (
    "https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-resume"
)
# Google's own sample, linked from BATCH_PAGE: the output file's name and an output line.
BATCH_NOTEBOOK = (
    "https://github.com/GoogleCloudPlatform/generative-ai/blob/main/gemini/batch-prediction/"
    "intro_batch_prediction.ipynb"
)
BATCH_QUOTAS_PAGE = "https://cloud.google.com/vertex-ai/generative-ai/docs/batch-prediction"
BATCH_INFERENCE_JA_PAGE = (
    "https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/capabilities/"
    "batch-inference?hl=ja"
)
IAM_PAGE = "https://cloud.google.com/vertex-ai/docs/general/iam-permissions"
JOB_STATE_REFERENCE = "https://cloud.google.com/vertex-ai/docs/reference/rest/v1/JobState"

# Batch requests for Gemini models cost 50% of the online price (BATCH_PAGE: "Batch
# processing is offered at a 50% discounted rate compared to real-time inference"); the
# cache discount does not stack with it (no image model here uses the cache).
BATCH_PRICE_FACTOR = 0.5

# Vertex's concurrency: an older page says 8 concurrent batch prediction jobs for Gemini
# models, more are queued (BATCH_QUOTAS_PAGE); the newer batch page says there are no
# predefined quota limits (BATCH_INFERENCE_JA_PAGE). Safe value: at most 8 of ours in flight
# at once (the rest wait in our own queue), which costs nothing where the limit is gone.
MAX_VERTEX_JOBS_IN_FLIGHT = 8

# Jobs "typically complete within 24 hours of starting" (BATCH_PAGE); a job may wait in
# Vertex's queue up to 72 hours and then expires (JOB_STATE_EXPIRED): the same batch
# service's page for embeddings says so, the Gemini page's "Quotas and limits" section could
# not be read in full. A batch of ours is given up after the sum plus a day
# (IMAGEGEN_BATCH_DEADLINE_SECONDS): Vertex ends its job itself before that.
DEFAULT_BATCH_DEADLINE_SECONDS = (72 + 24 + 24) * 3600

# Our own caps on one batch (IMAGEGEN_BATCH_MAX_ITEMS / _MAX_BYTES): far below what one
# Vertex job takes (hundreds of thousands of requests, BATCH_PAGE), so a batch always fits
# one Vertex job per model and location; the bytes are the HTTP API's own body limit.
DEFAULT_MAX_ITEMS = 10_000
# One line of a batch: a job request with gs:// references only (no inline image data).
MAX_LINE_BYTES = 64 * 1024


# --- the Vertex resource ------------------------------------------------------------------
# `projects.locations.batchPredictionJobs` (create, get, cancel, list): the JobState enum as
# google-cloud-aiplatform 2.7.0's aiplatform_v1 defines it (JOB_STATE_REFERENCE). A job ends
# in SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, CANCELLED or EXPIRED; CANCELLING goes on to one
# of them; completed rows of a failed, cancelled or expired job are still written to the
# output (BATCH_GCS_PAGE: "If the batch prediction job is terminated, all completed rows are
# exported"; BATCH_RESUME_PAGE: a new job can take the old output as its input).
TERMINAL_VERTEX_STATES = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
    }
)
RUNNING_VERTEX_STATES = frozenset({"JOB_STATE_RUNNING", "JOB_STATE_UPDATING"})

# No completion notification: the BatchPredictionJob resource has no notification field
# (aiplatform_v1.types.BatchPredictionJob) and the pages read follow a job by `get` only, so
# the scheduler's sweep polls each running job (services/batch_follow.py).

# Input: one JSONL file in Cloud Storage, each line `{"request": GenerateContentRequest}`
# (BATCH_GCS_PAGE). Output: under the job's output prefix Vertex makes a directory
# `prediction-model-<timestamp>/` (the job's `outputInfo.gcsOutputDirectory`) holding
# `predictions.jsonl`; each line is `{"status", "processed_time", "request", "response"}`,
# `status` empty on success and the error's text otherwise, `response` the
# GenerateContentResponse (BATCH_NOTEBOOK). Nothing says the lines keep the input's order or
# its extra fields, so each request carries its item's key in its own `labels`, which the
# output's echo of the request brings back.
INPUT_FORMAT = "jsonl"
OUTPUT_FORMAT = "jsonl"

# Who reads the input and writes the output: the AI Platform Service Agent
# (service-<project number>@gcp-sa-aiplatform.iam.gserviceaccount.com) must have access to
# the input file (BATCH_GCS_PAGE); the caller needs aiplatform.batchPredictionJobs.create,
# .get and .cancel (IAM_PAGE). The global endpoint serves base Gemini models for batch
# inference (tuned models excepted), without data residency (BATCH_GCS_PAGE,
# BATCH_INFERENCE_JA_PAGE).
