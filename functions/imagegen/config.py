"""Every setting, its environment variable and its default, in one place (pydantic-settings).

A field `name` is read from `IMAGEGEN_NAME`, the name Terraform gives it
(terraform/main.tf, studio.tf); the platform's own variables (GOOGLE_CLOUD_PROJECT,
LOG_LEVEL, K_SERVICE, FUNCTION_TARGET) are named by their alias. The
devstack sets the same variables for local processes. Nothing else in imagegen reads the
environment: entry points, logs, tracing and adapters get their values from this object
(the emulator hosts PUBSUB_, FIRESTORE_ and STORAGE_EMULATOR_HOST are read by Google's
client libraries themselves).

A value that cannot be read (a number that is not one, an unknown mode) fails when the
settings are loaded, at start, with the variable's name (ConfigError). A required setting
that is missing fails at its first use, also with the variable's name, not deep inside a
client library.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, field_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from imagegen.domain.batch_facts import (
    DEFAULT_BATCH_DEADLINE_SECONDS,
    DEFAULT_MAX_ITEMS,
    MAX_VERTEX_JOBS_IN_FLIGHT,
)
from imagegen.errors import ImagegenError

PREFIX = "IMAGEGEN_"


class ConfigError(ImagegenError):
    code = "misconfigured"


def _names(value: Any) -> Any:
    """A comma-separated list; blanks around and between items are dropped."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _members(value: Any) -> Any:
    """IAM members (`user:a@b`, `serviceAccount:c@d`) as their emails."""
    return [m.split(":", 1)[-1] for m in _names(value)]


def _number(value: Any) -> Any:
    """A number; an empty variable means the field's default."""
    if not isinstance(value, str):
        return value
    value = value.strip()
    if not value:
        raise PydanticUseDefault()
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None


def _whole(value: Any) -> Any:
    """A count: any number is accepted and its fraction dropped (`5.0` is 5)."""
    number = _number(value)
    try:
        return int(number) if isinstance(number, float) else number
    except OverflowError:
        raise ValueError(f"must be a number, got {value!r}") from None


def _flag(value: Any) -> Any:
    """On only when set to `1` (as Terraform and the devstack write it); else off."""
    return value.strip() == "1" if isinstance(value, str) else value


def _or_default(value: Any) -> Any:
    """An empty variable means the field's default."""
    if isinstance(value, str) and not value.strip():
        raise PydanticUseDefault()
    return value


