"""Running one job: claim, call Vertex (retrying and failing over), store, finish.

Delivery is at least once, so this must be safe to run twice for one job: the claim is a
lease in a transaction, output names are deterministic, and the final write is fenced by
the attempt number. Every path out of here leaves the job terminal, or queued again with
the error recorded and an exception raised so Pub/Sub redelivers.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

from google.api_core.exceptions import InvalidArgument

from imagegen import content_credentials
from imagegen.bootstrap import Services
from imagegen.domain import conversation
from imagegen.domain.catalog import ModelSpec
from imagegen.domain.generation import (
    GeneratedImage,
    Generation,
    OpenImage,
    reference_bytes,
    reference_mime,
)
from imagegen.domain.job import Job, cost_of, iso
from imagegen.domain.jobs import ClaimOutcome, State, fits_in_document, utcnow
from imagegen.domain.provenance import (
    SYNTHID,
    ContentCredentials,
    credentials_warning,
    object_metadata,
)
from imagegen.domain.request import JobRequest, extension
from imagegen.domain.retry import Backoff, fits
from imagegen.errors import (
    Blocked,
    FinalUpstream,
    ImagegenError,
    ReferenceNotFound,
    RetryableUpstream,
)
from imagegen.logs import get_logger
from imagegen.media import ImageStream
from imagegen.native import vertex_request
from imagegen.services.lifecycle import call_serving, record_not_found, reroute
from imagegen.services.upkeep import finish_oversized

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


def pace(services: Services, job_id: str) -> Route | None:
    """Before the claim: take Vertex slots for the job's calls from the shared limiter, on
    the first of its model's routes (the job's region, then the deployment's fallback
    locations) that has them within `limiter_max_wait_seconds`, and wait for them. Raises
    PacedLater when no route has them that soon. None when nothing is paced."""
    limiter = services.limiter
    if limiter is None:
        return None
    job = services.jobs.get(job_id)
    if not job or job.state != State.QUEUED:
        return None  # the claim decides what a duplicate or a finished job gets
    if job.overdue(utcnow()):
        return None  # the claim fails it
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
    services.jobs.mark_paced(job_id)
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


def _fits(spec: ModelSpec, req: JobRequest) -> bool:
    size = req.image_size or spec.default_size
    return (
        size in spec.sizes
        and (req.aspect_ratio is None or req.aspect_ratio in spec.sizes[size])
        and req.number_of_images <= spec.max_images
        and len(req.reference_images) <= spec.max_reference_images
        and (req.thinking_level is None or req.thinking_level in spec.thinking_levels)
        and (not req.google_search or spec.google_search)
    )


class Keeper:
    """The images a job has, stored the moment each arrives and recorded on the job when its
    reply is complete, so a failed call, a retry or a redelivery asks Vertex only for the
    missing ones and no image is generated (and billed) twice. Each image is written to
    Cloud Storage as its bytes arrive (`opener`, issue 18), byte for byte as Vertex sent it,
    then its Content Credentials are read back from the stored object (issue 25). Outputs
    carry their pixel size, bytes and credentials; one whose size differs from what was
    asked, or that lacks the credentials its model carries, gets a warning (and is priced
    as delivered)."""

    def __init__(self, services: Services, job_id: str, attempt: int, req: JobRequest, job: Job):
        self.services, self.job_id, self.attempt, self.req = services, job_id, attempt, req
        self.job = job
        self.outputs: list[dict[str, Any]] = list(job.partial_outputs or [])
        self.blocked: list[str] = list(job.partial_blocked or [])
        self.warnings: list[str] = list(job.partial_warnings or [])
        # the replies' text, thoughts and model turn; image bytes are never kept
        self.generation = Generation(images=[GeneratedImage(o["mime_type"]) for o in self.outputs])
        self._lock = threading.Lock()  # images open from the calls' threads at once
        self._taken: set[int] = set()  # indexes of this attempt's uploads, not aborted

    @property
    def missing(self) -> int:
        return self.req.number_of_images - len(self.outputs) - len(self.blocked)

    def opener(self, route: Route) -> OpenImage:
        """Opens the upload each image of a call on `route` streams into."""
        return lambda mime_type: OutputUpload(self, route, mime_type)

    def keep(self, reply: Generation, route: Route) -> None:
        for image in reply.images:
            output = image.output if image.output is not None else self._store(image, route)
            self.outputs.append(output)
            image.data = b""
            _, warning = delivered_size(
                route.spec, self.req, output["width"], output["height"], output["index"]
            )
            if warning:
                self.warnings.append(warning)
            credentials = output.get("content_credentials")
            warning = credentials_warning(
                route.spec.c2pa_content_credentials,
                ContentCredentials(**credentials) if credentials else None,
                output["index"],
                route.spec.id,
            )
            if warning and self.services.settings.verify_content_credentials:
                self.warnings.append(warning)
        self.outputs.sort(key=lambda o: o["index"])
        self.blocked.extend(reply.blocked)
        self.generation.merge(reply)
        self.services.jobs.progress(
            self.job_id,
            self.attempt,
            {
                "partial_outputs": self.outputs,
                "partial_blocked": self.blocked,
                "partial_warnings": self.warnings,
            },
        )

    def _store(self, image: GeneratedImage, route: Route) -> dict[str, Any]:
        """An image read into memory (a caller that passed no opener) goes the same way."""
        upload = OutputUpload(self, route, image.mime_type)
        upload.write(image.data)
        return upload.close()

    def take_index(self) -> int:
        """The lowest output index neither stored nor being written."""
        with self._lock:
            used = {o["index"] for o in self.outputs} | self._taken
            index = next(i for i in itertools.count() if i not in used)
            self._taken.add(index)
            return index

    def release_index(self, index: int) -> None:
        with self._lock:
            self._taken.discard(index)

    def provenance(self, route: Route) -> dict[str, str]:
        """The object metadata of an output made on `route`: our provenance, kept beside
        the file (the file itself stays as Vertex sent it)."""
        job, req = self.job, self.req
        return object_metadata(
            job_id=self.job_id,
            model_requested=req.model_requested or job.model or route.spec.id,
            model=route.spec.id,
            location=route.location,
            request=job.request,
            prompt=req.prompt,
            created_at=iso(job.created_at) if job.created_at else "",
            seed=req.seed,
        )

    def credentials(self, uri: str, mime_type: str) -> dict[str, Any] | None:
        """The stored image's Content Credentials as recorded on its output (read back from
        the bucket); None when verification is off or the object could not be read back
        (logged; the image is kept either way)."""
        if not self.services.settings.verify_content_credentials:
            return None
        try:
            with self.services.storage.open_read(uri) as stream:
                found = content_credentials.read(stream, mime_type)
        except Exception as exc:  # storage: the job keeps its image; the warning says why
            log.warning(
                "content credentials not read",
                extra={"job_id": self.job_id, "uri": uri, "error": f"{type(exc).__name__}"},
            )
            return None
        log.info(
            "content credentials read",
            extra={
                "job_id": self.job_id,
                "uri": uri,
                "c2pa_present": found.present,
                "c2pa_valid": found.valid,
            },
        )
        return found.record()


class OutputUpload:
    """One output image streamed to `jobs/<id>/<index>.<ext>` as its bytes arrive, exactly
    as they arrive; `close` returns its output record (the pixel size read from the header
    on the way, the Content Credentials read back), `abort` leaves no object and frees
    the index."""

    def __init__(self, keeper: Keeper, route: Route, mime_type: str) -> None:
        self.keeper, self.route, self.mime_type = keeper, route, mime_type
        self.index = keeper.take_index()
        metadata = keeper.provenance(route)
        ext = extension(mime_type)
        try:
            self._upload = keeper.services.storage.open_upload(
                keeper.services.settings.require("outputs_bucket"),
                f"jobs/{keeper.job_id}/{self.index}.{ext}",
                mime_type,
                metadata,
            )
        except BaseException:
            keeper.release_index(self.index)
            raise
        self._stream = ImageStream(self._upload.write)

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def close(self) -> dict[str, Any]:
        self._stream.finish()
        uri = self._upload.close()
        width, height = self._stream.size or (0, 0)
        spec = self.route.spec
        priced, _ = delivered_size(spec, self.keeper.req, width, height, self.index)
        output = {
            "uri": uri,
            "mime_type": self.mime_type,
            "index": self.index,
            "width": width,
            "height": height,
            "bytes": self._stream.bytes_written,
            "priced_size": priced,
            "model": spec.id,
            "cost_usd": spec.price(priced),
            "synthid": SYNTHID,
        }
        credentials = self.keeper.credentials(uri, self.mime_type)
        if credentials is not None:
            output["content_credentials"] = credentials
        return output

    def abort(self) -> None:
        try:
            self._upload.abort()
        finally:
            self.keeper.release_index(self.index)


def delivered_size(
    spec: ModelSpec, req: JobRequest, width: int, height: int, index: int
) -> tuple[str, str | None]:
    """The size an image is priced at, and a warning when it is not what was asked (users
    of the Gemini APIs report imageSize being silently ignored)."""
    size = req.image_size or spec.default_size
    table = spec.sizes.get(size, {})
    if req.aspect_ratio:
        want = table.get(req.aspect_ratio)
        fits = want == (width, height)
        asked = f"{size} {req.aspect_ratio}" + (f" ({want[0]}x{want[1]})" if want else "")
    else:
        fits = (width, height) in table.values()
        asked = f"{size} (the input's shape)"
    if fits:
        return size, None
    priced = spec.size_of(width, height) or spec.nearest_size(width, height)
    return priced, (
        f"image {index} was delivered at {width}x{height}, not the {asked} asked for; "
        f"priced as {priced}"
    )


def call_with_retries(
    services: Services,
    spec: ModelSpec,
    req: JobRequest,
    deadline: float,
    job_id: str,
    backoff: Backoff = DEFAULT_BACKOFF,
    history: list[dict[str, Any]] | None = None,
    keeper: Keeper | None = None,
    first: Route | None = None,
    native: tuple[dict[str, Any], str] | None = None,
) -> tuple[Generation, Route, int]:
    """Try the routes until one answers. Quota errors and "not served here" move on to the
    next route at once; other transient errors back off on the same route. Raises the last
    RetryableUpstream when the time runs out, FinalUpstream when nothing can work.
    `history`: the conversation a Gemini job continues (see domain/conversation.py).
    `keeper`: stores each image as it arrives; every call asks only for the missing ones.
    `first`: the route `pace` took slots on (tried first; later calls take their own).
    `native`: (body, API version) of a Vertex-native request, sent as it is (issue 28)."""
    candidates = routes(services, spec, req)
    if first is not None and first in candidates:
        candidates.remove(first)
        candidates.insert(0, first)
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
        if calls > 1 or first is None:  # pace() took the first call's slots
            missing = keeper.missing if keeper is not None else req.number_of_images
            _slots(services, route, max(1, missing))
        try:
            labels = {**req.labels, "imagegen-job": job_id}
            more: dict[str, Any] = {"history": history} if history else {}
            if native is not None:
                more["native"] = native
            ask = req
            if keeper is not None:
                if keeper.missing <= 0:
                    return keeper.generation, route, calls - 1
                ask = req.model_copy(update={"number_of_images": keeper.missing})
                more["on_reply"] = lambda reply, route=route: keeper.keep(reply, route)
                more["on_image"] = keeper.opener(route)
            result = services.vertex.generate(
                route.spec, ask, route.location, labels=labels, timeout=remaining, **more
            )
            _log_call(job_id, route, 200)
            return (keeper.generation if keeper is not None else result), route, calls
        except FinalUpstream as exc:
            _log_call(job_id, route, exc.status)
            last = exc
            if not exc.not_served:
                raise
            missing = _missing_inputs(services, req, history, job_id)
            if missing:  # the 404 was for an input, not the model: fail, no failover
                raise ReferenceNotFound(
                    f"no such reference image: {', '.join(missing)} (Vertex AI: {exc.message})",
                    status=exc.status,
                ) from exc
            _note_not_found(services, route, exc)
            log.warning(
                "model not served here; failing over",
                extra={"job_id": job_id, "model": route.spec.id, "location": route.location},
            )
            candidates.remove(route)
            continue
        except RetryableUpstream as exc:
            _log_call(job_id, route, 429 if exc.quota else exc.status)
            last = exc
            if exc.quota and exc.status == 429 and services.limiter:
                services.limiter.throttled(route.spec.id, route.location)
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
    raise FinalUpstream(
        f"no location serves the job: {last.message}", status=last.status, not_served=True
    )


def _missing_inputs(
    services: Services, req: JobRequest, history: list[dict[str, Any]] | None, job_id: str
) -> list[str]:
    """The gs:// inputs of the call (references and earlier turns' images) that do not
    exist. Vertex answers a missing input 404 NOT_FOUND as it does a model that is gone
    (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/api-errors,
    read 2026-12-06); its message is not relied on to tell them apart. An input that cannot
    be checked counts as present, so the 404 stays the model's, as before."""
    uris = [ref.gcs_uri for ref in req.reference_images if ref.gcs_uri]
    for turn in history or []:
        uris += [p["fileData"].get("fileUri") for p in turn.get("parts") or [] if "fileData" in p]
    missing = []
    for uri in dict.fromkeys(u for u in uris if isinstance(u, str) and u.startswith("gs://")):
        try:
            if services.storage.generation(uri) is None:
                missing.append(uri)
        except Exception as exc:
            log.warning(f"could not check the input {uri}: {exc}", extra={"job_id": job_id})
    return missing


