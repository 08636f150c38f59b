"""Telling people a job ended: webhook deliveries and the answers of uploaded jobs.

`deliver_webhooks` receives every job event (push subscription on `job-events`) and every
due retry (push subscription on `webhook-retries`, fed by the sweeper). For a job whose
request has a `webhook` that wants this event, it claims one attempt in a transaction (so
duplicated Pub/Sub deliveries send it once), POSTs the event signed per Standard Webhooks
(`webhook-id` = the event id, the same on every retry), and records the attempt (time,
status) on the job. For a job that came from an upload, a terminal event rewrites
`results/<name>.json` with the outputs and their signed URLs.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from standardwebhooks.webhooks import Webhook

from imagegen import netguard
from imagegen.bootstrap import Services
from imagegen.domain.batch_view import COMPLETED as BATCH_COMPLETED
from imagegen.domain.job_events import TERMINAL_EVENTS, state_of_type, wanted_events
from imagegen.domain.job_view import JobView, status_url
from imagegen.domain.webhooks import DEAD_LETTERED, close_attempt, retryable_status
from imagegen.logs import get_logger
from imagegen.services import batch_answers

log = get_logger("imagegen.webhooks")
USER_AGENT = "imagegen-webhooks/1"
CATALOG_EVENTS = "com.imagegen.catalog."  # on the same topic; no job, no webhook


def handle_event(services: Services, event: dict[str, Any]) -> str:
    """One job event; returns what happened (for logs and tests)."""
    state = state_of_type(str(event.get("type", "")))
    job_id = str(event.get("subject") or "")
    data = event.get("data") or {}
    if str(event.get("type", "")).startswith(CATALOG_EVENTS):  # model_available (issue 30)
        return "not_a_job_event"
    if event.get("type") == BATCH_COMPLETED:  # issue 29: a batch ended
        return batch_completed(services, event)
    if state is None or not job_id:
        log.error("not a job event; acknowledged", extra={"event_id": event.get("id")})
        return "ignored"
    if state in TERMINAL_EVENTS and data.get("source") == "upload":
        answer_upload(services, job_id)
    webhook = (data.get("request") or {}).get("webhook")
    if not webhook or state not in wanted_events(webhook):
        return "not_wanted"
    return deliver(services, job_id, event, str(webhook["url"]))


def batch_completed(services: Services, event: dict[str, Any]) -> str:
    """A batch's `batch.completed` (issue 29): the dropped file's answer rewritten, then the
    event POSTed to the batch's webhook like a job's."""
    batch = services.batches.get(str(event.get("subject") or ""))
    if batch is None:
        log.error("batch event for no batch; acknowledged", extra={"event_id": event.get("id")})
        return "ignored"
    if batch.upload and batch.upload.get("answer"):
        batch_answers.answer_batch_upload(services, batch)
    url = (batch.webhook or {}).get("url")
    return deliver(services, batch.id, event, str(url)) if url else "not_wanted"


def deliver(services: Services, job_id: str, event: dict[str, Any], url: str) -> str:
    """Attempt one delivery if it is due and not done; record the outcome."""
    s = services.settings
    raw = json.dumps(event, separators=(",", ":"), default=str)
    policy = services.webhook_policy
    outcome, raw_sent = services.event_log.begin_attempt(
        job_id, (event["id"], event["type"], raw), policy.lease
    )
    ctx = {"job_id": job_id, "event_id": event["id"]}
    if outcome != "attempt" or raw_sent is None:
        log.info(f"webhook delivery skipped: {outcome}", extra=ctx)
        return outcome
    stored = json.loads(raw_sent)
    payload = {**stored, "data": services.signer.with_urls(stored.get("data") or {})}
    body = json.dumps(payload, separators=(",", ":"), default=str)
    headers = sign(s.require("webhook_secret"), event["id"], body)
    headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
    try:
        answer = netguard.post(
            services.guard, url, body.encode(), headers, s.webhook_timeout_seconds
        )
        retryable = retryable_status(answer.status)
    except netguard.Refused as exc:
        answer, retryable = netguard.Answer(None, f"refused: {exc}"), False

    def record(delivery, now):
        return close_attempt(
            delivery,
            now,
            status=answer.status,
            error=answer.error,
            retryable=retryable,
            policy=policy,
        )

    closed = services.event_log.finish_attempt(job_id, event["id"], record)
    status = closed.status if closed is not None else "gone"
    extra = {**ctx, "status": answer.status, "delivery": status, "error": answer.error}
    if status == DEAD_LETTERED:
        services.webhook_dead_letters.publish(stored)
        log.error("webhook dead-lettered", extra=extra)
    elif answer.status is not None and 200 <= answer.status < 300:
        log.info("webhook delivered", extra=extra)
    else:
        log.warning("webhook attempt failed", extra=extra)
    return status


def sign(secret: str, message_id: str, body: str, now: dt.datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for one attempt (a new timestamp each time)."""

    now = now or dt.datetime.now(dt.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def republish_due(services: Services, now: dt.datetime) -> dict[str, int]:
    """Sweeper: publish each due webhook retry to `webhook-retries` (deliver_webhooks
    decides again, in its transaction, whether the attempt is really due)."""
    counts = {"webhook_retries": 0, "webhook_retry_errors": 0}
    for delivery in services.event_log.due_webhooks(now):
        try:
            services.webhook_retries.publish(json.loads(delivery["body"]))
            counts["webhook_retries"] += 1
        except Exception as exc:
            counts["webhook_retry_errors"] += 1
            log.warning(
                "could not queue a webhook retry",
                extra={
                    "job_id": delivery.get("job_id"),
                    "event_id": delivery.get("event_id"),
                    "error": str(exc),
                },
            )
    return counts


def answer_upload(services: Services, job_id: str) -> str | None:
    """Rewrite the upload's answer object with the finished job (idempotent)."""
    job = services.event_log.get(job_id)
    upload = job.upload if job else None
    if job is None or upload is None or not upload.answer:
        return None
    view = services.signer.with_urls(JobView.of(job).to_json())
    answer = {
        "upload": upload.uri,
        "job_id": job_id,
        "status": view.get("state"),
        "outputs": view.get("outputs") or [],
        "error": view.get("error"),
        "finished_at": view.get("finished_at"),
    }
    if services.settings.api_url:
        answer["status_url"] = status_url(services.settings.api_url, job_id)
    bucket = services.settings.require("outputs_bucket")
    data = json.dumps(answer, default=str, indent=2).encode()
    uri = services.storage.write(bucket, upload.answer, data, "application/json")
    log.info("upload answered", extra={"job_id": job_id, "answer": uri})
    return uri
