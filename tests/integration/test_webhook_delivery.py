"""Issue 16 against the real emulators and real sockets: webhook retries until success or
dead letter (recorded on the job), SSRF refusals including a redirect to a private address,
signed URLs that download without credentials, and the job-event outbox recovering from a
lost publish (exactly one event per transition)."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

import pytest
import requests

from devstack.emulators import pull_job_events
from devstack.webhook_receiver import Receiver
from imagegen.domain.job import utcnow
from imagegen.services import job_events, webhooks
from imagegen.services.submission import submit
from imagegen_client.client import verify_webhook

pytestmark = pytest.mark.stack


@pytest.fixture
def receiver_factory() -> Iterator:
    made: list[Receiver] = []

    def make(statuses: list[int], location: str | None = None) -> Receiver:
        made.append(Receiver(statuses, location))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def _services(make_services, **overrides):
    # These tests call deliver/handle_event themselves (the stack's own deliver_webhooks
    # would race them), so events go to a tap topic and jobs to a paused queue.
    defaults = {
        "tasks_queue": "idle-jobs",
        "events_topic": "job-events-tap",
        "webhook_min_backoff_seconds": 0.2,
        "webhook_max_backoff_seconds": 0.4,
    }
    return make_services(**{**defaults, **overrides})


@pytest.fixture(autouse=True)
def _idle(idle_queue):
    """Jobs made here stay queued (the idle queue is paused)."""


@pytest.fixture(scope="module")
def tap(stack_env):
    """The `job-events-tap` topic with a pull subscription: what tests publish there."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1

    project = stack_env["GOOGLE_CLOUD_PROJECT"]
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(project, "job-events-tap")
    sub = subscriber.subscription_path(project, "job-events-tap-pull")
    with contextlib.suppress(exceptions.AlreadyExists):
        publisher.create_topic(name=topic)
    with contextlib.suppress(exceptions.AlreadyExists):
        subscriber.create_subscription(name=sub, topic=topic)
    return subscriber, sub


pull_events = pull_job_events


def _job_with_webhook(services, url: str, events: list[str] | None = None) -> str:
    webhook = {"url": url, **({"events": events} if events else {})}
    return submit(services, {"prompt": "a teapot", "webhook": webhook}).job.id


def _event(services, job_id: str, state: str) -> dict:
    """The job's CloudEvent for `state`, as job-events would carry it."""
    from imagegen.domain.job_events import cloud_event
    from imagegen.domain.job_values import PendingEvent

    job = services.jobs.require(job_id)
    return cloud_event(
        job, PendingEvent(id=f"{job_id}-9", state=state, time=job.created_at), "test"
    )


def test_retry_then_success_is_recorded_on_the_job(make_services, receiver_factory, stack_env):
    services = _services(make_services)
    receiver = receiver_factory([500, 503, 200])
    job_id = _job_with_webhook(services, receiver.url, ["queued"])
    event = _event(services, job_id, "queued")
    outcomes = []
    for _ in range(30):
        outcomes.append(webhooks.handle_event(services, event))
        if outcomes[-1] == "delivered":
            break
        time.sleep(0.25)
    assert outcomes[-1] == "delivered", outcomes
    # duplicates after the success send nothing
    assert webhooks.handle_event(services, event) == "delivered"
    assert len(receiver.requests) == 3
    delivery = services.jobs.require(job_id).webhook_deliveries[event["id"]]
    assert [a.status for a in delivery.attempts] == [500, 503, 200]
    assert all(isinstance(a.at, dt.datetime) for a in delivery.attempts)
    headers, body = receiver.requests[-1]
    verified = verify_webhook(body, headers, stack_env["IMAGEGEN_WEBHOOK_SECRET"])
    assert verified["id"] == event["id"] == headers["webhook-id"]
    # the same webhook-id on every attempt: receivers dedupe on it
    assert {h["webhook-id"] for h, _ in receiver.requests} == {event["id"]}


def test_retry_until_dead_letter(make_services, receiver_factory, stack_env):
    from google.cloud import pubsub_v1

    services = _services(make_services, webhook_retry_window_seconds=1.0)
    receiver = receiver_factory([503])
    job_id = _job_with_webhook(services, receiver.url, ["queued"])
    event = _event(services, job_id, "queued")
    deadline = time.monotonic() + 20
    outcome = None
    while time.monotonic() < deadline:
        outcome = webhooks.handle_event(services, event)
        if outcome == "dead_lettered":
            break
        time.sleep(0.2)
    assert outcome == "dead_lettered"
    delivery = services.jobs.require(job_id).webhook_deliveries[event["id"]]
    assert delivery.status == "dead_lettered" and len(delivery.attempts) >= 2
    assert all(a.status == 503 for a in delivery.attempts)
    assert webhooks.handle_event(services, event) == "dead_lettered"  # and stays so
    subscriber = pubsub_v1.SubscriberClient()
    sub = subscriber.subscription_path(stack_env["GOOGLE_CLOUD_PROJECT"], "webhooks-dead-letter")
    assert [e["id"] for e in pull_events(subscriber, sub, job_id)] == [event["id"]]


