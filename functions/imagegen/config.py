"""Every setting, its environment variable and its default, in one place.

Terraform sets these on the deployed functions (terraform/functions.tf); the devstack sets
them for local processes. A required setting that is missing fails at the first use with the
variable's name, not deep inside a client library.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache

from imagegen.errors import ImagegenError


class ConfigError(ImagegenError):
    code = "misconfigured"


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


@dataclass(frozen=True)
class Settings:
    project: str
    outputs_bucket: str
    uploads_bucket: str
    jobs_topic: str = "jobs"
    jobs_collection: str = "jobs"
    firestore_database: str = "(default)"
    api_url: str = ""  # the submit function's URL, for status links in upload answers
    # Vertex routing
    vertex_endpoint: str = ""  # set only for the local stand-in: "http://127.0.0.1:8090"
    allowed_locations: list[str] = field(default_factory=list)  # empty: the catalog's
    default_location: str = ""  # empty: the model's own default
    fallback_locations: list[str] = field(default_factory=list)
    reference_buckets: list[str] = field(default_factory=list)
    retired_models: str = "route"  # or "refuse" (HTTP 400 naming the replacement)
    catalog_json: str = ""
    catalog_file: str = ""
    # worker timing
    lease_seconds: float = 600.0
    call_budget_seconds: float = 480.0
    job_deadline_seconds: float = 86400.0
    requeue_after_seconds: float = 600.0
    max_attempts: int = 5
    vertex_timeout_seconds: float = 120.0
    # spending and rate limits (0: none); see domain/quota.py
    usage_collection: str = "usage"
    caller_requests_per_minute: int = 0
    global_requests_per_minute: int = 0
    caller_usd_per_day: float = 0.0
    global_usd_per_day: float = 0.0
    # request limits
    max_body_bytes: int = 32 * 1024 * 1024
    # Vertex's own per-file limit for inline images (7 MB; docs/architecture.md, Facts)
    max_inline_image_bytes: int = 7 * 1024 * 1024
    max_json_depth: int = 32
    # callers (auth.py)
    trust_caller_header: bool = False  # local stack only: X-Imagegen-Caller names the caller
    admin_members: list[str] = field(default_factory=list)  # emails that see every job
    auth_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    token_audiences: list[str] = field(default_factory=list)  # empty: the request's own URL
    idempotency_collection: str = "idempotency"
    # seconds submit waits for Pub/Sub before answering 503 (the sweeper uses its own)
    publish_timeout_seconds: float = 3.0
    # results that reach people (issue 16): signed URLs, job events, webhooks
    url_signer: str = "iam"  # iam (signBlob as the function's account) | local | off
    signed_url_seconds: float = 900.0  # at most 7 days
    signed_url_endpoint: str = "https://storage.googleapis.com"
    signer_email: str = ""  # empty: the function's own service account
    events_topic: str = "job-events"  # empty: publish no job events
    webhooks_collection: str = "webhook_deliveries"
    webhook_retry_topic: str = "webhook-retries"
    webhook_dead_letter_topic: str = "webhooks-dead-letter"
    webhook_secret: str = ""  # whsec_<base64>, from Secret Manager
    webhook_timeout_seconds: float = 10.0
    webhook_min_backoff_seconds: float = 30.0
    webhook_max_backoff_seconds: float = 3600.0
    webhook_retry_window_seconds: float = 86400.0
    webhook_allow_http: bool = False  # the local stack only
    webhook_allowed_networks: list[str] = field(default_factory=list)  # local: 127.0.0.1/32
    webhook_allowed_hosts: list[str] = field(default_factory=list)  # empty: any public host
    # the studio (issue 21, studio/identity.py): who signs its users in
    studio_iap_audiences: list[str] = field(default_factory=list)
    studio_iap_certs_url: str = "https://www.gstatic.com/iap/verify/public_key"
    studio_id_tokens: bool = False  # the no-IAP fallback: Google ID tokens, as the API
    studio_local_identity: bool = False  # local stack only: the user named on the page
    # the live catalog and the model lifecycle autopilot (issue 17)
    catalog_collection: str = "catalog"  # empty: no overlay (the code's table only)
    catalog_ttl_seconds: float = 30.0  # how stale an instance's catalog may be (<= 60)
    model_check_location: str = "us-central1"  # where the daily check asks Model Garden
    # issue 18: pacing Vertex calls (0 = not paced) and sharded usage counters
    vertex_requests_per_minute: float = 0.0
    vertex_quota_overrides: str = ""  # model@location=rpm,model=rpm
    limiter_collection: str = "vertex_slots"
    limiter_max_wait_seconds: float = 5.0
    counter_shards: int = 1

    def require(self, name: str) -> str:
        """The value of a setting that this code path cannot do without."""
        value = getattr(self, name)
        if not value:
            env = _ENV_NAMES.get(name, name.upper())
            raise ConfigError(f"setting {name} is required: set the environment variable {env}")
        return value


_ENV_NAMES = {
    "project": "GOOGLE_CLOUD_PROJECT",
    "outputs_bucket": "IMAGEGEN_OUTPUTS_BUCKET",
    "uploads_bucket": "IMAGEGEN_UPLOADS_BUCKET",
    "webhook_secret": "IMAGEGEN_WEBHOOK_SECRET",
}


def _float(name: str, default: float) -> float:
    value = _env(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {value!r}") from exc


def load_settings() -> Settings:
    """Read the environment (uncached: tests and the devstack call this directly)."""
    retired = _env("IMAGEGEN_RETIRED_MODELS", "route")
    if retired not in ("refuse", "route"):
        raise ConfigError(f"IMAGEGEN_RETIRED_MODELS must be refuse or route, got {retired!r}")
    return Settings(
        project=_env("GOOGLE_CLOUD_PROJECT") or _env("GCLOUD_PROJECT"),
        outputs_bucket=_env("IMAGEGEN_OUTPUTS_BUCKET"),
        uploads_bucket=_env("IMAGEGEN_UPLOADS_BUCKET"),
        jobs_topic=_env("IMAGEGEN_JOBS_TOPIC", "jobs"),
        jobs_collection=_env("IMAGEGEN_JOBS_COLLECTION", "jobs"),
        firestore_database=_env("IMAGEGEN_FIRESTORE_DATABASE", "(default)"),
        api_url=_env("IMAGEGEN_API_URL"),
        vertex_endpoint=_env("IMAGEGEN_VERTEX_ENDPOINT"),
        allowed_locations=_list(_env("IMAGEGEN_ALLOWED_LOCATIONS")),
        default_location=_env("IMAGEGEN_DEFAULT_LOCATION"),
        fallback_locations=_list(_env("IMAGEGEN_FALLBACK_LOCATIONS")),
        reference_buckets=_list(_env("IMAGEGEN_REFERENCE_BUCKETS")),
        retired_models=retired,
        catalog_json=_env("IMAGEGEN_CATALOG_JSON"),
        catalog_file=_env("IMAGEGEN_CATALOG_FILE"),
        lease_seconds=_float("IMAGEGEN_LEASE_SECONDS", 600.0),
        call_budget_seconds=_float("IMAGEGEN_CALL_BUDGET_SECONDS", 480.0),
        job_deadline_seconds=_float("IMAGEGEN_JOB_DEADLINE_SECONDS", 86400.0),
        requeue_after_seconds=_float("IMAGEGEN_REQUEUE_AFTER_SECONDS", 600.0),
        max_attempts=int(_float("IMAGEGEN_MAX_ATTEMPTS", 5)),
        vertex_timeout_seconds=_float("IMAGEGEN_VERTEX_TIMEOUT_SECONDS", 120.0),
        usage_collection=_env("IMAGEGEN_USAGE_COLLECTION", "usage"),
        caller_requests_per_minute=int(_float("IMAGEGEN_CALLER_REQUESTS_PER_MINUTE", 0)),
        global_requests_per_minute=int(_float("IMAGEGEN_GLOBAL_REQUESTS_PER_MINUTE", 0)),
        caller_usd_per_day=_float("IMAGEGEN_CALLER_USD_PER_DAY", 0.0),
        global_usd_per_day=_float("IMAGEGEN_GLOBAL_USD_PER_DAY", 0.0),
        max_body_bytes=int(_float("IMAGEGEN_MAX_BODY_BYTES", 32 * 1024 * 1024)),
        trust_caller_header=_env("IMAGEGEN_TRUST_CALLER_HEADER") == "1",
        admin_members=[m.split(":", 1)[-1] for m in _list(_env("IMAGEGEN_ADMIN_MEMBERS"))],
        auth_certs_url=_env(
            "IMAGEGEN_AUTH_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs"
        ),
        token_audiences=_list(_env("IMAGEGEN_TOKEN_AUDIENCES")),
        idempotency_collection=_env("IMAGEGEN_IDEMPOTENCY_COLLECTION", "idempotency"),
        publish_timeout_seconds=_float("IMAGEGEN_PUBLISH_TIMEOUT_SECONDS", 3.0),
        **_result_settings(),
        **_lifecycle_settings(),
        **_scale_settings(),
        **_studio_settings(),
    )


def _studio_settings() -> dict:
    """Who signs the studio's users in (issue 21)."""
    return {
        "studio_iap_audiences": _list(_env("IMAGEGEN_STUDIO_IAP_AUDIENCES")),
        # empty: Google's IAP keys (the field's default)
        "studio_iap_certs_url": _env("IMAGEGEN_STUDIO_IAP_CERTS_URL")
        or Settings.studio_iap_certs_url,
        "studio_id_tokens": _env("IMAGEGEN_STUDIO_ID_TOKENS") == "1",
        "studio_local_identity": _env("IMAGEGEN_STUDIO_LOCAL_IDENTITY") == "1",
    }