def _note_not_found(services: Services, route: Route, exc: FinalUpstream) -> None:
    """A 404 NOT_FOUND for a publisher model: the lifecycle autopilot counts it (issue 17)."""
    record_not_found(services, route.spec, route.location, exc.message)


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


def _since_submit(job: Job) -> float | None:
    """Seconds from submit to now, on terminal log lines (the job_seconds metric)."""
    created = job.created_at
    return round((utcnow() - created).total_seconds(), 3) if created else None


def native_call(services: Services, job: Job) -> tuple[dict[str, Any], str] | None:
    """(body, API version) of a Vertex-native job (issue 28): the caller's request, its
    inline images read back from where submit stored them; None for other jobs."""
    if not job.native_request:
        return None
    limit = services.settings.max_inline_image_bytes
    return vertex_request.restore(job.native_request, lambda uri: services.storage.read(uri, limit))


def _error(exc: ImagegenError | Exception, **extra: Any) -> dict[str, Any]:
    if isinstance(exc, ImagegenError):
        body = {"code": exc.code, "message": exc.message}
        if getattr(exc, "status", None):  # Vertex's HTTP status (a native answer repeats it)
            body["status"] = exc.status
    else:
        body = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
    body.update(extra)
    return body


def generate(services: Services, job_id: str, delivery_attempt: int | None = None) -> str:
    """Run one delivery of a job; returns what happened (for logs and tests)."""
    started = time.monotonic()
    s = services.settings
    paced = pace(services, job_id)  # raises PacedLater: the turn is later, hand back
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

    if job.overdue(utcnow()):
        services.jobs.finish(
            job_id,
            attempt,
            State.FAILED,
            {"error": {**job.deadline_error(), "last_error": job.error}},
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
                    "last_error": job.error,
                }
            },
        )
        log.error(
            "attempts exhausted",
            extra={**ctx, "state": "failed", "job_seconds": _since_submit(job)},
        )
        return State.FAILED.value

    req = JobRequest.model_validate(job.request)
    spec = services.catalog.get(req.model or job.model)
    if spec is None:  # retired since submit (issue 17): routed, or refused by setting
        moved = _rerouted(services, job_id, attempt, job, req)
        if moved is None:
            return State.FAILED.value
        req, spec = moved
    # The budget for Vertex starts once the job is ours: a claim that waited on contention
    # (duplicate deliveries of one message) must not leave the call no time at all, or
    # every copy would hand the job back without trying (the 60 s between the budget and
    # the function's timeout absorb the wait).
    budget_end = time.monotonic() + s.call_budget_seconds
    # The turns before this job's own (set at submit when it continues another job).
    history = list(job.conversation or [])
    keeper = Keeper(services, job_id, attempt, req, job)
    if keeper.outputs:
        log.info(
            "continuing with the images an earlier attempt stored",
            extra={**ctx, "kept": len(keeper.outputs), "missing": keeper.missing},
        )
    try:
        native = native_call(services, job)
        result, route, calls, req, spec = call_serving(
            services,
            spec,
            req,
            job,
            deadline=budget_end,
            job_id=job_id,
            history=history,
            keeper=keeper,
            first=paced,
            native=native,
        )
        fields = _outputs_fields(keeper, result, route, job)
        if fields["outputs"]:
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
        # a block after some images were stored: the job succeeded with what it has
        blocked = [{"reason": r} for r in [*keeper.blocked, exc.message]]
        state = State.BLOCKED if not keeper.outputs else State.SUCCEEDED
        end = _end_with_kept(services, job, keeper, state, exc, {"blocked_images": blocked})
        log.warning("job blocked", extra={**ctx, **end, "model": spec.id, "state": "blocked"})
        return State.BLOCKED.value
    except FinalUpstream as exc:
        # images already stored stay on the job (and are billed); the job still failed
        end = _end_with_kept(services, job, keeper, State.FAILED, exc, {})
        log.error("job failed", extra={**ctx, **end, "model": spec.id, "state": "failed"})
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
        fields["error"] = {"code": "blocked", "message": "; ".join(keeper.blocked)}
    if not fits_in_document(job.document_with(fields)):
        return finish_oversized(services, job_id, attempt, job, fields)
    try:
        finished = services.jobs.finish(job_id, attempt, state, fields)
    except InvalidArgument:  # the store refused the write itself (its size rules)
        return finish_oversized(services, job_id, attempt, job, fields)
    if not finished:
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


