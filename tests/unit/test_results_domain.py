"""Issue 16, pure parts: the CloudEvent shape, the webhook retry schedule, Standard Webhooks
signatures (checked with the receiving side's verifier) and the SSRF address rules."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pytest

from imagegen.domain import job_events, webhooks
from imagegen.domain.job import Job
from imagegen.domain.job_values import JobError, PendingEvent
from imagegen.domain.webhooks import Delivery, RetryPolicy, close_attempt, open_attempt
from imagegen.netguard import Guard, Refused
from imagegen.services.webhooks import sign
from imagegen_client.client import WebhookVerificationError, verify_webhook

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def job(**fields) -> Job:
    return Job.from_document(
        {
            "id": "j1",
            "state": "succeeded",
            "request": {
                "prompt": "p",
                "reference_images": [{"data": "AAAA", "mime_type": "image/png"}],
            },
            "outputs": [{"uri": "gs://b/jobs/j1/0.png", "index": 0}],
            "caller": "someone",
            "pending_events": [],
            **fields,
        }
    )


def test_cloud_event_is_structured_and_has_a_stable_id_and_no_inline_bytes():
    entry = PendingEvent(id="j1-3", state="succeeded", time=NOW)
    event = job_events.cloud_event(job(), entry, "//imagegen/projects/p/jobs")
    assert event["specversion"] == "1.0"
    assert event["id"] == "j1-3" and event["subject"] == "j1"
    assert event["type"] == "com.imagegen.job.v1.succeeded"
    assert event["time"] == "2026-11-25T12:00:00Z"
    assert event["data"]["state"] == "succeeded"
    assert "caller" not in event["data"] and "pending_events" not in event["data"]
    assert event["data"]["request"]["reference_images"] == [
        {"mime_type": "image/png", "inline": True}
    ]
    json.dumps(event)  # serialisable as is


def test_transition_entries_number_each_change_and_skip_non_changes():
    before = Job(id="j1", state="queued", event_sequence=1, pending_events=[])
    assert before.paced(NOW).raised == ()  # no change of state, no event
    running = before.claim(NOW, 60)
    (entry,) = running.raised
    assert running.event_sequence == 2 and entry == PendingEvent(
        id="j1-2", state="running", time=NOW
    )
    assert running.pending_events == [entry] and running.events_pending is True
    assert running.progress(1, NOW, outputs=[], blocked=[], warnings=[]).raised == ()
    assert running.progress(2, NOW, outputs=[], blocked=[], warnings=[]) is None  # fenced
    error = JobError(code="upstream_retryable", message="429")
    (again,) = running.requeue(1, error, NOW).raised
    assert again.id == "j1-3" and again.state == "queued"


def test_webhook_defaults_to_terminal_events_and_checks_the_url():
    spec = webhooks.WebhookSpec(url="https://example.com/hook")
    assert job_events.wanted_events(spec.model_dump()) == job_events.TERMINAL_EVENTS
    for bad in ("ftp://example.com/x", "https://user:pw@example.com/", "example.com/hook"):
        with pytest.raises(ValueError):
            webhooks.WebhookSpec(url=bad)
    with pytest.raises(ValueError):
        webhooks.WebhookSpec(url="https://example.com/", events=["finished"])


def test_signature_verifies_with_the_secret_and_not_when_tampered():
    body = json.dumps({"id": "j1-3", "type": "com.imagegen.job.v1.succeeded"})
    headers = sign(SECRET, "j1-3", body)
    assert verify_webhook(body.encode(), headers, SECRET)["id"] == "j1-3"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body.replace("j1-3", "j1-4").encode(), headers, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body.encode(), headers, "whsec_" + "A" * 32)
    stale = sign(SECRET, "j1-3", body, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(WebhookVerificationError):
        verify_webhook(body.encode(), stale, SECRET)


def _attempt(delivery, now, status, policy):
    retryable = webhooks.retryable_status(status)
    return close_attempt(
        delivery, now, status=status, error=None, retryable=retryable, policy=policy
    )


def test_retry_then_success_and_duplicates_after_it_do_nothing():
    policy = RetryPolicy(min_backoff=10, max_backoff=100, window=3600)
    claimed, result = open_attempt(None, "j1-3", "t", NOW, lease=60)
    assert result == "attempt" and claimed.first_attempt_at == NOW
    # a duplicate while the attempt is in flight skips
    assert open_attempt(claimed, "j1-3", "t", NOW, lease=60) == (None, "not_due")
    failed = _attempt(claimed, NOW, 503, policy)
    assert failed.status == "pending" and failed.next_attempt_at > NOW
    later = failed.next_attempt_at
    again, result = open_attempt(failed, "j1-3", "t", later, lease=60)
    assert result == "attempt"
    done = _attempt(again, later, 200, policy)
    assert done.status == "delivered" and [a["status"] for a in done.attempts] == [503, 200]
    assert open_attempt(done, "j1-3", "t", later, lease=60) == (None, "delivered")


def test_retries_last_at_least_the_window_then_dead_letter():
    policy = RetryPolicy(min_backoff=30, max_backoff=3600, window=24 * 3600)
    delivery: Delivery | None = None
    now = NOW
    while True:
        delivery, result = open_attempt(delivery, "j1-3", "t", now, lease=60)
        assert result == "attempt"
        delivery = _attempt(delivery, now, None, policy)  # a timeout every time
        if delivery.status != "pending":
            break
        assert delivery.next_attempt_at - now <= dt.timedelta(seconds=3600)
        now = delivery.next_attempt_at
    assert delivery.status == "dead_lettered"
    assert now - NOW >= dt.timedelta(hours=24)
    assert 20 < len(delivery.attempts) < 60


def test_client_errors_are_not_retried():
    policy = RetryPolicy()
    claimed, _ = open_attempt(None, "j1-3", "t", NOW, lease=60)
    assert _attempt(claimed, NOW, 404, policy).status == "failed"
    assert webhooks.retryable_status(429) and webhooks.retryable_status(None)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fd12::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not Guard().address_allowed(ipaddress.ip_address(address))


def test_public_addresses_pass_and_allowed_networks_are_explicit():
    assert Guard().address_allowed(ipaddress.ip_address("8.8.8.8"))
    assert Guard().address_allowed(ipaddress.ip_address("2001:4860:4860::8888"))
    local = Guard.from_settings(True, ["127.0.0.1/32"], [])
    assert local.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert not local.address_allowed(ipaddress.ip_address("127.0.0.2"))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.8/hook",
        "https://169.254.169.254/computeMetadata/v1/",
        "https://[::1]/hook",
        "http://8.8.8.8/hook",
    ],
)
def test_guard_refuses_before_connecting(url):
    with pytest.raises(Refused):
        Guard().resolve(url)


def test_host_allow_list():
    guard = Guard.from_settings(False, [], ["hooks.example.com"])
    with pytest.raises(Refused, match="allow-list"):
        guard.resolve("https://other.example.com/")


def test_webhook_urls_the_deployment_will_not_call_are_400_at_submit():
    from imagegen.domain.catalog import load_catalog
    from imagegen.domain.request import Policy, validate_request
    from imagegen.errors import InvalidRequest

    catalog = load_catalog()

    def problems(url: str, policy: Policy) -> list[dict]:
        try:
            validate_request({"prompt": "p", "webhook": {"url": url}}, catalog, policy)
        except InvalidRequest as exc:
            return exc.details
        return []

    assert problems("http://example.com/h", Policy()) == [
        {"field": "webhook.url", "message": "must be an https:// URL"}
    ]
    assert problems("http://127.0.0.1:9/h", Policy(webhook_http=True)) == []
    assert problems("https://a.example/h", Policy(webhook_hosts=("b.example",)))[0]["field"] == (
        "webhook.url"
    )
    assert problems("https://b.example/h", Policy(webhook_hosts=("b.example",))) == []
