"""Running one delivery of a job: claim it, call Vertex (services/routes.py), keep its images
(services/keeper.py), and end it — each path computes one `Ending` (an `Outcome` to finish
the job with, or an error to hand it back with) and `_commit` writes it, in one place.

Delivery is at least once (a Cloud Tasks task, issue 27), so this must be safe to run twice
for one job: the claim is a lease in a transaction, output names are deterministic, and
every later write is fenced by the attempt number (`Job.holds`). Every path out of here
leaves the job terminal, parked until a spent quota resets (with a task scheduled then), or
queued again with the error recorded and RetryLater raised so its task is tried again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from google.api_core.exceptions import InvalidArgument

from imagegen.bootstrap import Services
from imagegen.domain import conversation
from imagegen.domain.document_size import MAX_DOCUMENT_BYTES
from imagegen.domain.generation import reference_mime
from imagegen.domain.job import ClaimOutcome, Job, Outcome, State, utcnow
from imagegen.domain.job_values import BlockedImage, JobError, Output, ServedBy, Turn, cost_of
from imagegen.domain.quota_hints import Action, QuotaHint, QuotaScope, decide
from imagegen.domain.request import JobRequest
from imagegen.errors import Blocked, FinalUpstream, ImagegenError, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.ports import Claim
from imagegen.services import inputs, lifecycle, parking
from imagegen.services.keeper import Keeper
from imagegen.services.routes import (
    PacedLater,
    QuotaSpent,
    RetryLater,
    Route,
    Served,
    pace,
    serve,
    spent_error,
)

log = get_logger("imagegen.generate")

__all__ = ["PacedLater", "RetryLater", "generate"]


@dataclass(frozen=True)
class Ending:
    """How this delivery ends the job: an outcome to finish it with, or (`handback`) the
    error to queue it again with; and the line to log once it is written."""

    outcome: Outcome | None = None
    handback: JobError | None = None
    cause: BaseException | None = None  # a hand-back's fault (raised as RetryLater from it)
    park_until: dt.datetime | None = None  # with `handback`: park the job until then
    answer: str = ""  # what `generate` returns (tests and logs)
    level: int = logging.INFO
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """The claimed job, and what every log line of this delivery carries."""

    services: Services
    job: Job
    attempt: int
    ctx: dict[str, Any]
    started: float


def generate(services: Services, job_id: str, delivery_attempt: int | None = None) -> str:
    """Run one delivery of a job; returns what happened (for logs and tests)."""
    started = time.monotonic()
    lease = services.settings.lease_seconds
    turn = pace(services, job_id)  # raises PacedLater: the turn is later, hand back
    if turn.answer is not None:  # parked or failed before the claim (a spent quota)
        return turn.answer
    paced = turn.route
    claim = Claim.of(services.jobs.transact(job_id, lambda job: job.claim(utcnow(), lease)))
    if claim.outcome is not ClaimOutcome.CLAIMED:
        log.info(
            f"delivery ignored: {claim.outcome.value}",
            extra={"job_id": job_id, "delivery_attempt": delivery_attempt},
        )
        return claim.outcome.value
    assert claim.job is not None
    ctx = {"job_id": job_id, "attempt": claim.attempt, "delivery_attempt": delivery_attempt}
    run = Delivery(services, claim.job, claim.attempt, ctx, started)
    return _commit(run, _refused(run) or _attempt(run, paced))


def _refused(run: Delivery) -> Ending | None:
    """The job may not run again: past its deadline, or out of attempts."""
    job, attempt = run.job, run.attempt
    if job.overdue(utcnow()):
        error = job.deadline_error().model_copy(update={"last_error": job.error})
        message = "job past its deadline"
    elif attempt > run.services.settings.max_attempts:
        error = JobError(
            code="attempts_exhausted",
            message=f"gave up after {attempt - 1} attempts",
            last_error=job.error,
        )
        message = "attempts exhausted"
    else:
        return None
    return _failed(run, error, message)


def _failed(run: Delivery, error: JobError, message: str, **extra: Any) -> Ending:
    return Ending(
        outcome=Outcome(state=State.FAILED, error=error),
        answer=State.FAILED.value,
        level=logging.ERROR,
        message=message,
        extra={"state": "failed", "job_seconds": _since_submit(run.job), **extra},
    )


def _attempt(run: Delivery, paced: Route | None) -> Ending:
    """Call Vertex for the images the job still lacks, and say how that ends it."""
    services, job = run.services, run.job
    req = JobRequest.model_validate(job.request)
    spec = services.catalog.get(req.model or job.model)
    if spec is None:  # retired since submit (issue 17): routed, or refused by setting
        try:
            req, spec = lifecycle.reroute(services, job, req)
        except FinalUpstream as exc:
            return _failed(run, _error(exc), "job failed: its model is retired", error=exc.message)
    # The budget for Vertex starts once the job is ours: a claim that waited on contention
    # (duplicate deliveries of one message) must not leave the call no time at all, or
    # every copy would hand the job back without trying (the 60 s between the budget and
    # the function's timeout absorb the wait).
    deadline = time.monotonic() + services.settings.call_budget_seconds
    keeper = Keeper(services, job, run.attempt, req)
    if keeper.outputs:
        log.info(
            "continuing with the images an earlier attempt stored",
            extra={**run.ctx, "kept": len(keeper.outputs), "missing": keeper.missing},
        )
    try:
        served = serve(services, job, spec, req, keeper, deadline=deadline, first=paced)
        return _served(run, keeper, served)
    except QuotaSpent as exc:
        return _spent(run, keeper, exc)
    except RetryableUpstream as exc:
        message = "out of time for this attempt; handing back for redelivery"
        return _handback(run, exc, message, logging.WARNING)
    except Blocked as exc:
        # a block after some images were stored: the job succeeded with what it has
        state = State.BLOCKED if not keeper.outputs else State.SUCCEEDED
        blocked = [BlockedImage(reason=r) for r in [*keeper.blocked, exc.message]]
        return _kept(run, keeper, state, exc, spec.id, blocked)
    except FinalUpstream as exc:
        # images already stored stay on the job (and are billed); the job still failed
        return _kept(run, keeper, State.FAILED, exc, spec.id)
    except Exception as exc:
        # Storage or an unexpected fault: hand back, let redelivery (bounded by the
        # dead-letter policy) decide.
        return _handback(run, exc, "unexpected error; handing back for redelivery")


def _spent(run: Delivery, keeper: Keeper, spent: QuotaSpent) -> Ending:
    """Every route met a spent per-day quota (issue 27, `quota_hints.decide`): park the job
    until the reset when that comes before its deadline, else fail it `quota_exhausted`
    now, saying when the quota resets. Images already stored stay on a parked job."""
    cause = spent.cause
    scope = QuotaScope(cause.quota_scope or QuotaScope.DAY.value)
    found = QuotaHint(scope, cause.retry_after, None, spent.until)
    decision = decide(found, utcnow(), backoff=0.0, time_left=0.0, deadline_at=run.job.deadline_at)
    if decision.action is Action.FAIL:
        error = spent_error(cause.message, spent.until, scope.value, run.job.deadline_at)
        ending = _failed(run, error, "job failed: quota spent past its deadline")
        outputs = keeper.outputs  # images stored before the quota ran out stay (billed)
        outcome = Outcome(
            state=State.FAILED,
            error=error,
            outputs=outputs,
            images_produced=len(outputs),
            cost_usd=cost_of(outputs),
        )
        return replace(ending, outcome=outcome)
    assert decision.action is Action.PARK and decision.until is not None
    return Ending(
        handback=_error(cause, attempt=run.attempt),
        cause=cause,
        park_until=decision.until,
        level=logging.WARNING,
        message="quota spent on every route; parking the job until it resets",
    )


def _handback(run: Delivery, exc: Exception, message: str, level: int = logging.ERROR) -> Ending:
    return Ending(
        handback=_error(exc, attempt=run.attempt),
        cause=exc,
        level=level,
        message=message,
    )


def _kept(
    run: Delivery,
    keeper: Keeper,
    state: State,
    exc: ImagegenError,
    model: str,
    blocked: list[BlockedImage] | None = None,
) -> Ending:
    """A job that ends on a block or a final error keeps the images its calls stored (kept
    and billed; the error is recorded only when there are none, or the job failed)."""
    outputs = keeper.outputs
    outcome = Outcome(
        state=state,
        outputs=outputs,
        images_produced=len(outputs),
        cost_usd=cost_of(outputs),
        error=_error(exc) if state is State.FAILED or not outputs else None,
        **({"blocked_images": blocked} if blocked is not None else {}),
    )
    shown = "blocked" if blocked is not None else "failed"
    return Ending(
        outcome=outcome,
        answer=shown,
        level=logging.WARNING if blocked is not None else logging.ERROR,
        message=f"job {shown}",
        extra={
            "error": exc.message,
            "job_seconds": _since_submit(run.job),
            "model": model,
            "state": shown,
        },
    )


def _served(run: Delivery, keeper: Keeper, served: Served) -> Ending:
    """The loop answered: succeeded with the images, or blocked when there are none."""
    job, result, route, req = run.job, served.result, served.route, served.req
    outputs = keeper.outputs
    state = State.SUCCEEDED if outputs else State.BLOCKED
    fields: dict[str, Any] = {}
    if keeper.warnings:
        fields["warnings"] = [*job.warnings, *keeper.warnings]
    if outputs:
        fields["conversation"] = _conversation(run, req, served, outputs)
    if req.include_thoughts:
        fields["thoughts"] = result.thoughts
    blocked = "; ".join(keeper.blocked)
    outcome = Outcome(
        state=state,
        outputs=outputs,
        blocked_images=[BlockedImage(reason=reason) for reason in keeper.blocked],
        text=result.text,
        enhanced_prompt=result.enhanced_prompt,
        usage=result.usage or None,
        grounding_metadata=result.grounding,
        served_by=ServedBy(model=route.spec.id, location=route.location),
        cost_usd=cost_of(outputs),
        images_produced=len(outputs),
        # a success clears what an earlier attempt recorded (the attempts count stays)
        error=JobError(code="blocked", message=blocked) if state is State.BLOCKED else None,
        **fields,
    )
    extra = {
        "images": len(outputs),
        "calls": served.calls,
        "model": route.spec.id,
        "location": route.location,
        "seconds": round(time.monotonic() - run.started, 3),
        "state": state.value,
        "job_seconds": _since_submit(job),
        "cost_usd": outcome.cost_usd,
    }
    return Ending(outcome=outcome, answer=state.value, message=f"job {state.value}", extra=extra)


def _commit(run: Delivery, ending: Ending) -> str:
    """Write how the delivery ends the job — the one place the worker ends a job — then
    log it. A hand-back raises RetryLater (its task is tried again); a park makes the task
    that delivers the job when its quota resets."""
    services, job_id, attempt = run.services, run.job.id, run.attempt
    if ending.handback is not None and ending.park_until is not None:
        _log(ending, run)
        reason = str(ending.cause)
        return parking.park(
            services,
            run.job,
            ending.park_until,
            reason=reason,
            attempt=attempt,
            error=ending.handback,
        )
    if ending.handback is not None:
        error = ending.handback
        services.jobs.transact(job_id, lambda job: job.requeue(attempt, error, utcnow()))
        _log(ending, run)
        retry_after = getattr(ending.cause, "retry_after", None)
        raise RetryLater(str(ending.cause), retry_after=retry_after) from ending.cause
    assert ending.outcome is not None
    outcome = ending.outcome
    finished = run.job.finish(attempt, outcome, utcnow())
    if finished is not None and not finished.fits():
        return _commit_oversized(run, outcome, finished.stored_bytes)
    try:
        done = services.jobs.transact(job_id, lambda job: job.finish(attempt, outcome, utcnow()))
    except InvalidArgument:  # the store refused the write itself (its size rules)
        size = finished.stored_bytes if finished is not None else 0
        return _commit_oversized(run, outcome, size)
    if not done.changed:
        log.warning(
            "lost the lease before finishing; the newer attempt owns the job", extra=run.ctx
        )
        return "superseded"
    _log(ending, run)
    return ending.answer


def _commit_oversized(run: Delivery, outcome: Outcome, size: int) -> str:
    """End a job whose finished document cannot be stored (over Firestore's 1 MiB): failed,
    once, with the reason. Handing it back would re-run it (each run a billable Vertex
    call) only to fail the same way. Its output objects are deleted and named in the
    error, and the Vertex spend stays on the job (cost_usd), so budgets stay true."""
    services, job_id, attempt = run.services, run.job.id, run.attempt
    uris = [o.uri for o in outcome.outputs or []]
    for uri in uris:
        try:
            services.storage.delete(uri)
        except Exception:  # the bucket's lifecycle rule removes it later
            log.warning("could not delete an output", extra={"job_id": job_id, "uri": uri})
    error = JobError(
        code="result_too_large",
        message=(
            f"the finished job takes {size:,} bytes to store, over the job store's "
            f"{MAX_DOCUMENT_BYTES:,}-byte document limit (long model text or conversation); "
            f"its {len(uris)} image(s) were deleted"
        ),
        deleted_outputs=uris,
    )
    kept = {
        name: getattr(outcome, name)
        for name in ("served_by", "cost_usd", "images_produced", "usage")
        if name in outcome.model_fields_set
    }
    failed = Outcome(state=State.FAILED, outputs=[], error=error, **kept)
    done = services.jobs.transact(job_id, lambda job: job.finish(attempt, failed, utcnow()))
    log.error("job result too large to store; failed", extra={"job_id": job_id, "bytes": size})
    return State.FAILED.value if done.changed else "superseded"


def _log(ending: Ending, run: Delivery) -> None:
    handed_back = ending.handback is not None and ending.level == logging.ERROR
    log.log(
        ending.level,
        ending.message,
        extra={**run.ctx, **ending.extra},
        exc_info=ending.cause if handed_back else None,
    )


def _since_submit(job: Job) -> float | None:
    """Seconds from submit to now, on terminal log lines (the job_seconds metric)."""
    created = job.created_at
    return round((utcnow() - created).total_seconds(), 3) if created else None


def _error(exc: BaseException, *, attempt: int | None = None) -> JobError:
    if isinstance(exc, ImagegenError):
        error = JobError(code=exc.code, message=exc.message)
        if getattr(exc, "status", None):  # Vertex's HTTP status (a native answer repeats it)
            error = error.model_copy(update={"status": exc.status})
    else:
        error = JobError(code="internal", message=f"{type(exc).__name__}: {exc}")
    return error.model_copy(update={"attempt": attempt}) if attempt is not None else error


def _conversation(
    run: Delivery, req: JobRequest, served: Served, outputs: list[Output]
) -> list[Turn]:
    """The job's whole conversation, stored so that any job can be continued: the turns it
    continued, its user turn (references, prompt) and the model turn (text, output images as
    gs:// references, thought signatures). Inline references are written next to the
    outputs (`jobs/<id>/inputs/<n>.<ext>`), so the job store holds no image bytes. With
    several images a job makes several calls; the model turn is the first reply with an
    image (a later turn continues from that image)."""
    refs, _ = inputs.stored_references(run.services, req.reference_images, run.job.id)
    references = [(str(ref.gcs_uri), reference_mime(ref)) for ref in refs]
    images = [(o.uri, o.mime_type or "image/png") for o in outputs]
    turns = [
        conversation.user_turn(references, req.prompt),
        conversation.model_turn(served.result.model_parts, images),
    ]
    return [*(run.job.conversation or []), *(Turn.model_validate(t) for t in turns)]
