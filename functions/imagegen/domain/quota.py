"""Rate limits and daily budgets: what a submission may spend, decided before it is queued.

Pure rules over counters; the job store reads and writes the counters in the same Firestore
transaction that creates the job, so two requests at the edge of a budget cannot both pass.
Budgets reserve the job's estimated cost at submit; when the job ends with fewer images
(blocked, failed, cancelled), the difference is given back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagegen.errors import BudgetExceeded, RateLimited

if TYPE_CHECKING:
    from imagegen.domain.job import Job

ALL_CALLERS = "*"


@dataclass(frozen=True)
class Limits:
    """0 means no limit. Per caller and for the whole deployment."""

    caller_requests_per_minute: int = 0
    global_requests_per_minute: int = 0
    caller_usd_per_day: float = 0.0
    global_usd_per_day: float = 0.0

    @property
    def enabled(self) -> bool:
        return any(
            (
                self.caller_requests_per_minute,
                self.global_requests_per_minute,
                self.caller_usd_per_day,
                self.global_usd_per_day,
            )
        )


def minute_of(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M")


def day_of(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%d")


def counter_ids(caller: str, now: dt.datetime) -> dict[str, str]:
    """Firestore document ids of the four counters a submission touches."""
    safe = caller.replace("/", "_")[:200]
    return {
        "caller_minute": f"rate|{safe}|{minute_of(now)}",
        "global_minute": f"rate|{ALL_CALLERS}|{minute_of(now)}",
        "caller_day": f"spend|{safe}|{day_of(now)}",
        "global_day": f"spend|{ALL_CALLERS}|{day_of(now)}",
    }


def shard_count(key: str, limits: Limits, shards: int) -> int:
    """How many shards a counter is spread over (the distributed-counter pattern, issue 18).

    Firestore sustains about one write a second on one document. A rate counter with a limit
    of L a minute takes at most L accepted writes a minute (a refusal writes nothing), so it
    needs ceil(L / 60) shards and no more; budgets and unlimited counters take
    `shards` (IMAGEGEN_COUNTER_SHARDS, sized to the deployment's peak submissions a second).

    Overshoot bound. One shard: exact, as before (read, check, rewrite on the
    precondition that it has not changed). Several shards: a submission sums them with an
    aggregation query, checks, and charges a random shard with a server-side increment in
    the batch that creates the job, so no charge is ever lost, and a check misses only the
    charges of submissions between their own sum and commit at the same moment: the total
    passes the limit by at most (submissions in flight at once - 1) x the largest single
    charge — at most `max_instance_count` x `max_instance_request_concurrency` of submit
    (Terraform) and, in practice, the submissions of one read-check-commit round trip
    (~20 ms: 4 jobs at 200 submits/s). Sequential submissions are exact.
    """
    if key.endswith("minute"):
        limit = (
            limits.caller_requests_per_minute
            if key.startswith("caller")
            else limits.global_requests_per_minute
        )
        if limit:
            return max(1, min(shards, -(-limit // 60)))
    return max(1, shards)


def limited(key: str, limits: Limits) -> bool:
    """Whether a counter has a limit: one without is neither read nor written (issue 18: a
    counter nothing checks would only be a hot document; usage reports query the jobs)."""
    return bool(
        {
            "caller_minute": limits.caller_requests_per_minute,
            "global_minute": limits.global_requests_per_minute,
            "caller_day": limits.caller_usd_per_day,
            "global_day": limits.global_usd_per_day,
        }[key]
    )


def shard_ids(counter_id: str, count: int) -> list[str]:
    """Shard 0 keeps the counter's own id (one shard = the unsharded document)."""
    return [counter_id, *(f"{counter_id}|{index}" for index in range(1, count))]


def check(
    limits: Limits, counters: dict[str, dict[str, Any]], cost_usd: float, now: dt.datetime
) -> None:
    """Raise RateLimited or BudgetExceeded if this submission would pass a limit."""
    next_minute = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    retry_after = max(1, int((next_minute - now).total_seconds() + 0.999))
    for key, limit, who in (
        ("caller_minute", limits.caller_requests_per_minute, "you"),
        ("global_minute", limits.global_requests_per_minute, "everyone"),
    ):
        if limit and counters.get(key, {}).get("requests", 0) + 1 > limit:
            raise RateLimited(
                f"rate limit: {limit} requests a minute for {who}; retry in {retry_after} s",
                retry_after=retry_after,
            )
    tomorrow = dt.datetime.combine(
        now.astimezone(dt.UTC).date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    for key, limit, who in (
        ("caller_day", limits.caller_usd_per_day, "your"),
        ("global_day", limits.global_usd_per_day, "the deployment's"),
    ):
        spent = counters.get(key, {}).get("reserved_usd", 0.0)
        if limit and spent + cost_usd > limit + 1e-9:
            raise BudgetExceeded(
                f"{who} daily budget of ${limit:.2f} would be exceeded: ${spent:.4f} spent, "
                f"this job estimates ${cost_usd:.4f}",
                reset_at=tomorrow,
                retry_after=int((tomorrow - now).total_seconds()) + 1,
            )


def charged(
    counters: dict[str, dict[str, Any]], cost_usd: float, caller: str, now: dt.datetime
) -> dict[str, dict[str, Any]]:
    """The counters after this submission."""
    out = {}
    for key, doc in counters.items():
        doc = dict(doc)
        if key.endswith("minute"):
            doc["requests"] = doc.get("requests", 0) + 1
        else:
            doc["reserved_usd"] = round(doc.get("reserved_usd", 0.0) + cost_usd, 6)
            doc["jobs"] = doc.get("jobs", 0) + 1
            doc["caller"] = caller if key == "caller_day" else ALL_CALLERS
            doc["day"] = day_of(now)
        out[key] = doc
    return out


def usage_report(jobs: list[Job]) -> dict[str, Any]:
    """Totals over jobs, overall and per caller and per served model (GET /v1/usage)."""

    def empty() -> dict[str, Any]:
        return {
            "jobs": 0,
            "images_requested": 0,
            "images_produced": 0,
            "estimated_usd": 0.0,
            "cost_usd": 0.0,
            "states": {},
        }

    total = empty()
    by_caller: dict[str, dict[str, Any]] = {}
    by_model: dict[str, dict[str, Any]] = {}
    for job in jobs:
        caller = job.caller
        model = job.served_model or "?"
        for bucket in (
            total,
            by_caller.setdefault(caller, empty()),
            by_model.setdefault(model, empty()),
        ):
            bucket["jobs"] += 1
            bucket["images_requested"] += job.request.get("number_of_images", 1)
            bucket["images_produced"] += job.images_produced or 0
            bucket["estimated_usd"] += job.estimated_cost_usd or 0.0
            bucket["cost_usd"] += job.cost_usd or 0.0
            bucket["states"][job.state] = bucket["states"].get(job.state, 0) + 1
    for bucket in (total, *by_caller.values(), *by_model.values()):
        bucket["estimated_usd"] = round(bucket["estimated_usd"], 6)
        bucket["cost_usd"] = round(bucket["cost_usd"], 6)
    return {"total": total, "by_caller": by_caller, "by_model": by_model}
