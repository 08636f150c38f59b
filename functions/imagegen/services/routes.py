"""The route loop: where a job's calls go, how they are paced, retried and failed over, and
how a model shutdown met on the way is absorbed (the model is retired and the job rerouted
to its replacement, services/lifecycle.py).

A route is a (model, location). The loop tries the job's routes in order; quota errors and
"not served here" move on to the next route at once, other transient errors back off on the
same one, within the invocation's deadline. Calls are paced by the shared limiter (issue 18):
`pace` takes the first call's slots before the claim, every later call takes its own.

Vertex's quota hints (issue 27, domain/quota_hints.py): a 429 that names its reset blocks
its route in the limiter until then, for every instance. A spent per-day quota is never
called again before its reset: when every route of the job is spent (met in this attempt,
or blocked in the limiter before the claim), the job parks until the reset — queued, with
a task scheduled then (services/parking.py) — or, when the reset comes after its deadline,
ends `failed` / `quota_exhausted` with `resets_at` at once (`quota_hints.decide`).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass
from typing import Protocol

from imagegen.bootstrap import Services
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import Generation, OpenImage
from imagegen.domain.job import Job, State, utcnow
from imagegen.domain.job_values import JobError
from imagegen.domain.quota_hints import QuotaScope, iso
from imagegen.domain.request import JobRequest
from imagegen.domain.retry import Backoff, fits
from imagegen.errors import FinalUpstream, ImagegenError, ReferenceNotFound, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.services import inputs, lifecycle, parking
from imagegen.services.inputs import NativeCall

log = get_logger("imagegen.generate")

DEFAULT_BACKOFF = Backoff()


# A route blocked for longer than this is not answered 429 + Retry-After but parked: Cloud
# Tasks only "considers" Retry-After and retries within the queue's max_backoff (600 s,
# terraform/tasks.tf), so a longer wait is a task scheduled at the reset instead.
PARK_BEYOND_SECONDS = 600.0


class RetryLater(Exception):
    """Raised to the entry point so the job is delivered again (its task is answered 5xx;
    the job is queued again). `retry_after`: seconds the server asked for, when known."""

    def __init__(self, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PacedLater(RetryLater):
    """The job's turn at Vertex is further off than a worker may wait (the shared limiter,
    issue 18): the task is answered 429 with Retry-After — unclaimed, no attempt spent, no
    transition — and Cloud Tasks brings it back without an instance waiting for it."""


class QuotaSpent(Exception):
    """Every route of the job met a spent quota that resets at `until` (a per-day quota,
    issue 27): no call can succeed before then. `cause`: the last 429."""

    def __init__(self, cause: RetryableUpstream, until: dt.datetime) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.until = until


@dataclass(frozen=True)
class Route:
    spec: ModelSpec
    location: str


class Keeping(Protocol):
    """Where a job's images go as they arrive (services/keeper.py): every call asks only for
    the images still missing."""

    generation: Generation

    @property
    def missing(self) -> int: ...

    def keep(self, reply: Generation, route: Route) -> None: ...

    def opener(self, route: Route) -> OpenImage: ...

    def rerouted(self, req: JobRequest) -> None: ...


@dataclass(frozen=True)
class Served:
    """What the loop came to: the replies, the route that answered, the calls it took, and
    the request and model that served (a rerouted job's are its replacement's)."""

    result: Generation
    route: Route
    calls: int
    req: JobRequest
    spec: ModelSpec


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
    size = req.image_size or spec.default_size  # none asked: the model's default (issue 28)
    return (
        size in spec.sizes
        and (req.aspect_ratio is None or req.aspect_ratio in spec.sizes[size])
        and req.number_of_images <= spec.max_images
        and len(req.reference_images) <= spec.max_reference_images
        and (req.thinking_level is None or req.thinking_level in spec.thinking_levels)
        and (not req.google_search or spec.google_search)
    )


# --- pacing (issue 18) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """What `pace` came to: the route whose slots it took (None: nothing is paced), or the
    answer of a delivery that ended the job's turn without a claim (parked, failed)."""

    route: Route | None = None
    answer: str | None = None


