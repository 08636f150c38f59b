"""Reading a batch: a JSON body `{"requests": [...], "webhook", "labels"}` or JSONL (one job
request a line, `Content-Type: application/jsonl`, or a `batches/*.jsonl` upload).

The whole body is bounded first (bytes, then lines: 413 / 400 naming the limit and its
setting). Then every line is checked on its own, exactly as the job API checks one request
(`validate_request`): a line that fails is rejected with the same structured error the job
API would answer, and the others go ahead. A batch with no valid line at all is a 400 that
lists every line's error.

Batch lines take what a new job takes, with three exceptions that belong to the batch as a
whole or cannot travel in a Vertex batch file: no `webhook` per line (the batch has one), no
`parent_job_id` (a batch makes new jobs), and references by gs:// URI only (inline image
data would make the input file as large as the images; upload them and refer to them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from imagegen.domain import bounded_json
from imagegen.domain.batch_facts import BATCH_PRICE_FACTOR, MAX_LINE_BYTES
from imagegen.domain.catalog import Catalog
from imagegen.domain.request import Policy, validate_request
from imagegen.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

JSONL_TYPES = frozenset(
    {"application/jsonl", "application/x-ndjson", "application/jsonlines", "application/x-jsonl"}
)
ENVELOPE_FIELDS = frozenset({"requests", "webhook", "labels"})


@dataclass(frozen=True)
class BatchLimits:
    """How much one batch may hold (settings IMAGEGEN_BATCH_MAX_ITEMS / _MAX_BYTES)."""

    max_items: int
    max_bytes: int
    max_line_bytes: int = MAX_LINE_BYTES
    max_depth: int = bounded_json.MAX_DEPTH


@dataclass(frozen=True)
class BatchItem:
    """One accepted line: the request as validation resolved it, priced as it will run."""

    line: int
    request: dict[str, Any]  # the validated request's JSON (model, region, size resolved)
    model: str
    location: str
    images: int  # Vertex requests the item makes (number_of_images)
    estimated_cost_usd: float  # at the batch price where the model is batched
    batched: bool  # False: an ordinary job (a model Vertex does not batch)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    line: int
    error: dict[str, Any]  # {"code", "message", "details"}: the job API's error body

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "error": self.error}


@dataclass
class ParsedBatch:
    items: list[BatchItem] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    webhook: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def estimated_cost_usd(self) -> float:
        return round(sum(item.estimated_cost_usd for item in self.items), 6)


def too_large(max_bytes: int, size: int | None = None) -> PayloadTooLarge:
    """The 413 of a batch over IMAGEGEN_BATCH_MAX_BYTES (`size` None: read only as far as
    the limit, its length unknown)."""
    this = f"this one is {size}" if size is not None else "this one is larger"
    return PayloadTooLarge(
        f"a batch is at most {max_bytes} bytes (IMAGEGEN_BATCH_MAX_BYTES); {this}: split it "
        "into smaller batches",
        details=[{"field": "body", "message": f"over {max_bytes} bytes"}],
    )


def is_jsonl(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in JSONL_TYPES


def parse_batch(
    raw: bytes,
    content_type: str,
    catalog: Catalog,
    policy: Policy,
    limits: BatchLimits,
    today: dt.date | None = None,
) -> ParsedBatch:
    """Every line checked; InvalidRequest / PayloadTooLarge / UnsupportedMediaType when the
    batch as a whole cannot be read, or when no line is valid."""
    if len(raw) > limits.max_bytes:
        raise too_large(limits.max_bytes, len(raw))
    if is_jsonl(content_type):
        lines, envelope = list(_jsonl_lines(raw, limits)), {}
    elif content_type.split(";")[0].strip().lower() == "application/json":
        envelope = _envelope(raw, limits)
        lines = [(n, body) for n, body in enumerate(envelope.pop("requests"), start=1)]
    else:
        raise UnsupportedMediaType(
            'send a batch as JSON ({"requests": [...]}, Content-Type: application/json) or '
            "as JSONL (one job request a line, Content-Type: application/jsonl)"
        )
    if not lines:
        raise InvalidRequest(
            "a batch needs at least one job request",
            details=[{"field": "requests", "message": "no request in the batch"}],
        )
    if len(lines) > limits.max_items:
        raise InvalidRequest(
            f"a batch holds at most {limits.max_items} requests (IMAGEGEN_BATCH_MAX_ITEMS); "
            f"this one has {len(lines)}: split it into smaller batches",
            details=[{"field": "requests", "message": f"over {limits.max_items} requests"}],
        )
    parsed = ParsedBatch()
    _batch_fields(envelope, catalog, policy, parsed, today)
    for line, body in lines:
        try:
            parsed.items.append(_item(line, body, catalog, policy, today))
        except InvalidRequest as exc:
            parsed.rejected.append(Rejection(line, exc.to_json()["error"]))
    if not parsed.items:
        raise InvalidRequest(
            f"no valid request in the batch ({len(parsed.rejected)} rejected)",
            # each a detail like any 400's ({field, message}), with the line's own error
            details=[
                {"field": f"line {r.line}", "message": r.error["message"], **r.to_json()}
                for r in parsed.rejected
            ],
        )
    return parsed


def _jsonl_lines(raw: bytes, limits: BatchLimits) -> Iterator[tuple[int, Any]]:
    """(line number, parsed body or the InvalidRequest that reading it raised); blank
    lines are skipped but counted, so numbers match what an editor shows."""
    for number, text in enumerate(raw.split(b"\n"), start=1):
        text = text.strip()
        if not text:
            continue
        if len(text) > limits.max_line_bytes:
            yield (
                number,
                InvalidRequest(
                    f"a batch line is at most {limits.max_line_bytes} bytes",
                    details=[{"field": "body", "message": f"{len(text)} bytes"}],
                ),
            )
            continue
        try:
            yield number, bounded_json.loads(text, limits.max_depth)
        except InvalidRequest as exc:
            yield number, exc


def _envelope(raw: bytes, limits: BatchLimits) -> dict[str, Any]:
    body = bounded_json.loads(raw, limits.max_depth)
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise InvalidRequest(
            'a JSON batch is an object with a "requests" list',
            details=[{"field": "requests", "message": "expected a list of job requests"}],
        )
    unknown = sorted(set(body) - ENVELOPE_FIELDS)
    if unknown:
        raise InvalidRequest(
            f"unknown batch field(s): {', '.join(unknown)}",
            details=[{"field": name, "message": "not a batch field"} for name in unknown],
        )
    return dict(body)


def _batch_fields(
    envelope: dict[str, Any],
    catalog: Catalog,
    policy: Policy,
    parsed: ParsedBatch,
    today: dt.date | None,
) -> None:
    """The batch's own webhook and labels, checked by the job API's own rules."""
    fields = {k: envelope[k] for k in ("webhook", "labels") if envelope.get(k) is not None}
    if not fields:
        return
    if isinstance(fields.get("webhook"), dict) and "events" in fields["webhook"]:
        raise InvalidRequest(
            "a batch's webhook receives its batch.completed event; `events` is a job's choice",
            details=[{"field": "webhook.events", "message": "not allowed on a batch"}],
        )
    validated = validate_request({"prompt": "-", **fields}, catalog, policy, today).request
    parsed.labels = dict(validated.labels)
    if validated.webhook is not None:
        parsed.webhook = validated.webhook.model_dump(mode="json", exclude_none=True)


def _item(
    line: int, body: Any, catalog: Catalog, policy: Policy, today: dt.date | None
) -> BatchItem:
    if isinstance(body, InvalidRequest):
        raise body
    problems = _batch_only_problems(body)
    try:
        validated = validate_request(body, catalog, policy, today)
    except InvalidRequest as exc:
        seen = {problem["field"] for problem in problems}  # one message a field
        problems += [p for p in exc.details if p.get("field") not in seen]
    if problems:  # the caller hears of every problem of the line at once
        raise InvalidRequest(
            f"{len(problems)} invalid field(s) in the job request", details=problems
        )
    request = validated.request
    model = request.model or validated.spec.id
    is_batched = validated.spec.batch_prediction  # a sourced catalog fact (lineup.py)
    factor = BATCH_PRICE_FACTOR if is_batched else 1.0
    return BatchItem(
        line=line,
        request=validated.to_json(),
        model=model,
        location=request.region or validated.spec.default_location,
        images=request.number_of_images,
        estimated_cost_usd=round(validated.estimated_cost_usd * factor, 6),
        batched=is_batched,
        warnings=tuple(validated.warnings),
    )


def _batch_only_problems(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return [{"field": "body", "message": "expected a JSON object"}]
    problems = []
    if body.get("webhook") is not None:
        problems.append(
            {"field": "webhook", "message": "set the webhook on the batch, not on a line"}
        )
    if body.get("parent_job_id") is not None:
        problems.append(
            {"field": "parent_job_id", "message": "a batch makes new jobs; refine one by one"}
        )
    refs = body.get("reference_images")
    for index, ref in enumerate(refs if isinstance(refs, list) else []):
        if isinstance(ref, dict) and ref.get("data") is not None:
            problems.append(
                {
                    "field": f"reference_images.{index}.data",
                    "message": "a batch takes references by gcs_uri only: upload the image "
                    "and refer to it",
                }
            )
    return problems
