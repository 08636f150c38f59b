"""Submitting, reading and cancelling jobs: the path shared by the HTTP API and uploads."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.jobs import State, new_job_id, public_view, utcnow
from imagegen.domain.request import ValidatedRequest, request_fingerprint, validate_request
from imagegen.errors import Conflict, Unavailable
from imagegen.logs import get_logger

log = get_logger("imagegen.submit")


@dataclass(frozen=True)
class Submitted:
    job: dict[str, Any]
    created: bool  # False: an earlier request with the same idempotency key made it


def job_id_for_key(scope: str, key: str) -> str:
    """A job id derived from an idempotency key, so retries of one request meet one job."""
    return hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:24]


def new_job(
    job_id: str,
    validated: ValidatedRequest,
    *,
    fingerprint: str,
    source: str,
    caller: str,
    deadline_seconds: float,
    now: dt.datetime,
) -> dict[str, Any]:
    request = validated.request
    return {
        "id": job_id,
        "state": State.QUEUED.value,
        "request": validated.to_json(),
        "model": request.model,
        "region": request.region,
        "warnings": validated.warnings,
        "estimated_cost_usd": validated.estimated_cost_usd,
        "attempts": 0,
        "source": source,
        "caller": caller,
        "fingerprint": fingerprint,
        "created_at": now,
        "updated_at": now,
        "deadline_at": now + dt.timedelta(seconds=deadline_seconds),
    }


def submit(
    services: Services,
    body: Any,
    *,
    caller: str = "anonymous",
    idempotency_key: str | None = None,
    source: str = "http",
    extra: dict[str, Any] | None = None,
) -> Submitted:
    """Validate, record, queue. Invalid input raises InvalidRequest before anything is
    written; over a rate or budget limit raises RateLimited / BudgetExceeded (429) and
    writes nothing; a queue failure removes the record again and raises Unavailable (503),
    so a job is either queued or was never accepted."""
    validated = validate_request(body, services.catalog, services.policy)
    conversation_prefix = None
    if validated.request.parent_job_id:
        from imagegen.services.refine import resolve_parent

        conversation_prefix, more_warnings = resolve_parent(
            services, validated, validated.request.parent_job_id, caller
        )
        validated.warnings.extend(more_warnings)
    fingerprint = request_fingerprint(body)
    job_id = job_id_for_key(caller, idempotency_key) if idempotency_key else new_job_id()
    job = new_job(
        job_id,
        validated,
        fingerprint=fingerprint,
        source=source,
        caller=caller,
        deadline_seconds=services.settings.job_deadline_seconds,
        now=utcnow(),
    )
    job.update(extra or {})  # e.g. the upload that made the job (its answer's name)
    if conversation_prefix is not None:
        job["conversation"] = conversation_prefix
        job["parent_job_id"] = validated.request.parent_job_id
    if services.limits.enabled:
        created, stored = services.jobs.create_within_limits(job, services.limits)
    else:
        created, stored = services.jobs.create(job)
    if not created:
        if stored.get("fingerprint") != fingerprint:
            raise Conflict(
                "this Idempotency-Key was used with a different request body",
                details=[{"field": "Idempotency-Key", "message": f"belongs to job {job_id}"}],
            )
        log.info("idempotent replay", extra={"job_id": job_id})
        return Submitted(stored, created=False)
    try:
        services.queue.publish(job_id)
    except Unavailable:
        log.error("publish failed; withdrawing the job", extra={"job_id": job_id})
        try:
            services.jobs.cancel(job_id)  # gives back any budget it reserved
            services.jobs.delete(job_id)
        except Exception:
            # The sweeper re-publishes queued jobs that were never picked up.
            log.exception(
                "could not withdraw job; the sweeper will queue it", extra={"job_id": job_id}
            )
        raise
    log.info(
        "job queued",
        extra={
            "job_id": job_id,
            "model": job["model"],
            "region": job["region"],
            "source": source,
            "caller": caller,
        },
    )
    return Submitted(job, created=True)


def view(job: dict[str, Any], base_url: str) -> dict[str, Any]:
    body = public_view(job)
    body["status_url"] = f"{base_url.rstrip('/')}/v1/jobs/{job['id']}"
    return body


def get_job(services: Services, job_id: str) -> dict[str, Any]:
    return services.jobs.require(job_id)


def cancel_job(services: Services, job_id: str) -> dict[str, Any]:
    job = services.jobs.cancel(job_id)
    log.info("job cancelled", extra={"job_id": job_id})
    return job


def models(services: Services) -> list[dict[str, Any]]:
    """The catalog as `GET /v1/models` shows it."""
    today = utcnow().date()
    out = []
    for spec in services.catalog:
        entry = spec.model_dump(mode="json", exclude={"sizes"})
        entry["aspect_ratios"] = spec.aspect_ratios
        entry["image_sizes"] = {
            size: {ratio: f"{w}x{h}" for ratio, (w, h) in table.items()}
            for size, table in spec.sizes.items()
        }
        entry["retired"] = spec.retired(today)
        entry["default"] = spec.id == services.catalog.default_model
        out.append(entry)
    return out


def usage(services: Services, *, caller: str | None, day: str | None, month: str | None):
    """Images, jobs and dollars for a day or a month (UTC), overall, per caller and model."""
    import datetime as dt

    from imagegen.domain.quota import usage_report
    from imagegen.errors import InvalidRequest

    try:
        if month:
            start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
            end = (start + dt.timedelta(days=32)).replace(day=1)
            period = {"month": month}
        else:
            day = day or utcnow().strftime("%Y-%m-%d")
            start = dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
            period = {"day": day}
    except ValueError:
        raise InvalidRequest(
            "bad period",
            details=[
                {
                    "field": "month" if month else "day",
                    "message": "use YYYY-MM-DD for day, YYYY-MM for month",
                }
            ],
        ) from None
    report = usage_report(services.jobs.between(start, end, caller))
    return {**period, "caller": caller, **report}
