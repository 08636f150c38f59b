"""Test tiers: tests/unit (pure, no I/O), tests/integration (real emulators, in-process
services), tests/e2e and tests/faults (the whole local stack over HTTP). The stack is started
once per session by the first test that needs it, and stopped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
TEST_SETTINGS = {
    "IMAGEGEN_LEASE_SECONDS": "12",
    "IMAGEGEN_CALL_BUDGET_SECONDS": "8",
    "IMAGEGEN_REQUEUE_AFTER_SECONDS": "5",
    "IMAGEGEN_TRUST_CALLER_HEADER": "1",
    # the live catalog (issue 17): a short TTL, and one admin for `imagegen catalog`
    "IMAGEGEN_CATALOG_TTL_SECONDS": "2",
    "IMAGEGEN_ADMIN_MEMBERS": "user:catalog-admin@example.com",
}


# `make test` runs the suite in two parts side by side (scripts/test_parts.py): the tests
# that need no local stack in these folders (CPU-bound: terraform, checkov, pure logic)
# beside the tests that share the one session stack (mostly waiting on it).
BESIDE_THE_STACK = ("unit", "terraform")


def _beside_the_stack(item: pytest.Item) -> bool:
    folder = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests").parts[0]
    return folder in BESIDE_THE_STACK and "stack" not in item.fixturenames


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that uses the session stack, however indirectly, carries the `stack`
    mark; with IMAGEGEN_TEST_PART=beside|stack only that part of the suite runs (the two
    parts are exact complements, so together they are the whole suite)."""
    for item in items:
        if "stack" in item.fixturenames:
            item.add_marker(pytest.mark.stack)
    part = os.environ.get("IMAGEGEN_TEST_PART")
    if not part:
        return
    if part not in ("beside", "stack"):
        raise pytest.UsageError(f"IMAGEGEN_TEST_PART={part!r}: beside or stack")
    wanted = part == "beside"
    keep = [item for item in items if _beside_the_stack(item) == wanted]
    dropped = [item for item in items if _beside_the_stack(item) != wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


@pytest.fixture(scope="session")
def stack() -> Iterator[object]:
    """The local stack (emulators, Vertex stand-in, functions, relay), up for the session."""
    from devstack.stack import Stack, StackConfig

    # Short leases and budgets so the fault tests see expiries and hand-backs in seconds.
    for name, value in TEST_SETTINGS.items():
        os.environ.setdefault(name, value)
    config = StackConfig.from_env(root=ROOT)
    running = Stack(config)
    running.up()
    previous = dict(os.environ)
    os.environ.update(running.env())
    try:
        yield running
    finally:
        os.environ.clear()
        os.environ.update(previous)
        running.down()


@pytest.fixture(scope="session")
def stack_env(stack) -> dict[str, str]:
    return stack.env()


@pytest.fixture(scope="session")
def api_url(stack_env) -> str:
    return stack_env["IMAGEGEN_API_URL"]


@pytest.fixture(scope="session")
def vertex_url(stack_env) -> str:
    return stack_env["IMAGEGEN_VERTEX_ENDPOINT"]


@pytest.fixture
def unique() -> str:
    """A tag that keeps one test's prompts (and stand-in fault counters) apart."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="session")
def openapi_schema(http, api_url):
    """`openapi_schema("Job")`: a jsonschema validator (Draft 2020-12, OpenAPI 3.1's dialect)
    for one component of the running API's own OpenAPI document, `$ref`s resolved in it."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    base = "urn:imagegen-openapi"
    doc = http.get(f"{api_url}/v1/openapi.json", timeout=5).json()
    registry = Registry().with_resource(
        base, Resource.from_contents(doc, default_specification=DRAFT202012)
    )

    def validator(pointer: str) -> Draft202012Validator:
        """A component's name ("Job") or a `#/...` pointer into the document."""
        ref = pointer if pointer.startswith("#") else f"#/components/schemas/{pointer}"
        return Draft202012Validator({"$ref": f"{base}{ref}"}, registry=registry)

    validator.doc = doc
    return validator


@pytest.fixture
def event_tap(stack, stack_env):
    """A pull subscription on job-events (made before what it watches, so it sees every
    event): `(subscriber, subscription path)` for `devstack.emulators.pull_job_events`."""
    from google.cloud import pubsub_v1

    from devstack import emulators

    name = "job-events-e2e-tap"
    emulators.setup_event_topics(
        host=stack_env["PUBSUB_EMULATOR_HOST"],
        project=stack_env["GOOGLE_CLOUD_PROJECT"],
        ack_deadline=60,
        max_delivery_attempts=5,
        min_backoff=1,
        max_backoff=10,
        extra_subscriptions=(name,),
    )
    subscriber = pubsub_v1.SubscriberClient()
    return subscriber, subscriber.subscription_path(stack_env["GOOGLE_CLOUD_PROJECT"], name)


@pytest.fixture(scope="session")
def model_retired_lines(stack_env):
    """`model_retired_lines(model)`: every `model_retired` log line of every function of
    the stack for that model (the lifecycle autopilot writes one per retirement)."""
    import json

    def lines(model: str) -> list[dict]:
        out = []
        for path in (Path(stack_env["DEVSTACK_STATE_DIR"]) / "logs").glob("*.log"):
            for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if '"model_retired"' not in raw:
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("code") == "model_retired" and line.get("model") == model:
                    out.append(line)
        return out

    return lines