def _lifecycle_settings() -> dict:
    """The live catalog and the model lifecycle autopilot (issue 17)."""
    ttl = _float("IMAGEGEN_CATALOG_TTL_SECONDS", 30.0)
    if not 0 <= ttl <= 60:
        raise ConfigError(f"IMAGEGEN_CATALOG_TTL_SECONDS must be 0..60, got {ttl}")
    return {
        "catalog_collection": os.environ.get("IMAGEGEN_CATALOG_COLLECTION", "catalog").strip(),
        "catalog_ttl_seconds": ttl,
        "model_check_location": _env("IMAGEGEN_MODEL_CHECK_LOCATION", "us-central1"),
    }


def _scale_settings() -> dict:
    """Vertex pacing and counter shards (issue 18)."""
    return {
        "vertex_requests_per_minute": _float("IMAGEGEN_VERTEX_REQUESTS_PER_MINUTE", 0.0),
        "vertex_quota_overrides": _env("IMAGEGEN_VERTEX_QUOTA_OVERRIDES"),
        "limiter_collection": _env("IMAGEGEN_LIMITER_COLLECTION", "vertex_slots"),
        "limiter_max_wait_seconds": _float("IMAGEGEN_LIMITER_MAX_WAIT_SECONDS", 5.0),
        "counter_shards": max(1, int(_float("IMAGEGEN_COUNTER_SHARDS", 1))),
    }


