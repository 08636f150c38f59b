"""Retrying Firestore writes that lost to another writer on the same documents, with
google.api_core.retry (exponential backoff with full jitter, a bounded total time).

Why our own retries at all: the client retries an aborted commit at once, but a read that
times out waiting for another transaction's lock raises Aborted straight away, and when the
client's own attempts run out it raises ValueError("Failed to commit transaction in N
attempts"). Under contention (hot counters, duplicate deliveries) both need a pause before
the next try.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.api_core import exceptions, retry

from imagegen.errors import Unavailable

T = TypeVar("T")
BUDGET_SECONDS = 20.0


def _transaction_gave_up(exc: Exception) -> bool:
    return isinstance(exc, ValueError) and "transaction" in str(exc)


def contention(
    *retried: type[Exception],
    initial: float,
    maximum: float,
    transactions: bool = True,
    budget: float = BUDGET_SECONDS,
) -> retry.Retry:
    """A policy retrying `retried` (and, with `transactions`, a transaction the client gave
    up on): pauses drawn from [0, initial], doubling up to `maximum`, for `budget` seconds
    in all (a pause that would end past it raises RetryError instead)."""
    typed = retry.if_exception_type(*retried)
    return retry.Retry(
        predicate=lambda exc: typed(exc) or (transactions and _transaction_gave_up(exc)),
        initial=initial,
        maximum=maximum,
        multiplier=2.0,
        timeout=budget,
    )


def or_busy(policy: retry.Retry, call: Callable[[], T]) -> T:
    """`call` under `policy`; when the time runs out, Unavailable (a 503, or a redelivery
    of the event) naming the last error."""
    try:
        return policy(call)()
    except exceptions.RetryError as exc:
        raise Unavailable(f"the job store is busy, try again: {exc.cause}") from exc.cause
