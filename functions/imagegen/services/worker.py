"""Running one job: claim, call Vertex (retrying and failing over), store, finish.

Delivery is at least once, so this must be safe to run twice for one job: the claim is a
lease in a transaction, output names are deterministic, and the final write is fenced by
the attempt number. Every path out of here leaves the job terminal, or queued again with
the error recorded and an exception raised so Pub/Sub redelivers.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from imagegen.adapters.vertex_wire import Generation
from imagegen.bootstrap import Services
from imagegen.domain import conversation
from imagegen.domain.catalog import Family, ModelSpec
from imagegen.domain.jobs import ClaimOutcome, State, utcnow
from imagegen.domain.request import JobRequest
from imagegen.domain.retry import Backoff, fits
from imagegen.errors import Blocked, FinalUpstream, ImagegenError, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.media import embed_text_metadata

log = get_logger("imagegen.generate")


DEFAULT_BACKOFF = Backoff()


class RetryLater(Exception):
    """Raised to the entry point so the message is redelivered (the job is queued again)."""


@dataclass(frozen=True)
class Route:
    spec: ModelSpec
    location: str


def routes(services: Services, spec: ModelSpec, req: JobRequest) -> list[Route]:
    """Where to try, in order: the job's region, the deployment's fallback locations that
    serve the model, then the request's fallback models in their own locations."""
    allowed = services.settings.allowed_locations

    def usable(model: ModelSpec, location: str) -> bool:
        return location in model.locations and (not allowed or location in allowed)

    assert req.region
    out = [Route(spec, req.region)]
    for location in services.settings.fallback_locations:
        if usable(spec, location) and Route(spec, location) not in out:
            out.append(Route(spec, location))
    for model_id in req.fallback_models:
        other = services.catalog.get(model_id)
        if other is None or not _fits(other, req):
            continue
        preferred = [req.region, *services.settings.fallback_locations, other.default_location]
        for location in dict.fromkeys(preferred):
            if usable(other, location):
                out.append(Route(other, location))
                break
    return out


def _fits(spec: ModelSpec, req: JobRequest) -> bool:
    return (
        req.image_size in spec.sizes
        and req.aspect_ratio in spec.aspect_ratios
        and req.number_of_images <= spec.max_images
        and len(req.reference_images) <= spec.max_reference_images
    )


def call_with_retries(
    services: Services,
    spec: ModelSpec,
    req: JobRequest,
    deadline: float,
    job_id: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    history: list[dict[str, Any]] | None = None,
) -> tuple[Generation, Route, int]:
    """Try the routes until one answers. Quota errors and "not served here" move on to the
    next route at once; other transient errors back off on the same route. Raises the last
    RetryableUpstream when the time runs out, FinalUpstream when nothing can work.
    `history`: the conversation a Gemini job continues (see domain/conversation.py)."""
    candidates = routes(services, spec, req)
    index, calls, retries = 0, 0, 0
    last: ImagegenError | None = None
    while candidates:
        route = candidates[index % len(candidates)]
        remaining = deadline - time.monotonic()
        if remaining < 1.0:
            raise (
                last
                if isinstance(last, RetryableUpstream)
                else RetryableUpstream("no time left for another call")
            )
        calls += 1
        try:
            labels = {**req.labels, "imagegen-job": job_id}
            more = {"history": history} if history else {}
            result = services.vertex.generate(
                route.spec, req, route.location, labels=labels, timeout=remaining, **more
            )
            _log_call(job_id, route, 200)
            return result, route, calls
        except FinalUpstream as exc:
            _log_call(job_id, route, exc.status)
            last = exc
            if not exc.not_served:
                raise
            log.warning(
                "model not served here; failing over",
                extra={"job_id": job_id, "model": route.spec.id, "location": route.location},
            )
            candidates.remove(route)
            continue
        except RetryableUpstream as exc:
            _log_call(job_id, route, 429 if exc.quota else exc.status)
            last = exc
            log.warning(
                "retryable upstream error",
                extra={"job_id": job_id, "error": exc.message, "location": route.location},
            )
            if exc.quota and len(candidates) > 1 and (index + 1) % len(candidates):
                index += 1  # another route may have quota left: no wait
                continue
            index += 1
            retries += 1
            delay = backoff.delay(retries, exc.retry_after)
            if not fits(delay, time.monotonic(), deadline):
                raise
            time.sleep(delay)
    assert isinstance(last, FinalUpstream)
    raise FinalUpstream(f"no location serves the job: {last.message}", status=last.status)