def _result_settings() -> dict:
    """Signed URLs, job events and webhooks (issue 16)."""
    return {
        "url_signer": _env("IMAGEGEN_URL_SIGNER", "iam"),
        "signed_url_seconds": _float("IMAGEGEN_SIGNED_URL_SECONDS", 900.0),
        "signed_url_endpoint": _env(
            "IMAGEGEN_SIGNED_URL_ENDPOINT", "https://storage.googleapis.com"
        ),
        "signer_email": _env("IMAGEGEN_SIGNER_EMAIL"),
        "events_topic": os.environ.get("IMAGEGEN_EVENTS_TOPIC", "job-events").strip(),
        "webhook_retry_topic": _env("IMAGEGEN_WEBHOOK_RETRY_TOPIC", "webhook-retries"),
        "webhooks_collection": _env("IMAGEGEN_WEBHOOKS_COLLECTION", "webhook_deliveries"),
        "webhook_dead_letter_topic": _env(
            "IMAGEGEN_WEBHOOK_DEAD_LETTER_TOPIC", "webhooks-dead-letter"
        ),
        "webhook_secret": _env("IMAGEGEN_WEBHOOK_SECRET"),
        "webhook_timeout_seconds": _float("IMAGEGEN_WEBHOOK_TIMEOUT_SECONDS", 10.0),
        "webhook_min_backoff_seconds": _float("IMAGEGEN_WEBHOOK_MIN_BACKOFF_SECONDS", 30.0),
        "webhook_max_backoff_seconds": _float("IMAGEGEN_WEBHOOK_MAX_BACKOFF_SECONDS", 3600.0),
        "webhook_retry_window_seconds": _float("IMAGEGEN_WEBHOOK_RETRY_WINDOW_SECONDS", 86400.0),
        "webhook_allow_http": _env("IMAGEGEN_WEBHOOK_ALLOW_HTTP") == "1",
        "webhook_allowed_networks": _list(_env("IMAGEGEN_WEBHOOK_ALLOWED_NETWORKS")),
        "webhook_allowed_hosts": _list(_env("IMAGEGEN_WEBHOOK_ALLOWED_HOSTS")),
    }


@cache
def settings() -> Settings:
    """The settings of this instance, read once."""
    return load_settings()
