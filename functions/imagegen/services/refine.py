"""Continuing a job's conversation (`parent_job_id`): loading and checking the parent.

Called by `submission.submit` after the request passed `validate_request` and before the
job is recorded, so a refinement that cannot work is refused with nothing written.
"""

from __future__ import annotations

from typing import Any

from imagegen.bootstrap import Services
from imagegen.domain import conversation
from imagegen.domain.job import State
from imagegen.domain.request import ValidatedRequest
from imagegen.errors import InvalidRequest, NotFound

FIELD = "parent_job_id"


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, details=[{"field": FIELD, "message": message}])


def resolve_parent(
    services: Services, validated: ValidatedRequest, parent_job_id: str, caller: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The turns the new job sends before its own user turn, and warnings for the job.

    NotFound (404) when the parent does not exist or belongs to another caller: the answer
    is the same in both cases, so nobody learns of another caller's job. InvalidRequest
    (400, field `parent_job_id`) when it cannot be continued: not `succeeded`, or made by a
    model without multi-turn conversations (Imagen)."""
    parent = services.jobs.get(parent_job_id)
    if parent is None or parent.caller != caller:
        raise NotFound(
            f"no job {parent_job_id}",
            details=[{"field": FIELD, "message": f"no job {parent_job_id}"}],
        )
    if parent.state != State.SUCCEEDED:
        raise _invalid(
            f"job {parent_job_id} is {parent.state}; only a succeeded job can be continued"
        )
    parent_model = parent.served_model
    parent_spec = services.catalog.get(parent_model)
    if parent_spec is None or not parent_spec.multi_turn:
        raise _invalid(
            f"job {parent_job_id} was made by {parent_model or 'an unknown model'}, "
            "which has no multi-turn conversations; only Gemini image jobs can be continued"
        )
    warnings: list[str] = []
    turns = [turn.to_json() for turn in parent.conversation or []]
    if not turns:
        turns, warnings = conversation.reconstruct(parent.to_document())
    spec = validated.spec
    prefix, more = conversation.continue_from(
        turns,
        parent_model=parent_model,
        model=spec.id,
        max_images=spec.max_reference_images,
        new_images=len(validated.request.reference_images),
    )
    return prefix, warnings + more
