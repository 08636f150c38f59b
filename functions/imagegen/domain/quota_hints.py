"""What a Vertex AI 429 says about the quota it hit, and what a job does about it (issue 27).

Vertex answers a quota error as HTTP 429 / RESOURCE_EXHAUSTED with a `google.rpc.Status` body
whose `details[]` may carry `google.rpc.RetryInfo` (`retryDelay`: "clients should wait at
least this long"), `google.rpc.QuotaFailure` (`violations[]`: `quotaId`, `quotaMetric`,
`quotaValue`, `quotaDimensions`) and `google.rpc.ErrorInfo` (`reason` RATE_LIMIT_EXCEEDED,
`metadata.quota_limit`, `quota_metric`, `quota_limit_value`)
(https://github.com/googleapis/googleapis/blob/master/google/rpc/error_details.proto, read
2026-12-06). The message tells the two quota frameworks apart: pay-as-you-go "Resource
exhausted, please try again later." and Provisioned Throughput "Too many requests. Exceeded
the Provisioned Throughput."
(https://cloud.google.com/vertex-ai/generative-ai/docs/provisioned-throughput/error-code-429,
read 2026-12-06). A PT 429 comes only when the endpoint rejects overages, and PT is a
throughput (per second) reservation: it frees up in seconds, like a minute's quota.

Which quota: Google's quota system names rate limits by their period ("a rate limit resets
after a specified time, such as a minute or a day",
https://cloud.google.com/service-usage/docs/service-quota-model, read 2026-12-06), e.g.
`GenerateRequestsPerDayPerProjectPerModel` or the unit `1/d/{project}`. Gemini image models
on Vertex have no per-project quota of their own (dynamic shared quota,
https://docs.cloud.google.com/vertex-ai/generative-ai/docs/quotas-genai, read 2026-11-25);
a per-day limit comes from a consumer quota override set to cap cost, which Vertex's 429 page
names as a cause ("If you've set a consumer override and configured it to control cost,
then increase the limit").

When a day resets: Google does not say for Vertex. Google APIs that state it end the day at
midnight Pacific time (https://developers.google.com/android-publisher/quotas, read
2026-12-06). The safe value is taken: 08:00 UTC (midnight at UTC-8, Pacific standard time),
never earlier than the true midnight, with a `retryDelay` that points later winning. A
per-day 429 may still carry a short `retryDelay` (users of the Gemini API report "retry in
34 s" on a per-day quota, UKGovernmentBEIS/inspect_ai#5526): for a day it is not the reset.

google-genai (3.6.1) does not read `RetryInfo` at all (googleapis/python-genai#1875, open);
this module is ours.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

PROVISIONED_THROUGHPUT_WORDING = "provisioned throughput"
# the day's end taken for a per-day quota: midnight at UTC-8 (see the module's docstring)
DAY_RESET_UTC_OFFSET = dt.timedelta(hours=-8)
_DAY = re.compile(r"per[ _-]?day|perday|daily|(^|[/_])d(/|$)|_day_|1/d\b", re.IGNORECASE)
_MINUTE = re.compile(r"per[ _-]?min(ute)?|perminute|/min\b|_minute_|1/min\b", re.IGNORECASE)


class QuotaScope(StrEnum):
    """Which quota a 429 hit."""

    SHARED = "shared"  # pay-as-you-go shared pool: no quota named
    MINUTE = "minute"  # a per-minute quota
    DAY = "day"  # a per-day quota
    PROVISIONED_THROUGHPUT = "provisioned_throughput"
    UNKNOWN = "unknown"  # a quota named, of a period not recognised: treated like a minute's


@dataclass(frozen=True)
class QuotaLimit:
    """One quota the error names (a QuotaFailure violation or an ErrorInfo)."""

    quota_id: str = ""
    quota_metric: str = ""
    quota_value: int | None = None
    description: str = ""

    @property
    def names(self) -> str:
        return " ".join(filter(None, (self.quota_id, self.quota_metric, self.description)))


@dataclass(frozen=True)
class QuotaHint:
    """What one 429 told us: the scope, the server's delay and, where known, the reset."""

    scope: QuotaScope = QuotaScope.SHARED
    retry_delay: float | None = None  # RetryInfo.retryDelay, seconds
    limit: QuotaLimit | None = None  # the quota that decided the scope
    resets_at: dt.datetime | None = None

    @property
    def wording(self) -> str:
        """The outcome in words, for job errors and logs."""
        named = f" ({self.limit.quota_id or self.limit.quota_metric})" if self.limit else ""
        when = f"; it resets at {iso(self.resets_at)}" if self.resets_at else ""
        return {
            QuotaScope.SHARED: "Vertex AI's shared capacity is exhausted for now",
            QuotaScope.MINUTE: f"a per-minute Vertex AI quota is exhausted{named}",
            QuotaScope.DAY: f"a per-day Vertex AI quota is exhausted{named}",
            QuotaScope.PROVISIONED_THROUGHPUT: "the Provisioned Throughput is exceeded",
            QuotaScope.UNKNOWN: f"a Vertex AI quota is exhausted{named}",
        }[self.scope] + when


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def scope_of(message: str, limits: Iterable[QuotaLimit]) -> tuple[QuotaScope, QuotaLimit | None]:
    """The scope of a 429 from its message and the quotas it names. A day outranks a minute
    (a body may list both; waiting a minute does not help when the day is spent)."""
    if PROVISIONED_THROUGHPUT_WORDING in message.lower():
        return QuotaScope.PROVISIONED_THROUGHPUT, None
    limits = list(limits)
    if "quota exceeded" in message.lower():
        # older quota errors name the metric only in the text: "Quota exceeded for
        # aiplatform.googleapis.com/generate_content_requests_per_minute_per_project_..."
        limits.append(QuotaLimit(description=message))
    for pattern, scope in ((_DAY, QuotaScope.DAY), (_MINUTE, QuotaScope.MINUTE)):
        for limit in limits:
            if pattern.search(limit.names):
                return scope, limit
    if limits:
        return QuotaScope.UNKNOWN, limits[0]
    return QuotaScope.SHARED, None


