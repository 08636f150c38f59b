"""Wiring: build the adapters once per instance, lazily, from the settings.

`Services` hands each one out typed by its port (imagegen/ports.py), so the services depend
on the ports only; the concrete adapters are imported here, inside the property that builds
them, and nowhere else in the service layer.

Each entry point asks only for what it uses, so `submit` never constructs (or imports) the
Vertex client and `generate` never builds the HTTP routing. That is why the adapters are
imported inside their properties: each pulls in a Google client library that costs a cold
start 0.27 s (firestore) to 0.6 s and more (aiplatform_v1), measured with
`python -X importtime` (docs/architecture.md, "Facts": import times). Tests build `Services` with
their own settings instead of patching anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from imagegen import ports
from imagegen.auth import Authenticator
from imagegen.config import Settings, load_settings
from imagegen.domain.batch_request import BatchLimits
from imagegen.domain.catalog import Catalog, load_catalog
from imagegen.domain.limiter import QuotaTable
from imagegen.domain.quota import Limits
from imagegen.domain.request import Policy
from imagegen.domain.webhooks import RetryPolicy
from imagegen.netguard import Guard
from imagegen.services.job_events import announce
from imagegen.services.live_catalog import LiveCatalog


@dataclass
class Services:
    settings: Settings = field(default_factory=load_settings)

    @cached_property
    def base_catalog(self) -> Catalog:
        """The code's table plus the deployment's env overrides (no overlay)."""
        return load_catalog(self.settings.catalog_json, self.settings.catalog_file)

    @property
    def catalog(self) -> Catalog:
        """The live catalog: base + the Firestore overlay, re-read every TTL (issue 17)."""
        return self.live_catalog.current()

    @cached_property
    def live_catalog(self) -> LiveCatalog:

        s = self.settings
        store = self.catalog_store if s.project and s.catalog_collection else None
        return LiveCatalog(self.base_catalog, store, s.catalog_ttl_seconds)

    @cached_property
    def catalog_store(self) -> ports.CatalogStore:
        from imagegen.adapters.catalog_firestore import CatalogStore

        return CatalogStore(self.firestore, self.settings.catalog_collection)

    @cached_property
    def model_garden(self) -> ports.ModelRegistry:
        from imagegen.adapters.model_garden import ModelGarden

        s = self.settings
        return ModelGarden(s.vertex_endpoint, s.vertex_timeout_seconds)

    @cached_property
    def policy(self) -> Policy:
        s = self.settings
        buckets = tuple(dict.fromkeys([*s.reference_buckets, *filter(None, [s.uploads_bucket])]))
        return Policy(
            allowed_locations=tuple(s.allowed_locations),
            default_location=s.default_location,
            reference_buckets=buckets,
            retired_models=s.retired_models,
            max_inline_image_bytes=s.max_inline_image_bytes,
            webhook_http=s.webhook_allow_http,
            webhook_hosts=tuple(h.lower() for h in s.webhook_allowed_hosts),
        )

    @cached_property
    def limits(self) -> Limits:
        """The spending and rate limits: each setting has its Limits field's name."""
        names = [f.name for f in dataclasses.fields(Limits)]
        return Limits(**{name: getattr(self.settings, name) for name in names})

    @cached_property
    def auth(self) -> Authenticator:

        s = self.settings
        return Authenticator(
            certs_url=s.auth_certs_url,
            audiences=tuple(s.token_audiences),
            admins=frozenset(s.admin_members),
            trust_caller_header=s.trust_caller_header,
        )

    # --- the client the Firestore adapters share -----------------------------------------
    # One Firestore client an instance: each client resolves credentials, fetches its own
    # token and opens its own channel, so one per adapter (jobs, event log, catalog,
    # limiter) multiplied that work on every cold start. Google's clients are safe to
    # share between threads. The job queue and the event topics keep a publisher each, as
    # before: sharing one made the events' publishes wait on the queue's dead channel in
    # the Pub/Sub outage test (tests/hostile/test_job_life.py), past its bound.

    @cached_property
    def firestore(self) -> Any:
        from google.cloud import firestore

        s = self.settings
        return firestore.Client(project=s.require("project"), database=s.firestore_database)

    @cached_property
    def jobs(self) -> ports.JobStore:
        from imagegen.adapters.jobs_firestore import JobStore

        s = self.settings
        store = JobStore(
            self.firestore, s.jobs_collection, s.usage_collection, s.idempotency_collection
        )
        store.counters.shards = s.counter_shards  # issue 18: sharded usage counters
        if s.events_topic:
            store.announcer = lambda job, entry: announce(self, job, entry)
        return store

    @cached_property
    def queue(self) -> ports.JobQueue:
        from imagegen.adapters.queue_tasks import TaskQueue

        s = self.settings
        return TaskQueue.connect(
            s.require("project"),
            s.require("tasks_location"),
            s.tasks_queue,
            s.tasks_queues,
            target_url=s.tasks_target_url,
            endpoint=s.tasks_endpoint,
            timeout=s.publish_timeout_seconds,
        )

    @cached_property
    def storage(self) -> ports.ObjectStore:
        from imagegen.adapters.storage_gcs import Storage

        return Storage.connect(self.settings.require("project"))

    @cached_property
    def vertex(self) -> ports.ImageModel:
        from imagegen.adapters.vertex import VertexClient

        s = self.settings
        return VertexClient(s.require("project"), s.vertex_endpoint, s.vertex_timeout_seconds)

    # --- batches through Vertex AI batch prediction (issue 29) ---------------------------

    @cached_property
    def batches(self) -> ports.BatchStore:
        from imagegen.adapters.batches_firestore import BatchStore
        from imagegen.adapters.usage_counters import UsageCounters

        s = self.settings
        # the job store's own counters: a batch's estimate counts against the same budgets
        counters = UsageCounters(self.firestore, s.usage_collection, s.counter_shards)
        return BatchStore(
            self.firestore,
            s.batches_collection,
            s.jobs_collection,
            s.idempotency_collection,
            counters,
        )

    @cached_property
    def vertex_batch(self) -> ports.BatchModel:
        from imagegen.adapters.vertex_batch import VertexBatches

        s = self.settings
        return VertexBatches(s.require("project"), s.vertex_endpoint, s.vertex_timeout_seconds)

    @cached_property
    def batch_input(self) -> ports.BatchInput:
        from imagegen.adapters.vertex_batch_input import VertexBatchInput

        return VertexBatchInput()

    @cached_property
    def batch_limits(self) -> BatchLimits:
        s = self.settings
        return BatchLimits(s.batch_max_items, s.batch_max_bytes, max_depth=s.max_json_depth)

    @cached_property
    def limiter(self) -> ports.Limiter | None:
        """The shared Vertex call limiter (issue 18), or None when no quota is set."""

        s = self.settings
        quotas = QuotaTable.parse(s.vertex_requests_per_minute, s.vertex_quota_overrides)
        if not quotas.default_per_minute and not quotas.overrides:
            return None
        from imagegen.adapters.limiter_firestore import FirestoreLimiter

        return FirestoreLimiter(self.firestore, s.limiter_collection, quotas)

    # --- results that reach people (issue 16) ------------------------------------------

    def _topic(self, name: str) -> ports.EventTopic:
        from imagegen.adapters.events_pubsub import EventTopic

        return EventTopic.connect(self.settings.require("project"), name)

    @cached_property
    def event_topic(self) -> ports.EventTopic:
        return self._topic(self.settings.events_topic)

    @cached_property
    def webhook_retries(self) -> ports.EventTopic:
        return self._topic(self.settings.webhook_retry_topic)

    @cached_property
    def webhook_dead_letters(self) -> ports.EventTopic:
        return self._topic(self.settings.webhook_dead_letter_topic)

    @cached_property
    def event_log(self) -> ports.EventLog:
        from imagegen.adapters.events_firestore import EventLog

        s = self.settings
        return EventLog(self.firestore, s.jobs_collection, s.webhooks_collection)

    @cached_property
    def signer(self) -> ports.Signer:
        from imagegen.adapters.signer import UrlSigner

        s = self.settings
        return UrlSigner(
            s.require("project"),
            s.url_signer,
            s.signed_url_seconds,
            s.signed_url_endpoint,
            s.signer_email,
        )

    @cached_property
    def guard(self) -> Guard:

        s = self.settings
        return Guard.from_settings(
            s.webhook_allow_http, s.webhook_allowed_networks, s.webhook_allowed_hosts
        )

    @cached_property
    def webhook_policy(self) -> RetryPolicy:

        s = self.settings
        return RetryPolicy(
            min_backoff=s.webhook_min_backoff_seconds,
            max_backoff=s.webhook_max_backoff_seconds,
            window=s.webhook_retry_window_seconds,
            lease=s.webhook_timeout_seconds + 50.0,
        )


_services: Services | None = None


def services() -> Services:
    """The instance-wide services, created on first use."""
    global _services
    if _services is None:
        _services = Services()
    return _services