def _log_call(job_id: str, route: Route, status: int | None) -> None:
    """One line per Vertex AI call: the vertex_calls metric (terraform/monitoring.tf) counts
    them by model, location and status (429 = quota)."""
    log.info(
        "vertex call",
        extra={
            "job_id": job_id,
            "model": route.spec.id,
            "location": route.location,
            "vertex_status": str(status or "error"),
        },
    )


def _since_submit(job: dict[str, Any]) -> float | None:
    """Seconds from submit to now, on terminal log lines (the job_seconds metric)."""
    created = job.get("created_at")
    return round((utcnow() - created).total_seconds(), 3) if created else None


def _error(exc: ImagegenError | Exception, **extra: Any) -> dict[str, Any]:
    if isinstance(exc, ImagegenError):
        body = {"code": exc.code, "message": exc.message}
    else:
        body = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
    body.update(extra)
    return body


def generate(services: Services, job_id: str, delivery_attempt: int | None = None) -> str:
    """Run one delivery of a job; returns what happened (for logs and tests)."""
    started = time.monotonic()
    s = services.settings
    claim = services.jobs.claim(job_id, s.lease_seconds)
    if claim.outcome is not ClaimOutcome.CLAIMED:
        log.info(
            f"delivery ignored: {claim.outcome.value}",
            extra={"job_id": job_id, "delivery_attempt": delivery_attempt},
        )
        return claim.outcome.value
    job, attempt = claim.job, claim.attempt
    assert job is not None
    ctx = {"job_id": job_id, "attempt": attempt, "delivery_attempt": delivery_attempt}

    deadline_at = job.get("deadline_at")
    if deadline_at is not None and utcnow() > deadline_at:
        services.jobs.finish(
            job_id,
            attempt,
            State.FAILED,
            {
                "error": {
                    "code": "deadline_exceeded",
                    "message": "the job passed its overall deadline",
                    "last_error": job.get("error"),
                }
            },
        )
        log.error(
            "job past its deadline",
            extra={**ctx, "state": "failed", "job_seconds": _since_submit(job)},
        )
        return State.FAILED.value
    if attempt > s.max_attempts:
        services.jobs.finish(
            job_id,
            attempt,
            State.FAILED,
            {
                "error": {
                    "code": "attempts_exhausted",
                    "message": f"gave up after {attempt - 1} attempts",
                    "last_error": job.get("error"),
                }
            },
        )
        log.error(
            "attempts exhausted",
            extra={**ctx, "state": "failed", "job_seconds": _since_submit(job)},
        )
        return State.FAILED.value

    req = JobRequest.model_validate(job["request"])
    spec = services.catalog[req.model or job["model"]]
    # The budget for Vertex starts once the job is ours: a claim that waited on contention
    # (duplicate deliveries of one message) must not leave the call no time at all, or
    # every copy would hand the job back without trying (the 60 s between the budget and
    # the function's timeout absorb the wait).
    budget_end = time.monotonic() + s.call_budget_seconds
    # The turns before this job's own (set at submit when it continues another job).
    history = list(job.get("conversation") or [])
    try:
        result, route, calls = call_with_retries(
            services, spec, req, budget_end, job_id, history=history
        )
        fields = _store_outputs(services, job_id, req, result, route)
        if fields["outputs"] and route.spec.family is Family.GENERATE_CONTENT:
            fields["conversation"] = _conversation(
                services, job_id, req, result, history, fields["outputs"]
            )
        if req.include_thoughts:
            fields["thoughts"] = result.thoughts
    except RetryableUpstream as exc:
        services.jobs.requeue(job_id, attempt, _error(exc, attempt=attempt))
        log.warning("out of time for this attempt; handing back for redelivery", extra=ctx)
        raise RetryLater(exc.message) from exc
    except Blocked as exc:
        services.jobs.finish(
            job_id,
            attempt,
            State.BLOCKED,
            {
                "outputs": [],
                "blocked_images": [{"reason": exc.message}],
                "images_produced": 0,
                "cost_usd": 0.0,
                "error": _error(exc),
            },
        )
        log.warning(
            "job blocked",
            extra={
                **ctx,
                "error": exc.message,
                "state": "blocked",
                "model": spec.id,
                "job_seconds": _since_submit(job),
            },
        )
        return State.BLOCKED.value
    except FinalUpstream as exc:
        services.jobs.finish(job_id, attempt, State.FAILED, {"error": _error(exc)})
        log.error(
            "job failed",
            extra={
                **ctx,
                "error": exc.message,
                "state": "failed",
                "model": spec.id,
                "job_seconds": _since_submit(job),
            },
        )
        return State.FAILED.value
    except Exception as exc:
        # Storage or an unexpected fault: hand back, let redelivery (bounded by the
        # dead-letter policy) decide.
        services.jobs.requeue(job_id, attempt, _error(exc, attempt=attempt))
        log.exception("unexpected error; handing back for redelivery", extra=ctx)
        raise RetryLater(str(exc)) from exc

    state = State.SUCCEEDED if fields["outputs"] else State.BLOCKED
    # a success clears what an earlier attempt recorded (the attempts count stays)
    fields["error"] = None
    if state is State.BLOCKED:
        fields["error"] = {"code": "blocked", "message": "; ".join(result.blocked)}
    if not services.jobs.finish(job_id, attempt, state, fields):
        log.warning("lost the lease before finishing; the newer attempt owns the job", extra=ctx)
        return "superseded"
    log.info(
        f"job {state.value}",
        extra={
            **ctx,
            "images": len(fields["outputs"]),
            "calls": calls,
            "model": route.spec.id,
            "location": route.location,
            "seconds": round(time.monotonic() - started, 3),
            "state": state.value,
            "job_seconds": _since_submit(job),
            "cost_usd": fields.get("cost_usd"),
        },
    )
    return state.value