def pace(services: Services, job_id: str) -> Turn:
    """Before the claim: take Vertex slots for the job's calls from the shared limiter, on
    the first of its model's routes (the job's region, then the deployment's fallback
    locations) that has them within `limiter_max_wait_seconds`, and wait for them. Raises
    PacedLater when no route has them that soon; parks or fails the job when every route
    is blocked past PARK_BEYOND_SECONDS (a spent quota, issue 27)."""
    limiter = services.limiter
    if limiter is None:
        return Turn()
    job = services.jobs.get(job_id)
    if not job or job.state != State.QUEUED or job.overdue(utcnow()):
        return Turn()  # the claim decides what a duplicate, a finished or an overdue job gets
    req = JobRequest.model_validate(job.request)
    spec = services.catalog[req.model or job.model]
    calls = req.number_of_images - len(job.partial_outputs or [])
    calls -= len(job.partial_blocked or [])
    own = [r for r in routes(services, spec, req) if r.spec.id == spec.id]
    own = [r for r in own if limiter.paced(spec.id, r.location)]
    if not own or calls <= 0:
        return Turn()
    wait_limit = services.settings.limiter_max_wait_seconds
    # a slot open now on any route first (this spreads calls over the locations), then
    # the earliest within the wait
    for horizon in dict.fromkeys([0.0, wait_limit]):
        for route in own:
            wait = limiter.acquire(spec.id, route.location, calls, horizon)
            if wait is not None:
                if wait > 0:
                    time.sleep(wait)
                return Turn(route)
    return _no_slot(services, job, spec, own, wait_limit)


def _no_slot(
    services: Services, job: Job, spec: ModelSpec, own: list[Route], wait_limit: float
) -> Turn:
    """No route has slots within the wait. When every route is blocked (Vertex said its
    quota is spent until a time) past PARK_BEYOND_SECONDS, park the job until the first
    reopens or fail it if that is after its deadline; otherwise answer 429 + Retry-After
    (the blocked time left, or the wait) and let the queue bring the job back."""
    limiter = services.limiter
    assert limiter is not None
    now = utcnow()
    blocks = [limiter.blocked_until(spec.id, route.location) for route in own]
    opens = min((b for b in blocks if b is not None), default=None)
    blocked = all(b is not None and b > now for b in blocks) and opens is not None
    if blocked and opens is not None and (opens - now).total_seconds() > PARK_BEYOND_SECONDS:
        return Turn(answer=_spent_before_claim(services, job, spec, opens))
    services.jobs.transact(job.id, lambda stored: stored.paced(utcnow()))
    retry_after = (opens - now).total_seconds() if blocked and opens else wait_limit
    log.info(
        "no Vertex slot soon; back to the queue",
        extra={"job_id": job.id, "model": spec.id, "vertex_status": "paced"},
    )
    raise PacedLater(
        f"{spec.id}: no Vertex slot within {wait_limit:.0f} s",
        retry_after=float(max(1, math.ceil(retry_after))),
    )


def _spent_before_claim(services: Services, job: Job, spec: ModelSpec, opens: dt.datetime) -> str:
    """Every route of the job is blocked until `opens`: park it until then, or fail it
    (quota_exhausted) when that is after its deadline. No call, no claim, no attempt."""
    reason = (
        f"{spec.id}: Vertex AI said its quota is spent on every route of this job until "
        f"{iso(opens)}"
    )
    if job.deadline_at is not None and opens >= job.deadline_at:
        error = spent_error(reason, opens, None, job.deadline_at)
        done = services.jobs.transact(job.id, lambda stored: stored.fail(error, utcnow()))
        if done.changed:
            log.error(
                "job failed: quota spent past its deadline",
                extra={"job_id": job.id, "state": "failed", "resets_at": iso(opens)},
            )
        return State.FAILED.value
    return parking.park(services, job, opens, reason=reason)


def spent_error(
    reason: str, resets_at: dt.datetime, scope: str | None, deadline_at: dt.datetime | None
) -> JobError:
    """The error a job ends with when a spent quota resets after its deadline."""
    after = f", after this job's deadline ({iso(deadline_at)})" if deadline_at else ""
    return JobError(
        code="quota_exhausted",
        message=f"{reason}; it resets at {iso(resets_at)}{after}",
        scope=scope,
        resets_at=resets_at,
    )


