"""The route loop: where a job's calls go, how they are paced, retried and failed over, and
how a model shutdown met on the way is absorbed (the model is retired and the job rerouted
to its replacement, services/lifecycle.py).

A route is a (model, location). The loop tries the job's routes in order; quota errors and
"not served here" move on to the next route at once, other transient errors back off on the
same one, within the invocation's deadline. Calls are paced by the shared limiter (issue 18):
`pace` takes the first call's slots before the claim, every later call takes its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from imagegen.bootstrap import Services
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import Generation, OpenImage
from imagegen.domain.job import Job, State, utcnow
from imagegen.domain.request import JobRequest
from imagegen.domain.retry import Backoff, fits
from imagegen.errors import FinalUpstream, ImagegenError, ReferenceNotFound, RetryableUpstream
from imagegen.logs import get_logger
from imagegen.services import inputs, lifecycle
from imagegen.services.inputs import NativeCall

log = get_logger("imagegen.generate")

DEFAULT_BACKOFF = Backoff()


class RetryLater(Exception):
    """Raised to the entry point so the message is redelivered (the job is queued again)."""


class PacedLater(RetryLater):
    """The job's turn at Vertex is further off than a worker may wait (the shared limiter,
    issue 18): the message goes back unclaimed — no attempt spent, no transition — and
    Pub/Sub's retry backoff brings it back without an instance waiting for it."""


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


def pace(services: Services, job_id: str) -> Route | None:
    """Before the claim: take Vertex slots for the job's calls from the shared limiter, on
    the first of its model's routes (the job's region, then the deployment's fallback
    locations) that has them within `limiter_max_wait_seconds`, and wait for them. Raises
    PacedLater when no route has them that soon. None when nothing is paced."""
    limiter = services.limiter
    if limiter is None:
        return None
    job = services.jobs.get(job_id)
    if not job or job.state != State.QUEUED or job.overdue(utcnow()):
        return None  # the claim decides what a duplicate, a finished or an overdue job gets
    req = JobRequest.model_validate(job.request)
    spec = services.catalog[req.model or job.model]
    calls = req.number_of_images - len(job.partial_outputs or [])
    calls -= len(job.partial_blocked or [])
    own = [r for r in routes(services, spec, req) if r.spec.id == spec.id]
    own = [r for r in own if limiter.paced(spec.id, r.location)]
    if not own or calls <= 0:
        return None
    wait_limit = services.settings.limiter_max_wait_seconds
    # a slot open now on any route first (this spreads calls over the locations), then
    # the earliest within the wait
    for horizon in dict.fromkeys([0.0, wait_limit]):
        for route in own:
            wait = limiter.acquire(spec.id, route.location, calls, horizon)
            if wait is not None:
                if wait > 0:
                    time.sleep(wait)
                return route
    services.jobs.transact(job_id, lambda job: job.paced(utcnow()))
    log.info(
        "no Vertex slot soon; handed back to Pub/Sub",
        extra={"job_id": job_id, "model": spec.id, "vertex_status": "paced"},
    )
    raise PacedLater(f"{spec.id}: no Vertex slot within {wait_limit:.0f} s")


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
                if self._next_route_now(exc, route, len(candidates), index):
                    index += 1  # another route may have quota left: no wait
                    continue
                index, retries = index + 1, retries + 1
                self._back_off(exc, retries)
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

    def _next_route_now(
        self, exc: RetryableUpstream, route: Route, routes_left: int, index: int
    ) -> bool:
        """Note a retryable error; True when a quota error should move to the next route
        at once (a 429 also slows the shared limiter down)."""
        limiter = self.services.limiter
        if exc.quota and exc.status == 429 and limiter:
            limiter.throttled(route.spec.id, route.location)
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
