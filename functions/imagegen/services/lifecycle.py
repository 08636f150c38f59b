"""The model lifecycle autopilot (issue 17): a shutdown is absorbed without a redeploy.

- The worker records every 404 NOT_FOUND Vertex gives for a publisher model, per model and
  location. When a job has met 404 in every location it may call (its region and the
  deployment's fallbacks: whatever the catalog lists or the deployment allows), Model
  Garden is asked at once; a model it no longer publishes (or a deprecated one Vertex no
  longer serves this project) is retired in the overlay with its replacement, in one
  Firestore transaction: however many workers see it at once, one commits and writes the
  single `model_retired` log line; the others find it done.
- The job in hand (services/routes.py: `serve`), and every later one, is then re-validated
  against the live catalog as a request for the retired name, which routes it to the
  replacement (or refuses it, per `IMAGEGEN_RETIRED_MODELS`) exactly like a request for any
  name Google shut down.
- The daily check (`check_models`, run by Cloud Scheduler through `sweep`) asks Model Garden
  about each catalog model, records its launch stage, and retires one Google no longer
  publishes before any job is sent to it. It spends no generation call. It also lists
  Model Garden and announces the image models the catalog lacks (services/discovery.py).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain.catalog import (
    ModelSpec,
    Overlay,
    OverlayRetirement,
    apply_overlay,
    replacement_for,
)
from imagegen.domain.job import Job
from imagegen.domain.request import JobRequest, validate_request
from imagegen.errors import FinalUpstream, ImagegenError
from imagegen.logs import get_logger
from imagegen.ports import PublisherModelState
from imagegen.services import discovery

log = get_logger("imagegen.lifecycle")
NOT_FOUND_WINDOW = dt.timedelta(hours=1)  # older 404s are not named in a retirement
# A "still published" answer a job got is reused this long (only a job's: the daily check's
# answer may predate a shutdown)
GARDEN_REUSE = dt.timedelta(seconds=30)
AUTOPILOT = "imagegen-autopilot"
CLAIM_STALE = dt.timedelta(seconds=20)  # a retirement claim with no overlay write after this


class ModelRetired(FinalUpstream):
    """The job's model is retired and the deployment refuses (or cannot route) it."""

    code = "model_retired"


# --- retiring ------------------------------------------------------------------------------


def retire(
    services: Services,
    model_id: str,
    replacement: str,
    *,
    who: str,
    source: str,
    reason: str,
) -> bool:
    """Mark a model retired in the overlay, once. Returns True for the one call that wrote
    it (and logged `model_retired`), False when it was retired already.

    The first caller claims the retirement (an atomic create) and writes the overlay in a
    transaction; the others wait until the overlay shows it (so the job each holds is
    rerouted, not failed). A claim older than CLAIM_STALE whose overlay entry never came
    (the winner crashed) is taken over."""
    store = services.catalog_store
    if model_id in store.read()["overlay"].retired:
        services.live_catalog.refresh()
        return False
    claimed, at = store.claim_retirement(model_id)
    if not claimed and at is not None and dt.datetime.now(dt.UTC) - at < CLAIM_STALE:
        _wait_for_retirement(services, model_id)
        return False
    today = dt.datetime.now(dt.UTC).date()

    def edit(overlay: Overlay) -> Overlay | None:
        if model_id in overlay.retired:
            return None
        gone = OverlayRetirement(
            replacement=replacement, shutdown_date=today, reason=reason, source=source
        )
        new = overlay.model_copy(update={"retired": {**overlay.retired, model_id: gone}})
        _check(services, new)
        return new

    wrote, record = services.catalog_store.change(
        who, f"retire {model_id} -> {replacement} ({source}: {reason})", edit
    )
    services.live_catalog.refresh()
    if wrote:
        log.warning(
            f"model {model_id} retired; requests now go to {replacement}",
            extra={
                "code": "model_retired",
                "model": model_id,
                "replacement": replacement,
                "source": source,
                "reason": reason,
                "policy": services.settings.retired_models,
                "catalog_version": record["version"],
            },
        )
    return wrote


def _wait_for_retirement(services: Services, model_id: str) -> None:
    """Until the claiming worker's overlay write shows (bounded by CLAIM_STALE)."""
    end = time.monotonic() + CLAIM_STALE.total_seconds()
    while time.monotonic() < end:
        if model_id in services.catalog_store.read()["overlay"].retired:
            break
        time.sleep(0.2)
    services.live_catalog.refresh()


