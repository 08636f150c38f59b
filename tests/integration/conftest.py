from __future__ import annotations

import pytest

from imagegen.bootstrap import Services
from imagegen.config import load_settings


@pytest.fixture(scope="session")
def make_services(stack):
    """Services wired to the emulators, with any setting overridden for one test."""

    def make(**overrides) -> Services:
        return Services(load_settings().model_copy(update=overrides))

    return make


@pytest.fixture(scope="session")
def idle_topic(stack, stack_env) -> str:
    """A topic nobody consumes: jobs queued there stay queued (for cancel and sweep tests)."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    path = publisher.topic_path(stack_env["GOOGLE_CLOUD_PROJECT"], "idle-jobs")
    try:
        publisher.create_topic(name=path)
    except Exception as exc:  # AlreadyExists on a reused emulator
        if "AlreadyExists" not in type(exc).__name__ and "409" not in str(exc):
            raise
    return "idle-jobs"