def day_reset(now: dt.datetime) -> dt.datetime:
    """The next end of a quota day after `now`: midnight at UTC-8 (08:00 UTC)."""
    local = now.astimezone(dt.timezone(DAY_RESET_UTC_OFFSET))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    return midnight.astimezone(dt.UTC)


def hint(
    message: str,
    retry_delay: float | None,
    limits: Iterable[QuotaLimit],
    now: dt.datetime,
) -> QuotaHint:
    """The hint a 429 carries: its scope, the server's delay, and when it resets (a day: the
    later of the delay and the day's end; otherwise after the delay, when there is one)."""
    scope, limit = scope_of(message, limits)
    after_delay = now + dt.timedelta(seconds=retry_delay) if retry_delay is not None else None
    resets_at = after_delay
    if scope is QuotaScope.DAY:
        resets_at = max(filter(None, (after_delay, day_reset(now))))
    return QuotaHint(scope, retry_delay, limit, resets_at)


class Action(StrEnum):
    RETRY = "retry"  # wait `delay` in this invocation, then call again
    HAND_BACK = "hand_back"  # not in this invocation: deliver the job again, not before `until`
    PARK = "park"  # the quota is spent until `until`: keep the job queued until then
    FAIL = "fail"  # it resets after the job's deadline: end the job `quota_exhausted`


@dataclass(frozen=True)
class QuotaDecision:
    action: Action
    delay: float = 0.0  # RETRY: seconds before the next call
    until: dt.datetime | None = None  # HAND_BACK / PARK: not before; FAIL: the reset
    reason: str = ""


def decide(
    found: QuotaHint,
    now: dt.datetime,
    *,
    backoff: float,
    time_left: float,
    deadline_at: dt.datetime | None,
) -> QuotaDecision:
    """What a job does after a 429 (the worker's policy, pure so it is tested alone).

    - A per-day quota: no call can succeed before it resets, so none is made. The job waits
      for the reset without being delivered in between (PARK) when the reset comes before its
      deadline, and otherwise ends now as `quota_exhausted`, saying when the quota resets
      (FAIL), rather than being handed back and retried for hours.
    - Anything else (the shared pool, a minute's quota, Provisioned Throughput, a quota not
      recognised): wait the longer of the server's delay and our backoff, in this invocation
      when that fits in `time_left` (RETRY), else hand the job back not before then."""
    if found.scope is QuotaScope.DAY:
        reset = found.resets_at or day_reset(now)
        if deadline_at is not None and reset >= deadline_at:
            return QuotaDecision(
                Action.FAIL,
                until=reset,
                reason=f"{found.wording}, after this job's deadline ({iso(deadline_at)})",
            )
        return QuotaDecision(Action.PARK, until=reset, reason=found.wording)
    delay = max(backoff, found.retry_delay or 0.0)
    if delay < time_left:
        return QuotaDecision(Action.RETRY, delay=delay, reason=found.wording)
    return QuotaDecision(
        Action.HAND_BACK, until=now + dt.timedelta(seconds=delay), reason=found.wording
    )


def exhausted_error(decision: QuotaDecision, found: QuotaHint) -> dict[str, object]:
    """The job's error when a quota ends it (FAIL): the code, the words, when it resets."""
    assert decision.until is not None
    return {
        "code": "quota_exhausted",
        "message": decision.reason,
        "scope": found.scope.value,
        "resets_at": iso(decision.until),
    }