Names = Annotated[list[str], NoDecode, BeforeValidator(_names)]
Number = Annotated[float, BeforeValidator(_number)]
Whole = Annotated[int, BeforeValidator(_whole)]
Flag = Annotated[bool, BeforeValidator(_flag)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, str_strip_whitespace=True)

    project: str = Field(
        "", validation_alias=AliasChoices("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
    )
    outputs_bucket: str = ""
    uploads_bucket: str = ""
    jobs_collection: str = "jobs"
    firestore_database: str = "(default)"
    api_url: str = ""  # the submit function's URL, for status links in upload answers
    # Vertex routing
    vertex_endpoint: str = ""  # set only for the local stand-in: "http://127.0.0.1:8090"
    allowed_locations: Names = Field(default_factory=list)  # empty: the catalog's
    default_location: str = ""  # empty: the model's own default
    fallback_locations: Names = Field(default_factory=list)
    reference_buckets: Names = Field(default_factory=list)
    retired_models: Literal["route", "refuse"] = "route"  # refuse: HTTP 400 naming the successor
    catalog_json: str = ""
    catalog_file: str = ""
    # worker timing
    lease_seconds: Number = 600.0
    call_budget_seconds: Number = 480.0
    job_deadline_seconds: Number = 86400.0
    requeue_after_seconds: Number = 600.0
    max_attempts: Whole = 5
    vertex_timeout_seconds: Number = 120.0
    # read back each output's C2PA Content Credentials and record them (issue 25); `0` turns
    # it off (the memory benchmark's same-run baseline; a switch if c2pa misbehaves)
    verify_content_credentials: Flag = True
    # spending and rate limits (0: none); see domain/quota.py
    usage_collection: str = "usage"
    caller_requests_per_minute: Whole = 0
    global_requests_per_minute: Whole = 0
    caller_usd_per_day: Number = 0.0
    global_usd_per_day: Number = 0.0
    # request limits
    max_body_bytes: Whole = 32 * 1024 * 1024
    # Vertex's own per-file limit for inline images (7 MB; docs/architecture.md, Facts)
    max_inline_image_bytes: Whole = 7 * 1024 * 1024
    max_json_depth: Whole = 32
    # callers (auth.py)
    trust_caller_header: Flag = False  # local stack only: X-Imagegen-Caller names the caller
    # emails that see every job (Terraform's admin_members: user:/serviceAccount: members)
    admin_members: Annotated[list[str], NoDecode, BeforeValidator(_members)] = Field(
        default_factory=list
    )
    auth_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    token_audiences: Names = Field(default_factory=list)  # empty: the request's own URL
    idempotency_collection: str = "idempotency"
    # seconds submit waits for the queue (Cloud Tasks) before answering 503 and withdrawing
    publish_timeout_seconds: Number = 3.0
    # issue 27: jobs wait for their turn in Cloud Tasks queues (adapters/queue_tasks.py);
    # Terraform makes one queue per paced model (terraform/tasks.tf) and names them here
    tasks_location: str = ""  # the queues' region (Terraform: var.region)
    tasks_queue: str = "imagegen-jobs"  # the queue of every model without one of its own
    tasks_queues: Names = Field(default_factory=list)  # model=queue, one per paced model
    # The URL a task names. A deployment's queues override it with generate's (their
    # http_target, terraform/tasks.tf: a function's URL cannot be given to the functions
    # made in the same resource), so only the local stack sets it.
    tasks_target_url: str = "https://generate.invalid/"
    tasks_endpoint: str = ""  # set only for the local stand-in: "http://127.0.0.1:8691"
    # results that reach people (issue 16): signed URLs, job events, webhooks
    url_signer: str = "iam"  # iam (signBlob as the function's account) | local | off
    signed_url_seconds: Number = 900.0  # at most 7 days
    signed_url_endpoint: str = "https://storage.googleapis.com"
    signer_email: str = ""  # empty: the function's own service account
    events_topic: str = "job-events"  # empty: publish no job events
    webhooks_collection: str = "webhook_deliveries"
    webhook_retry_topic: str = "webhook-retries"
    webhook_dead_letter_topic: str = "webhooks-dead-letter"
    webhook_secret: str = ""  # whsec_<base64>, from Secret Manager
    webhook_timeout_seconds: Number = 10.0
    webhook_min_backoff_seconds: Number = 30.0
    webhook_max_backoff_seconds: Number = 3600.0
    webhook_retry_window_seconds: Number = 86400.0
    webhook_allow_http: Flag = False  # the local stack only
    webhook_allowed_networks: Names = Field(default_factory=list)  # local: 127.0.0.1/32
    webhook_allowed_hosts: Names = Field(default_factory=list)  # empty: any public host
    # the studio (issue 21, studio/identity.py): who signs its users in
    studio_iap_audiences: Names = Field(default_factory=list)
    # empty: Google's IAP keys
    studio_iap_certs_url: Annotated[str, BeforeValidator(_or_default)] = (
        "https://www.gstatic.com/iap/verify/public_key"
    )
    studio_id_tokens: Flag = False  # the no-IAP fallback: Google ID tokens, as the API
    studio_local_identity: Flag = False  # local stack only: the user named on the page
    # the live catalog and the model lifecycle autopilot (issue 17)
    catalog_collection: str = "catalog"  # empty: no overlay (the code's table only)
    catalog_ttl_seconds: Number = 30.0  # how stale an instance's catalog may be (<= 60)
    model_check_location: str = "us-central1"  # where the daily check asks Model Garden
    # issue 18: pacing Vertex calls (0 = not paced) and sharded usage counters
    vertex_requests_per_minute: Number = 0.0
    vertex_quota_overrides: str = ""  # model@location=rpm,model=rpm
    limiter_collection: str = "vertex_slots"
    limiter_max_wait_seconds: Number = 5.0
    counter_shards: Whole = 1
    # issue 28: the synchronous front doors (Vertex's :generateContent and :predict, OpenAI's
    # Images API) wait this long for the job, then answer 504 with its id; the job goes on.
    # Generous enough for 4K with thinking; submit's Cloud Run timeout must be longer.
    sync_wait_seconds: Number = 300.0
    # issue 29: batches through Vertex AI batch prediction (domain/batch_facts.py)
    batches_collection: str = "batches"
    batch_max_items: Whole = DEFAULT_MAX_ITEMS  # request lines a batch may hold
    batch_max_bytes: Whole = 32 * 1024 * 1024  # a batch's body (the HTTP API's own limit)
    batch_deadline_seconds: Number = float(DEFAULT_BATCH_DEADLINE_SECONDS)
    batch_max_vertex_jobs: Whole = MAX_VERTEX_JOBS_IN_FLIGHT  # of this deployment at once
    # how long one sweep splits a Vertex output before it stops at a line boundary and
    # leaves the rest to the next sweep (the sweep function's timeout is longer: Terraform)
    batch_split_seconds: Number = 240.0
    # observability: where spans go (tracing.py) and how much is logged (logs.py)
    trace_exporter: str = "none"  # gcp | console | file:<path> | none
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    # what the platform says about this instance (Cloud Run / functions-framework)
    service_name: str = Field(
        "imagegen", validation_alias=AliasChoices("K_SERVICE", "FUNCTION_TARGET")
    )

    @field_validator("retired_models", mode="before")
    @classmethod
    def _retired(cls, value: Any) -> Any:
        value = value.strip() if isinstance(value, str) else value
        if value not in ("refuse", "route"):
            raise ValueError(f"must be refuse or route, got {value!r}")
        return value

    @field_validator("catalog_ttl_seconds")
    @classmethod
    def _ttl(cls, value: float) -> float:
        if not 0 <= value <= 60:
            raise ValueError(f"must be 0..60, got {value}")
        return value

    @field_validator("counter_shards")
    @classmethod
    def _shards(cls, value: int) -> int:
        return max(1, value)

    @field_validator("trace_exporter", mode="before")
    @classmethod
    def _exporter(cls, value: Any) -> Any:
        value = (value.strip() if isinstance(value, str) else value) or "none"
        if value not in ("gcp", "console", "none") and not str(value).startswith("file:"):
            raise ValueError(f"must be gcp, console, file:<path> or none, got {value!r}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        level = str(value).strip().upper()
        known = logging.getLevelNamesMapping()
        if level not in known:
            raise ValueError(f"must be one of {', '.join(known)}, got {value!r}")
        return level

    def require(self, name: str) -> str:
        """The value of a setting that this code path cannot do without."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(
                f"setting {name} is required: set the environment variable {env_name(name)}"
            )
        return value


def env_name(name: str) -> str:
    """The environment variable a setting is read from (its first alias, if it has one)."""
    field = Settings.model_fields.get(name)
    alias = field.validation_alias if field is not None else None
    if isinstance(alias, AliasChoices):
        alias = alias.choices[0]
    if isinstance(alias, str):
        return alias
    return f"{PREFIX}{name.upper()}" if field is not None else name


def load_settings() -> Settings:
    """Read the environment (every entry point, test and devstack process calls this)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError("; ".join(_reason(error) for error in exc.errors())) from None


def _reason(error: Any) -> str:
    """One bad setting, named by its variable: `IMAGEGEN_X must be ..., got ...`."""
    cause = error.get("ctx", {}).get("error")
    message = str(cause) if isinstance(cause, ValueError) else error["msg"]
    return f"{env_name(str(error['loc'][0]))} {message}"