def _check(services: Services, overlay: Overlay) -> None:
    """The overlay must make a valid catalog on top of the code's table (same schema)."""
    apply_overlay(services.base_catalog, overlay)


def record_not_found(services: Services, spec: ModelSpec, location: str, message: str) -> None:
    """The worker saw 404 NOT_FOUND for this model here (called once per failed route)."""
    try:
        services.catalog_store.record_not_found(spec.id, location, message)
    except Exception:  # the job's own outcome must not depend on this bookkeeping
        log.exception("could not record a 404 for the model", extra={"model": spec.id})


def not_found_in(services: Services, spec: ModelSpec) -> list[str]:
    """The locations where the model answered 404 NOT_FOUND within NOT_FOUND_WINDOW."""
    seen = services.catalog_store.observations(spec.id).get("not_found") or {}
    cutoff = dt.datetime.now(dt.UTC) - NOT_FOUND_WINDOW
    return sorted(loc for loc, hit in seen.items() if hit["at"] >= cutoff)


def absorb_not_found(services: Services, spec: ModelSpec, job_id: str) -> bool:
    """A job found no location serving its model: every route it may call (its region, the
    deployment's fallback locations) answered 404 NOT_FOUND. Ask Model Garden at once (no
    generation call) and retire the model when it is gone, whatever the catalog lists or
    the deployment allows (issue 30: waiting for a 404 from every location the catalog
    lists never came where those locations are not called). True: reroute the job."""
    if services.catalog.get(spec.id) is None:  # retired meanwhile (another worker)
        return True
    state = _publisher_state(services, spec, job_id)
    if state is None:
        return False
    # A 404 may also mean "not for this project" or a regional gap: a model Model Garden
    # still publishes is kept, unless Vertex announced its retirement - a legacy model may
    # be closed to new projects before its date, and then this deployment cannot call it.
    if state.found and spec.shutdown_date is None:
        log.warning(
            f"model {spec.id} answers 404 in every location this job may call but Model "
            f"Garden still publishes it ({state.launch_stage}); not retired",
            extra={"job_id": job_id, "model": spec.id, "code": "model_404_still_published"},
        )
        return False
    replacement = replacement_for(services.catalog, spec)
    if replacement is None:
        log.error(
            f"model {spec.id} is gone and has no replacement to route to",
            extra={"job_id": job_id, "model": spec.id, "code": "model_gone_no_replacement"},
        )
        return False
    where = ", ".join(not_found_in(services, spec)) or "every location called"
    garden = (
        "Model Garden: not found"
        if not state.found
        else f"Model Garden still lists it; Vertex retires it on {spec.shutdown_date}"
    )
    retire(
        services,
        spec.id,
        replacement,
        who=AUTOPILOT,
        source="vertex_404",
        reason=f"Vertex answered 404 NOT_FOUND in {where}; {garden}",
    )
    return services.catalog.get(spec.id) is None


def _publisher_state(
    services: Services, spec: ModelSpec, job_id: str
) -> PublisherModelState | None:
    """What Model Garden says of the model: a job's check younger than GARDEN_REUSE that
    found it is reused (fifty jobs meeting one access gap ask once, not fifty times); None
    when Model Garden cannot be reached."""
    seen = services.catalog_store.observations(spec.id).get("model_garden") or {}
    at = seen.get("at")
    fresh = at is not None and dt.datetime.now(dt.UTC) - at < GARDEN_REUSE
    if seen.get("found") and seen.get("asked_by") == "job" and fresh:
        return PublisherModelState(spec.id, True, seen.get("launch_stage"), seen.get("version_id"))
    location = services.settings.model_check_location
    try:
        state = services.model_garden.publisher_model(spec.id, location)
    except Exception as exc:
        log.warning(
            f"model {spec.id} answers 404 everywhere the job may call but Model Garden "
            f"could not confirm: {exc}",
            extra={"job_id": job_id, "model": spec.id},
        )
        return None
    services.catalog_store.record_check(
        spec.id, {**state.to_json(), "location": location, "asked_by": "job"}
    )
    return state


# --- rerouting a job -----------------------------------------------------------------------