def _conversation(
    services: Services,
    job_id: str,
    req: JobRequest,
    result: Generation,
    history: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The job's whole conversation, stored so that any job can be continued: the turns it
    continued, its user turn (references, prompt) and the model turn (text, output images as
    gs:// references, thought signatures). Inline references are written next to the
    outputs (`jobs/<id>/inputs/<n>.<ext>`), so the job store holds no image bytes. With
    several images a job makes several calls; the model turn is the first reply with an
    image (a later turn continues from that image)."""
    import base64

    from imagegen.adapters.vertex_wire import _reference_part

    bucket = services.settings.require("outputs_bucket")
    references = []
    for index, ref in enumerate(req.reference_images):
        part = _reference_part(ref)
        if "fileData" in part:
            references.append((part["fileData"]["fileUri"], part["fileData"]["mimeType"]))
            continue
        mime = part["inlineData"]["mimeType"]
        ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(mime, "png")
        data = base64.b64decode(part["inlineData"]["data"])
        uri = services.storage.write(
            bucket, f"jobs/{job_id}/inputs/{index}.{ext}", data, mime, {"imagegen-job-id": job_id}
        )
        references.append((uri, mime))
    images = [(o["uri"], o["mime_type"]) for o in outputs]
    return [
        *history,
        conversation.user_turn(references, req.prompt),
        conversation.model_turn(result.model_parts, images),
    ]


def _store_outputs(
    services: Services, job_id: str, req: JobRequest, result: Generation, route: Route
) -> dict[str, Any]:
    s = services.settings
    bucket = s.require("outputs_bucket")
    prompt_sha = hashlib.sha256(req.prompt.encode()).hexdigest()
    metadata = {
        "imagegen-job-id": job_id,
        "imagegen-model": route.spec.id,
        "imagegen-region": route.location,
        "imagegen-prompt-sha256": prompt_sha,
        "imagegen-watermark": "synthid" if req.add_watermark else "none",
    }
    if req.seed is not None:
        metadata["imagegen-seed"] = str(req.seed)
    outputs = []
    for index, image in enumerate(result.images):
        ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(image.mime_type, "png")
        name = f"jobs/{job_id}/{index}.{ext}"
        if image.gcs_uri:
            uri = image.gcs_uri
        else:
            assert image.data is not None
            data = embed_text_metadata(image.data, image.mime_type, metadata)
            uri = services.storage.write(bucket, name, data, image.mime_type, metadata)
        outputs.append({"uri": uri, "mime_type": image.mime_type, "index": index})
    images = len(outputs)
    return {
        "outputs": outputs,
        "blocked_images": [{"reason": reason} for reason in result.blocked],
        "text": result.text,
        "enhanced_prompt": result.enhanced_prompt,
        "usage": result.usage or None,
        "served_by": {"model": route.spec.id, "location": route.location},
        "cost_usd": round(route.spec.price(req.image_size or "1K") * images, 6),
        "images_produced": images,
    }
