"""Wiring: build the adapters once per instance, lazily, from the settings.

Each entry point asks only for what it uses, so `submit` never constructs (or imports) the
Vertex client and `generate` never builds the HTTP routing. Tests build `Services` with
their own settings instead of patching anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from imagegen.config import Settings, load_settings
from imagegen.domain.catalog import Catalog, load_catalog
from imagegen.domain.quota import Limits
from imagegen.domain.request import Policy

if TYPE_CHECKING:
    from imagegen.adapters.jobs_firestore import JobStore
    from imagegen.adapters.queue_pubsub import JobQueue
    from imagegen.adapters.storage_gcs import Storage
    from imagegen.adapters.vertex import VertexClient
    from imagegen.auth import Authenticator


@dataclass
class Services:
    settings: Settings = field(default_factory=load_settings)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.settings.catalog_json, self.settings.catalog_file)

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
        )

    @cached_property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(
            caller_requests_per_minute=s.caller_requests_per_minute,
            global_requests_per_minute=s.global_requests_per_minute,
            caller_usd_per_day=s.caller_usd_per_day,
            global_usd_per_day=s.global_usd_per_day,
        )

    @cached_property
    def auth(self) -> Authenticator:
        from imagegen.auth import Authenticator

        s = self.settings
        return Authenticator(
            certs_url=s.auth_certs_url,
            audiences=tuple(s.token_audiences),
            admins=frozenset(s.admin_members),
            trust_caller_header=s.trust_caller_header,
        )

    @cached_property
    def jobs(self) -> JobStore:
        from imagegen.adapters.jobs_firestore import JobStore

        s = self.settings
        return JobStore.connect(
            s.require("project"),
            s.firestore_database,
            s.jobs_collection,
            s.usage_collection,
            s.idempotency_collection,
        )

    @cached_property
    def queue(self) -> JobQueue:
        from imagegen.adapters.queue_pubsub import JobQueue

        s = self.settings
        return JobQueue.connect(s.require("project"), s.jobs_topic, s.publish_timeout_seconds)

    @cached_property
    def storage(self) -> Storage:
        from imagegen.adapters.storage_gcs import Storage

        return Storage.connect(self.settings.require("project"))

    @cached_property
    def vertex(self) -> VertexClient:
        from imagegen.adapters.vertex import VertexClient

        s = self.settings
        return VertexClient(s.require("project"), s.vertex_endpoint, s.vertex_timeout_seconds)


_services: Services | None = None


def services() -> Services:
    """The instance-wide services, created on first use."""
    global _services
    if _services is None:
        _services = Services()
    return _services
