"""Backoff for upstream calls: exponential, full jitter, honouring a server-given delay and
never sleeping past the time this invocation has left."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 32.0
    multiplier: float = 2.0

    def delay(self, attempt: int, retry_after: float | None = None, rng=random) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        delay = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay


def fits(delay: float, now: float, deadline: float) -> bool:
    """Whether sleeping `delay` still leaves time before `deadline` (monotonic seconds)."""
    return now + delay < deadline
