"""Batch faults on the local stack (issue 29): the sweep's process killed (SIGKILL) while it
splits a Vertex batch output into items. The next sweep reads the output again and ends the
rest: every item ends exactly once — one index entry, one job record, one stored image each,
none lost. (The batch job failing whole or midway and a truncated output line are driven
through the same stand-in in tests/integration/test_batches.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from imagegen_client.client import Client

pytestmark = pytest.mark.stack
ITEMS = 12

# The sweep as Cloud Scheduler runs it, in a process of its own, each item's end slowed
# down (in this child only) so that the kill lands in the middle of the split.
CHILD = textwrap.dedent(
    """
    import time
    from imagegen.bootstrap import Services
    from imagegen.services import batch_results, upkeep

    real = batch_results.end_item

    def slow(*args):
        ended = real(*args)
        time.sleep(0.3)
        return ended

    batch_results.end_item = slow
    services = Services()
    while True:
        upkeep.sweep(services)
        time.sleep(0.2)
    """
)


def test_a_sweep_killed_while_splitting_ends_every_item_exactly_once(
    stack, stack_env, api_url, unique
):
    from google.cloud.firestore_v1.base_query import FieldFilter

    from imagegen.bootstrap import Services
    from imagegen.config import load_settings
    from imagegen.services.upkeep import sweep

    client = Client(api_url, caller=f"kill-{unique}")
    batch_id = client.submit_batch([{"prompt": f"{unique} item {n}"} for n in range(ITEMS)])["id"]
    services = Services(load_settings())
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=stack.config.root / "functions",
        env={**os.environ, **stack_env, "PYTHONPATH": str(stack.config.root / "functions")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 120
        while len(services.batches.ended_lines(batch_id)) < 3:
            assert time.monotonic() < end and child.poll() is None, "the split never started"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    killed_at = len(services.batches.ended_lines(batch_id))
    assert 3 <= killed_at < ITEMS, "the kill came too late to land mid-split"

    end = time.monotonic() + 120
    while services.batches.get(batch_id).state != "succeeded":
        assert time.monotonic() < end, services.batches.get(batch_id)
        sweep(services)
        time.sleep(0.3)
    batch = client.batch(batch_id, limit=1000)
    assert batch["counts"]["succeeded"] == ITEMS and batch["counts"]["pending"] == 0
    assert sorted(i["line"] for i in batch["items"]) == list(range(1, ITEMS + 1))
    jobs = services.firestore.collection(services.settings.jobs_collection)
    records = list(jobs.where(filter=FieldFilter("batch_id", "==", batch_id)).stream())
    assert len(records) == ITEMS  # one job record an item
    storage = services.storage
    bucket = services.settings.outputs_bucket
    for item in batch["items"]:
        stored = storage.list(f"gs://{bucket}/jobs/{item['job_id']}/")
        assert stored == item["outputs"] and len(stored) == 1  # one image, never a second
