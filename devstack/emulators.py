"""Prerequisite checks and resource setup for the local emulators.

Nothing here starts a process; `devstack.stack` does that. This module answers "can the
emulators run on this machine?" and "create the topics, subscriptions and buckets".
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path

GCLOUD_INSTALL = "install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
JAVA_INSTALL = "the emulators need a Java 11+ runtime: apt-get install default-jre-headless"
COMPONENTS_INSTALL = (
    "gcloud components install pubsub-emulator cloud-firestore-emulator beta "
    "(or, for an apt-installed CLI: apt-get install google-cloud-cli-pubsub-emulator "
    "google-cloud-cli-firestore-emulator)"
)


class PrerequisiteError(RuntimeError):
    """A tool the local stack needs is missing; the message says how to install it."""


def _sdk_root(gcloud: str) -> Path | None:
    """The Cloud SDK install dir, found without running gcloud (fast), else by asking it."""
    real = Path(os.path.realpath(gcloud))
    # <sdk>/bin/gcloud (tarball and apt installs both resolve to this layout)
    candidate = real.parent.parent
    if (candidate / "lib" / "gcloud.py").exists():
        return candidate
    try:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(out) if out else None


def missing_components(sdk_root: Path) -> list[str]:
    """Names of the gcloud components the stack needs that are not installed under sdk_root."""
    wanted = {
        "pubsub-emulator": sdk_root
        / "platform"
        / "pubsub-emulator"
        / "bin"
        / "cloud-pubsub-emulator",
        "cloud-firestore-emulator": sdk_root
        / "platform"
        / "cloud-firestore-emulator"
        / "cloud-firestore-emulator.jar",
        "beta": sdk_root / "lib" / "surface" / "beta",
    }
    return [name for name, path in wanted.items() if not path.exists()]


def java_version() -> str | None:
    """The first line of `java -version`, or None when Java is missing or broken."""
    java = shutil.which("java")
    if java is None:
        return None
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    text = (proc.stderr or proc.stdout).strip().splitlines()
    return text[0] if text else "java"


def check_prerequisites(*, need_gcloud: bool = True, need_firestore: bool = True) -> None:
    """Raise PrerequisiteError naming the first missing piece and how to install it."""
    if not need_gcloud:
        return
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise PrerequisiteError(f"`gcloud` is not on PATH: {GCLOUD_INSTALL}")
    if java_version() is None:
        raise PrerequisiteError(f"`java -version` failed: {JAVA_INSTALL}")
    root = _sdk_root(gcloud)
    if root is None:
        raise PrerequisiteError(f"cannot find the Google Cloud SDK install dir: {GCLOUD_INSTALL}")
    missing = missing_components(root)
    if not need_firestore and "cloud-firestore-emulator" in missing:
        missing.remove("cloud-firestore-emulator")
    if missing:
        raise PrerequisiteError(
            f"gcloud components missing under {root}: {', '.join(missing)}; "
            f"install them: {COMPONENTS_INSTALL}"
        )


# -- Pub/Sub -------------------------------------------------------------------------------


def _pubsub_clients(host: str):
    """A publisher and a subscriber for the emulator at host (the environment restored)."""
    from google.cloud import pubsub_v1

    saved = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = host
    try:
        return pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    finally:
        if saved is None:
            os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        else:
            os.environ["PUBSUB_EMULATOR_HOST"] = saved


def _create_subscriptions(subscriber, requests: list[dict]) -> None:
    from google.api_core import exceptions

    for request in requests:
        with contextlib.suppress(exceptions.AlreadyExists):
            subscriber.create_subscription(request=request, timeout=10)


def setup_pubsub(
    *,
    host: str,
    project: str,
    jobs_topic: str,
    dead_letter_topic: str,
    generate_subscription: str,
    dead_letter_subscription: str,
    ack_deadline: int,
    max_delivery_attempts: int,
    min_backoff: float,
    max_backoff: float,
) -> None:
    """Create the topics and subscriptions (idempotent: existing ones are left alone)."""
    from google.api_core import exceptions
    from google.protobuf import duration_pb2
    from google.pubsub_v1.types import DeadLetterPolicy, RetryPolicy

    publisher, subscriber = _pubsub_clients(host)
    try:
        jobs = publisher.topic_path(project, jobs_topic)
        dead = publisher.topic_path(project, dead_letter_topic)
        for topic in (jobs, dead):
            with contextlib.suppress(exceptions.AlreadyExists):
                publisher.create_topic(name=topic, timeout=10)

        def duration(seconds: float) -> duration_pb2.Duration:
            whole = int(seconds)
            return duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))

        requests = [
            {
                "name": subscriber.subscription_path(project, generate_subscription),
                "topic": jobs,
                "ack_deadline_seconds": ack_deadline,
                "dead_letter_policy": DeadLetterPolicy(
                    dead_letter_topic=dead, max_delivery_attempts=max_delivery_attempts
                ),
                "retry_policy": RetryPolicy(
                    minimum_backoff=duration(min_backoff), maximum_backoff=duration(max_backoff)
                ),
            },
            {
                "name": subscriber.subscription_path(project, dead_letter_subscription),
                "topic": dead,
                "ack_deadline_seconds": ack_deadline,
            },
        ]
        _create_subscriptions(subscriber, requests)
    finally:
        subscriber.close()
        publisher.transport.close()


def setup_event_topics(
    *,
    host: str,
    project: str,
    ack_deadline: int,
    max_delivery_attempts: int,
    min_backoff: float,
    max_backoff: float,
    extra_subscriptions: tuple[str, ...] = (),
) -> None:
    """Issue 16: the `job-events` topic and the deliver_webhooks subscriptions, mirroring
    terraform/events.tf and webhooks.tf (idempotent). `extra_subscriptions` are plain pull
    subscriptions on job-events (tests read the events there)."""
    from google.api_core import exceptions
    from google.protobuf import duration_pb2
    from google.pubsub_v1.types import DeadLetterPolicy, RetryPolicy

    publisher, subscriber = _pubsub_clients(host)
    topic = {name: publisher.topic_path(project, name) for name in EVENT_TOPICS}
    try:
        for path in topic.values():
            with contextlib.suppress(exceptions.AlreadyExists):
                publisher.create_topic(name=path, timeout=10)
        pushed = {
            "deliver-webhooks": topic["job-events"],
            "webhook-retries": topic["webhook-retries"],
        }
        requests = [
            {
                "name": subscriber.subscription_path(project, name),
                "topic": source,
                "ack_deadline_seconds": ack_deadline,
                "dead_letter_policy": DeadLetterPolicy(
                    dead_letter_topic=topic["webhooks-dead-letter"],
                    max_delivery_attempts=max_delivery_attempts,
                ),
                "retry_policy": RetryPolicy(
                    minimum_backoff=duration_pb2.Duration(seconds=int(min_backoff)),
                    maximum_backoff=duration_pb2.Duration(seconds=int(max_backoff)),
                ),
            }
            for name, source in pushed.items()
        ]
        requests.append(
            {
                "name": subscriber.subscription_path(project, "webhooks-dead-letter"),
                "topic": topic["webhooks-dead-letter"],
                "ack_deadline_seconds": ack_deadline,
            }
        )
        for name in extra_subscriptions:
            requests.append(
                {
                    "name": subscriber.subscription_path(project, name),
                    "topic": topic["job-events"],
                    "ack_deadline_seconds": ack_deadline,
                }
            )
        _create_subscriptions(subscriber, requests)
    finally:
        subscriber.close()
        publisher.transport.close()


def pull_job_events(subscriber, subscription: str, job_id: str, quiet: float = 1.5) -> list:
    """Every job event (CloudEvent dict) for job_id on a pull subscription, acknowledged,
    read until nothing new has arrived for `quiet` seconds (tests and demos)."""
    import time

    found: list[dict] = []
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 100, "return_immediately": True},
            timeout=10,
        )
        if response.received_messages:
            ack_ids = [m.ack_id for m in response.received_messages]
            subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
        for message in response.received_messages:
            event = json.loads(message.message.data)
            if event.get("subject") == job_id:
                found.append(event)
                last = time.monotonic()
        time.sleep(0.1)
    return found


EVENT_TOPICS = ("job-events", "webhook-retries", "webhooks-dead-letter")
# relay subscription -> the topic named in the push URL path (functions-framework puts it
# in the CloudEvent source)
WEBHOOK_ROUTES = {"deliver-webhooks": "job-events", "webhook-retries": "webhook-retries"}


def webhook_secret(state_dir: Path) -> str:
    """The local stack's webhook signing secret (`whsec_` + base64 of 32 random bytes),
    made once per state dir so every process and `python -m devstack env` agree."""
    import base64
    import secrets

    path = state_dir / "webhook_secret"
    try:
        return path.read_text().strip()
    except OSError:
        pass
    state_dir.mkdir(parents=True, exist_ok=True)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    path.write_text(secret)
    path.chmod(0o600)
    return secret


# -- Cloud Storage --------------------------------------------------------------------------


def _http(method: str, url: str, body: Mapping | None = None, timeout: float = 5.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (local http)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
        return resp.status, resp.read()


def setup_buckets(*, endpoint: str, project: str, buckets: list[str]) -> None:
    """Create buckets in gcp-storage-emulator over its JSON API (409 = already there)."""
    for name in buckets:
        try:
            _http("POST", f"{endpoint}/storage/v1/b?project={project}", {"name": name})
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise RuntimeError(
                    f"storage emulator at {endpoint}: creating bucket {name!r} failed: "
                    f"HTTP {err.code} {err.read()[:200]!r}"
                ) from err


def setup_tasks(
    *,
    endpoint: str,
    project: str,
    location: str,
    queues: Mapping[str, float],
    target: str,
    concurrency: int,
    min_backoff: float,
    max_backoff: float,
    paused: bool = False,
) -> None:
    """Create the Cloud Tasks queues in the stand-in (devstack/tasks_standin.py), as
    terraform/tasks.tf makes them: `queues` maps a queue id to its dispatches a second; each
    sends its tasks to `target` (generate's URL, the queue-level http_target), at most
    `concurrency` at once, retried with backoff and never given up (the job's own attempt
    count and deadline end a job). Idempotent: an existing queue is updated. `paused`: the
    queues dispatch nothing (tests keep jobs queued there)."""
    from google.api_core import exceptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import tasks_v2
    from google.protobuf import duration_pb2

    def duration(seconds: float) -> duration_pb2.Duration:
        whole = int(seconds)
        return duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))

    client = tasks_v2.CloudTasksClient(
        transport="rest",
        client_options={"api_endpoint": endpoint},
        credentials=AnonymousCredentials(),
    )
    url = urllib.parse.urlsplit(target)
    parent = f"projects/{project}/locations/{location}"
    for queue_id, rate in queues.items():
        queue = tasks_v2.Queue(
            name=f"{parent}/queues/{queue_id}",
            rate_limits=tasks_v2.RateLimits(
                max_dispatches_per_second=rate, max_concurrent_dispatches=concurrency
            ),
            retry_config=tasks_v2.RetryConfig(
                max_attempts=-1,
                min_backoff=duration(min_backoff),
                max_backoff=duration(max_backoff),
                max_doublings=16,
            ),
            http_target=tasks_v2.HttpTarget(
                uri_override=tasks_v2.UriOverride(
                    scheme=tasks_v2.UriOverride.Scheme.HTTP,
                    host=url.hostname,
                    port=url.port,
                    path_override=tasks_v2.PathOverride(path=url.path or "/"),
                    uri_override_enforce_mode=tasks_v2.UriOverride.UriOverrideEnforceMode.ALWAYS,
                )
            ),
        )
        try:
            client.create_queue(parent=parent, queue=queue, timeout=10)
        except exceptions.Conflict:
            client.update_queue(queue=queue, timeout=10)
        if paused:
            client.pause_queue(name=queue.name, timeout=10)