def reroute(services: Services, job: Job, req: JobRequest) -> tuple[JobRequest, ModelSpec]:
    """The job's request re-validated as a request for its (now retired) model: routed to
    the replacement, or ModelRetired when the deployment refuses retired names."""
    catalog = services.catalog
    body = {k: v for k, v in job.request.items() if k != "model_requested"}
    body["model"] = req.model or job.model
    old = catalog.retired_model(body["model"])
    new = catalog.get(old.replacement) if old else None
    if new is not None and body.get("region") not in new.locations:
        body.pop("region", None)  # the replacement's default location
    try:
        validated = validate_request(body, catalog, services.policy)
    except ImagegenError as exc:
        details = getattr(exc, "details", None) or []
        why = "; ".join(d["message"] for d in details) or exc.message
        raise ModelRetired(f"model {body['model']} is retired: {why}", status=404) from exc
    return validated.request, validated.spec


# --- the daily look-ahead ------------------------------------------------------------------


def check_models(services: Services) -> dict[str, Any]:
    """Ask Model Garden about every model the catalog serves; record launch stage and
    availability; retire the ones Google no longer publishes. No generation call."""
    location = services.settings.model_check_location
    checked: dict[str, Any] = {}
    for spec in list(services.catalog):
        try:
            state = services.model_garden.publisher_model(spec.id, location)
        except Exception as exc:  # unreachable today: try again tomorrow, change nothing
            log.warning(f"model check failed for {spec.id}: {exc}", extra={"model": spec.id})
            checked[spec.id] = {"error": str(exc)[:300]}
            continue
        services.catalog_store.record_check(spec.id, {**state.to_json(), "location": location})
        checked[spec.id] = state.to_json()
        if state.found:
            continue
        replacement = replacement_for(services.catalog, spec)
        if replacement is None:
            log.error(
                f"model {spec.id} is gone from Model Garden and has no replacement",
                extra={"model": spec.id, "code": "model_gone_no_replacement"},
            )
            continue
        retire(
            services,
            spec.id,
            replacement,
            who=AUTOPILOT,
            source="model_garden",
            reason=f"Model Garden answered NOT_FOUND ({location})",
        )
        checked[spec.id]["retired"] = replacement
    arrivals = discovery.check(services, location)
    return {
        "checked": checked,
        "arrivals": arrivals,
        "catalog_version": services.live_catalog.record()["version"],
    }


# --- what `imagegen models` shows -----------------------------------------------------------


def facts(services: Services) -> dict[str, Any]:
    """Per model: stage, shutdown date, replacement, and where each fact came from."""
    record = services.live_catalog.record()
    overlay: Overlay = record.get("overlay") or Overlay()
    try:
        observations = services.catalog_store.all_observations()
    except Exception:
        observations = {}
    out: dict[str, Any] = {}
    catalog = services.catalog
    for spec in catalog:
        patched = overlay.models.get(spec.id, {})
        seen = observations.get(spec.id, {})
        garden = seen.get("model_garden") or {}
        out[spec.id] = {
            "lifecycle": spec.lifecycle.value,
            "lifecycle_source": "overlay" if "lifecycle" in patched else "code",
            "launch_stage": garden.get("launch_stage"),
            "launch_stage_source": _when("model_garden", garden.get("at")) if garden else None,
            "shutdown_date": spec.shutdown_date.isoformat() if spec.shutdown_date else None,
            "shutdown_source": "overlay" if "shutdown_date" in patched else "code",
            "retirement_not_before": (
                spec.retirement_not_before.isoformat() if spec.retirement_not_before else None
            ),
            "replacement": replacement_for(catalog, spec),
            "replacement_source": (
                "overlay"
                if "replacement" in patched
                else "code"
                if spec.replacement
                else "default model"
            ),
            "not_found_in": sorted((seen.get("not_found") or {}).keys()),
        }
    for old in catalog.retired_models():
        gone = overlay.retired.get(old.id)
        out[old.id] = {
            "lifecycle": "retired",
            "lifecycle_source": f"overlay ({gone.source})" if gone else "code",
            "shutdown_date": old.shutdown_date.isoformat(),
            "shutdown_source": f"overlay ({gone.source})" if gone else "code",
            "replacement": old.replacement,
            "replacement_source": f"overlay ({gone.source})" if gone else "code",
        }
    return out


def _when(source: str, at: Any) -> str:
    return f"{source} {at.isoformat() if hasattr(at, 'isoformat') else at}"