def test_sweeper_queues_due_retries(make_services, receiver_factory, tap):
    """The schedule lives on the job; the sweeper re-publishes due deliveries to
    webhook-retries (here pointed at the tap topic so the test can read them)."""
    services = _services(make_services, webhook_retry_topic="job-events-tap")
    receiver = receiver_factory([500])
    job_id = _job_with_webhook(services, receiver.url, ["queued"])
    event = _event(services, job_id, "queued")
    assert webhooks.handle_event(services, event) == "pending"
    pull_events(*tap, job_id, quiet=0.5)  # drop the job's own events
    time.sleep(0.5)
    counts = webhooks.republish_due(services, dt.datetime.now(dt.UTC))
    assert counts["webhook_retries"] >= 1
    assert [e["id"] for e in pull_events(*tap, job_id)] == [event["id"]]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.7/hook",
        "https://127.0.0.1/hook",
        "https://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://[fd00::1]/hook",
        "https://100.64.0.9/hook",
    ],
)
def test_ssrf_targets_are_refused_and_recorded(make_services, url):
    services = _services(make_services, webhook_allow_http=False, webhook_allowed_networks=[])
    job_id = _job_with_webhook(services, url, ["queued"])
    event = _event(services, job_id, "queued")
    assert webhooks.handle_event(services, event) == "failed"
    delivery = services.jobs.require(job_id).webhook_deliveries[event["id"]]
    assert delivery.attempts[0].status is None
    assert "refused" in delivery.attempts[0].error


def test_plain_http_webhook_is_refused_at_submit(make_services):
    from imagegen.errors import InvalidRequest

    services = _services(make_services, webhook_allow_http=False, webhook_allowed_networks=[])
    with pytest.raises(InvalidRequest) as refused:
        _job_with_webhook(services, "http://example.com/hook", ["queued"])
    assert refused.value.details == [{"field": "webhook.url", "message": "must be an https:// URL"}]


def test_redirect_to_a_private_address_is_not_followed(make_services, receiver_factory):
    inner = receiver_factory([200])
    # the public-looking endpoint redirects to the metadata server and to another local
    # service; neither is ever contacted
    outer = receiver_factory([307], location=inner.url)
    services = _services(make_services)
    job_id = _job_with_webhook(services, outer.url, ["queued"])
    event = _event(services, job_id, "queued")
    assert webhooks.handle_event(services, event) == "failed"
    assert len(outer.requests) == 1 and inner.requests == []
    attempt = services.jobs.require(job_id).webhook_deliveries[event["id"]].attempts[0]
    assert attempt.status == 307 and "not followed" in attempt.error


def test_lost_publish_is_recovered_once_by_the_sweeper(make_services, tap):
    """The crash window: the transition committed, its publish failed. The outbox entry
    stays on the job; the sweeper publishes it once, with the id fixed at commit."""
    broken = _services(make_services, events_topic="no-such-topic")
    job_id = submit(broken, {"prompt": "a kettle"}).job.id
    assert broken.jobs.transact(job_id, lambda job: job.cancel(utcnow())).after.state == "cancelled"
    pending = broken.jobs.require(job_id).pending_events
    assert [e.state for e in pending] == ["queued", "cancelled"]
    services = _services(make_services)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    first = job_events.republish_pending(services, later)
    again = job_events.republish_pending(services, later)
    assert first["events_republished"] >= 2 and again["events_republished"] == 0
    stored = services.jobs.require(job_id)
    assert stored.pending_events == [] and stored.events_pending is False  # settled
    events = pull_events(*tap, job_id)
    assert [e["id"] for e in events] == [f"{job_id}-1", f"{job_id}-2"]
    assert [e["type"].rsplit(".", 1)[1] for e in events] == ["queued", "cancelled"]


def test_signed_url_downloads_without_credentials(make_services, stack_env):
    services = _services(make_services)
    uri = services.storage.write(
        stack_env["IMAGEGEN_OUTPUTS_BUCKET"],
        "jobs/signed-test/0.png",
        b"\x89PNG-bytes",
        "image/png",
    )
    url, expires = services.signer.sign(uri)
    assert "X-Goog-Signature=" in url and "X-Goog-Expires=900" in url
    assert dt.timedelta(minutes=14) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=15)
    response = requests.get(url, timeout=10)  # no Authorization header, no client library
    assert response.status_code == 200 and response.content == b"\x89PNG-bytes"


def test_signed_url_lifetime_is_bounded(make_services):
    from imagegen.config import ConfigError

    services = _services(make_services, signed_url_seconds=8 * 24 * 3600)
    with pytest.raises(ConfigError, match="7 days"):
        _ = services.signer


def test_connects_to_the_address_it_checked(receiver_factory, monkeypatch):
    """DNS rebinding: the name is resolved once; the connection goes to that address even
    if a later lookup would answer a private one, and the Host header keeps the name."""
    import socket

    from imagegen import netguard

    receiver = receiver_factory([204])
    port = receiver.server.server_port
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    guard = netguard.Guard.from_settings(True, ["127.0.0.1/32"], [])
    answer = netguard.post(guard, f"http://rebind.test:{port}/hook", b"{}", {}, timeout=5)
    assert answer.status == 204
    assert receiver.requests[0][0]["Host"] == f"rebind.test:{port}"
    with pytest.raises(netguard.Refused):  # the next lookup answers 10.0.0.1: refused
        guard.resolve(f"http://rebind.test:{port}/hook")


def test_flag_is_not_cleared_over_a_newer_transition(make_services):
    """The sweeper clears `events_pending` only if nothing was written since it looked: a
    transition committing meanwhile keeps the flag (and its own entry)."""
    broken = _services(make_services, events_topic="no-such-topic")
    job_id = submit(broken, {"prompt": "a jug"}).job.id
    services = _services(make_services)
    for entry in services.jobs.require(job_id).pending_events:
        services.event_log.mark_published(job_id, entry)
    seen_at = services.event_log._ref(job_id).get().update_time  # what the sweeper read
    broken.jobs.transact(job_id, lambda job: job.cancel(utcnow()))  # its publish lost
    assert services.event_log.settle(job_id, seen_at) is False
    stored = services.jobs.require(job_id)
    assert stored.events_pending is True and [e.state for e in stored.pending_events] == [
        "cancelled"
    ]
