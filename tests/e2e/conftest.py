"""What the end-to-end tests of batches share (issue 29)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

BATCH_ENDED = {"succeeded", "partially_succeeded", "failed", "cancelled"}


@pytest.fixture
def sweep_until_ended(stack_env) -> Callable[..., dict]:
    """`sweep_until_ended(read)`: run the scheduler's sweep (in the test's process, with the
    stack's settings, as Cloud Scheduler would call it) until `read()` (the batch, as its
    caller reads it over HTTP) says it has ended; returns that last read."""
    from imagegen.bootstrap import Services
    from imagegen.config import load_settings
    from imagegen.services.upkeep import sweep

    services = Services(load_settings())

    def run(read: Callable[[], dict], timeout: float = 120) -> dict:
        end = time.monotonic() + timeout
        while True:
            sweep(services)
            batch = read()
            if batch["state"] in BATCH_ENDED:
                return batch
            assert time.monotonic() < end, batch
            time.sleep(0.5)

    return run