def _slots(services: Services, route: Route, calls: int) -> None:
    """A call after the first (a retry or another route) takes its slots too; none within
    the wait is a quota error of our own (the attempt is handed back)."""
    limiter = services.limiter
    if limiter is None or not limiter.paced(route.spec.id, route.location):
        return
    wait_limit = services.settings.limiter_max_wait_seconds
    wait = limiter.acquire(route.spec.id, route.location, calls, wait_limit)
    if wait is None:
        raise RetryableUpstream(
            f"{route.spec.id} in {route.location}: no Vertex slot within {wait_limit:.0f} s",
            quota=True,
        )
    if wait > 0:
        time.sleep(wait)


# --- the loop ------------------------------------------------------------------------------


def serve(
    services: Services,
    job: Job,
    spec: ModelSpec,
    req: JobRequest,
    keeper: Keeping,
    *,
    deadline: float,
    first: Route | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> Served:
    """Run the route loop for `job`; when no location serves its model and the model is
    gone everywhere (lifecycle.absorb_not_found), reroute the job to the replacement and
    run it once more. `first`: the route `pace` took slots on (tried first). A
    Vertex-native job (issue 28) sends its caller's request as it is, on every route."""
    history = [turn.to_json() for turn in job.conversation or []]
    native = inputs.native_call(services, job)
    loop = RouteLoop(services, job.id, keeper, deadline, history, backoff, native=native)
    try:
        return loop.run(spec, req, first)
    except FinalUpstream as exc:
        if not exc.not_served or not lifecycle.absorb_not_found(services, spec, job.id):
            raise
    req, spec = lifecycle.reroute(services, job, req)
    keeper.rerouted(req)
    # the slot paced for the retired model's route is not this one's
    log.info("job rerouted after its model was retired", extra={"job_id": job.id, "model": spec.id})
    return loop.run(spec, req, None)


class RouteLoop:
    """One job's calls to Vertex: try the routes until one answers (see the module).
    Raises the last RetryableUpstream when the time runs out, FinalUpstream when nothing
    can work."""

    def __init__(
        self,
        services: Services,
        job_id: str,
        keeper: Keeping,
        deadline: float,
        history: list[dict],
        backoff: Backoff = DEFAULT_BACKOFF,
        native: NativeCall | None = None,
    ) -> None:
        """`history`: the turns the job continues (JSON); `native`: (body, API version) of a
        Vertex-native request, sent as it is."""
        self.services, self.job_id, self.keeper = services, job_id, keeper
        self.deadline, self.history, self.backoff = deadline, history, backoff
        self.native = native

    def run(self, spec: ModelSpec, req: JobRequest, first: Route | None) -> Served:
        candidates = routes(self.services, spec, req)
        if first is not None and first in candidates:
            candidates.remove(first)
            candidates.insert(0, first)
        index, calls, retries = 0, 0, 0
        last: ImagegenError | None = None
        spent: list[dt.datetime] = []  # resets of the routes whose per-day quota is spent
        while candidates:
            route = candidates[index % len(candidates)]
            remaining = self.deadline - time.monotonic()
            if remaining < 1.0:
                raise (
                    last
                    if isinstance(last, RetryableUpstream)
                    else RetryableUpstream("no time left for another call")
                )
            calls += 1
            if calls > 1 or first is None:  # pace() took the first call's slots
                _slots(self.services, route, max(1, self.keeper.missing))
            if self.keeper.missing <= 0:
                return Served(self.keeper.generation, route, calls - 1, req, spec)
            try:
                self._call(route, req, remaining)
                return Served(self.keeper.generation, route, calls, req, spec)
            except FinalUpstream as exc:
                last = exc
                self._not_served(route, req, exc)
                candidates.remove(route)
            except RetryableUpstream as exc:
                last = exc
                if self._spent(exc, route):  # no call can succeed here before the reset
                    assert exc.resets_at is not None
                    spent.append(exc.resets_at)
                    candidates.remove(route)
                    continue
                if self._next_route_now(exc, route, len(candidates), index):
                    index += 1  # another route may have quota left: no wait
                    continue
                index, retries = index + 1, retries + 1
                self._back_off(exc, retries)
        if spent:
            assert isinstance(last, RetryableUpstream | FinalUpstream)
            cause = last if isinstance(last, RetryableUpstream) else None
            raise QuotaSpent(cause or _day_error(min(spent)), min(spent))
        assert isinstance(last, FinalUpstream)
        raise FinalUpstream(
            f"no location serves the job: {last.message}", status=last.status, not_served=True
        )

    def _call(self, route: Route, req: JobRequest, remaining: float) -> None:
        """One call on `route` for the missing images; each reply is kept as it arrives."""
        keeper = self.keeper
        try:
            self.services.vertex.generate(
                route.spec,
                req.model_copy(update={"number_of_images": keeper.missing}),
                route.location,
                labels={**req.labels, "imagegen-job": self.job_id},
                timeout=remaining,
                **({"history": self.history} if self.history else {}),
                **({"native": self.native} if self.native is not None else {}),
                on_reply=lambda reply: keeper.keep(reply, route),
                on_image=keeper.opener(route),
            )
        except FinalUpstream as exc:
            self._log_call(route, exc.status)
            raise
        except RetryableUpstream as exc:
            self._log_call(route, 429 if exc.quota else exc.status)
            raise
        self._log_call(route, 200)

    def _not_served(self, route: Route, req: JobRequest, exc: FinalUpstream) -> None:
        """A final error ends the loop, unless it is "not served here": then the lifecycle
        autopilot counts the 404 (issue 17) and the next route is tried. Vertex answers a
        missing gs:// input with the same 404 (issue 31): when one of the job's inputs is
        gone, the job fails with ReferenceNotFound naming it — no failover, no retry, and
        the model's count is left alone."""
        if not exc.not_served:
            raise exc
        missing = inputs.missing(self.services, req.reference_images, self.history, self.job_id)
        if missing:
            raise ReferenceNotFound(
                f"no such reference image: {', '.join(missing)} (Vertex AI: {exc.message})",
                status=exc.status,
            ) from exc
        lifecycle.record_not_found(self.services, route.spec, route.location, exc.message)
        log.warning(
            "model not served here; failing over",
            extra={"job_id": self.job_id, "model": route.spec.id, "location": route.location},
        )

    def _spent(self, exc: RetryableUpstream, route: Route) -> bool:
        """A 429 of a spent per-day quota (issue 27): the limiter blocks the route until the
        reset, for every instance, and this loop calls it no more."""
        if not (exc.quota and exc.quota_scope == QuotaScope.DAY and exc.resets_at):
            return False
        limiter = self.services.limiter
        if limiter is not None:
            limiter.throttled(route.spec.id, route.location, resets_at=exc.resets_at)
        log.warning(
            "a per-day Vertex AI quota is spent on this route",
            extra={
                "job_id": self.job_id,
                "error": exc.message,
                "location": route.location,
                "resets_at": iso(exc.resets_at),
            },
        )
        return True

    def _next_route_now(
        self, exc: RetryableUpstream, route: Route, routes_left: int, index: int
    ) -> bool:
        """Note a retryable error; True when a quota error should move to the next route
        at once (a 429 also slows the shared limiter down, and blocks the route until the
        time Vertex named, issue 27)."""
        limiter = self.services.limiter
        if exc.quota and exc.status == 429 and limiter:
            limiter.throttled(route.spec.id, route.location, resets_at=exc.resets_at)
        log.warning(
            "retryable upstream error",
            extra={"job_id": self.job_id, "error": exc.message, "location": route.location},
        )
        return exc.quota and routes_left > 1 and bool((index + 1) % routes_left)

    def _back_off(self, exc: RetryableUpstream, retries: int) -> None:
        delay = self.backoff.delay(retries, exc.retry_after)
        if not fits(delay, time.monotonic(), self.deadline):
            raise exc
        time.sleep(delay)

    def _log_call(self, route: Route, status: int | None) -> None:
        """One line per Vertex AI call: the vertex_calls metric (terraform/monitoring.tf)
        counts them by model, location and status (429 = quota)."""
        log.info(
            "vertex call",
            extra={
                "job_id": self.job_id,
                "model": route.spec.id,
                "location": route.location,
                "vertex_status": str(status or "error"),
            },
        )


def _day_error(until: dt.datetime) -> RetryableUpstream:
    """The cause of a QuotaSpent whose last error was another route's (not served)."""
    return RetryableUpstream(
        f"a per-day Vertex AI quota is spent; it resets at {iso(until)}",
        status=429,
        quota=True,
        quota_scope=QuotaScope.DAY.value,
        resets_at=until,
    )