def _end_with_kept(
    services: Services,
    job: Job,
    keeper: Keeper,
    state: State,
    exc: ImagegenError,
    fields: dict[str, Any],
) -> dict[str, Any]:
    """Finish a job that ends on a block or a final error with the images its calls stored
    (kept and billed; the error is recorded only when there are none, or the job failed).
    Returns the end's log fields."""
    kept = {
        "outputs": keeper.outputs,
        "images_produced": len(keeper.outputs),
        "cost_usd": cost_of(keeper.outputs),
        "error": _error(exc) if state is State.FAILED or not keeper.outputs else None,
        **fields,
    }
    services.jobs.finish(keeper.job_id, keeper.attempt, state, kept)
    return {"error": exc.message, "job_seconds": _since_submit(job)}


def _rerouted(
    services: Services, job_id: str, attempt: int, job: Job, req: JobRequest
) -> tuple[JobRequest, ModelSpec] | None:
    """The job's model was retired after submit: its replacement, or the job fails with
    the reason when the deployment refuses retired names (issue 17)."""
    try:
        return reroute(services, job, req)
    except FinalUpstream as exc:
        services.jobs.finish(job_id, attempt, State.FAILED, {"error": _error(exc)})
        log.error(
            "job failed: its model is retired",
            extra={"job_id": job_id, "error": exc.message, "state": "failed"},
        )
        return None


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
    bucket = services.settings.require("outputs_bucket")
    references = []
    for index, ref in enumerate(req.reference_images):
        mime = reference_mime(ref)
        if ref.gcs_uri:
            references.append((ref.gcs_uri, mime))
            continue
        ext = extension(mime)
        data = reference_bytes(ref)
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


def _outputs_fields(keeper: Keeper, result: Generation, route: Route, job: Job) -> dict[str, Any]:
    outputs = keeper.outputs
    fields: dict[str, Any] = {
        "outputs": outputs,
        "blocked_images": [{"reason": reason} for reason in keeper.blocked],
        "text": result.text,
        "enhanced_prompt": result.enhanced_prompt,
        "usage": result.usage or None,
        "served_by": {"model": route.spec.id, "location": route.location},
        "grounding_metadata": result.grounding,
        "cost_usd": cost_of(outputs),
        "images_produced": len(outputs),
        "partial_outputs": None,  # now in `outputs`
        "partial_blocked": None,
        "partial_warnings": None,
    }
    if keeper.warnings:
        fields["warnings"] = [*job.warnings, *keeper.warnings]
    return fields
