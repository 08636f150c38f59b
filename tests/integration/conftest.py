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
def idle_queue(stack, stack_env) -> str:
    """A paused Cloud Tasks queue of the stand-in: jobs queued there stay queued (for cancel
    and sweep tests)."""
    from devstack import emulators

    emulators.setup_tasks(
        endpoint=stack_env["IMAGEGEN_TASKS_ENDPOINT"],
        project=stack_env["GOOGLE_CLOUD_PROJECT"],
        location=stack_env["IMAGEGEN_TASKS_LOCATION"],
        queues={"idle-jobs": 1.0},
        target=stack_env["IMAGEGEN_TASKS_TARGET_URL"],
        concurrency=1,
        min_backoff=1.0,
        max_backoff=10.0,
        paused=True,
    )
    return "idle-jobs"
