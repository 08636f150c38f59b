"""Pacing Vertex AI calls: which one-second slots a call may take, and how the rate adapts.

Why slots and not a token bucket: a bucket is one document every worker rewrites on every
call — the hot document this design exists to avoid. Here time is cut into one-second
windows and each window of a model+location has a fixed number of slots; a call *creates*
the slot document it takes (`<model>|<location>|<window>|<k>`), which fails if another
worker took it first. Every slot document is written once, ever, so no document is hot
however many workers run, and the slots of a window can never be over-granted.

Allowance: a target of `q` calls a second (the deployment's Vertex quota per minute / 60,
times the adaptive factor) gives window `i` `floor((i+1)q) - floor(iq)` slots, so 0.5/s
is one slot every other second and 2.5/s alternates 2 and 3; any 60 consecutive windows
hold at most ceil(60q) slots.

Adapting (AIMD): Gemini models on Vertex use dynamic shared quota — no fixed per-project
limit, 429 RESOURCE_EXHAUSTED when the shared pool is short, usually with no retry hint —
so a 429 that still comes cuts the factor by a quarter (multiplicative decrease, at most once per
`cooldown` seconds, so a burst of 429s is one cut) and the factor then grows back
linearly with time (additive increase). The increase needs no write: it is computed from
the time of the last cut, so the state document is written only on a cut.

Hints (issue 27): a 429 that says when its quota frees (RetryInfo, a per-day quota's end:
domain/quota_hints.py) also blocks the route until then (`blocked_until` in the same state
document), so no worker spends a call that cannot succeed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    window: int  # unix second
    index: int

    def doc_id(self, model: str, location: str) -> str:
        return f"{model}|{location}|{self.window}|{self.index}"


def allowance(window: int, per_second: float) -> int:
    """Slots in one window at `per_second` calls a second (fractions spread evenly)."""
    if per_second <= 0:
        return 0
    return math.floor((window + 1) * per_second) - math.floor(window * per_second)


def horizon(now: float, per_second: float, horizon_seconds: float) -> list[Slot]:
    """Every slot from the window holding `now` to `horizon_seconds` ahead, earliest first."""
    first = math.floor(now)
    last = first + max(0, math.floor(horizon_seconds))
    return [
        Slot(window, index)
        for window in range(first, last + 1)
        for index in range(allowance(window, per_second))
    ]


def plan(
    now: float,
    count: int,
    per_second: float,
    horizon_seconds: float,
    taken: set[Slot],
    not_before: float = 0.0,
) -> list[Slot]:
    """The earliest `count` free slots from the window holding `now` up to `horizon_seconds`
    ahead, none starting before `not_before` (a reset Vertex told us, issue 27), or [] when
    there are not that many: the caller hands the job back."""
    first = math.ceil(not_before) if not_before > now else 0
    free = [
        s for s in horizon(now, per_second, horizon_seconds) if s not in taken and s.window >= first
    ]
    return free[:count] if len(free) >= count else []


def blocked_until(state: dict | None) -> float:
    """Until when (unix seconds) Vertex said this route's quota is spent; 0 when not."""
    return float((state or {}).get("blocked_until") or 0.0)


def block(state: dict | None, until: float) -> dict | None:
    """The state after a 429 that named its reset (`RetryInfo`, a per-day quota's end):
    no slot before `until`. None when the state already blocks at least that long."""
    if until <= blocked_until(state):
        return None
    return {**(state or {"factor": 1.0, "cut_at": 0.0}), "blocked_until": until}


def wait_for(slots: list[Slot], now: float) -> float:
    """Seconds until the last of the slots opens (0 when it is open already)."""
    return max(0.0, slots[-1].window - now) if slots else 0.0


@dataclass(frozen=True)
class Aimd:
    """Multiplicative decrease on a 429, additive increase with time."""

    decrease: float = 0.75  # a 429 under pacing means the pool shrank a little, not half
    increase_per_second: float = 0.02  # from 0.75 back to 1.0 in 12.5 s without 429s
    minimum: float = 0.05
    cooldown: float = 2.0

    def factor(self, state: dict | None, now: float) -> float:
        """The factor in force at `now`, from the state document (None: never cut)."""
        if not state:
            return 1.0
        grown = float(state["factor"]) + self.increase_per_second * max(
            0.0, now - float(state["cut_at"])
        )
        return min(1.0, grown)

    def cut(self, state: dict | None, now: float) -> dict | None:
        """The new state after a 429, or None when a cut happened within the cooldown."""
        if state and now - float(state["cut_at"]) < self.cooldown:
            return None
        return {
            **(state or {}),
            "factor": max(self.minimum, self.factor(state, now) * self.decrease),
            "cut_at": now,
        }


@dataclass(frozen=True)
class QuotaTable:
    """Target calls a minute per model and location, from the deployment's settings
    (Terraform `vertex_requests_per_minute` and `vertex_quota_overrides`). 0 = not paced."""

    default_per_minute: float = 0.0
    overrides: tuple[tuple[str, float], ...] = ()  # ("model@location" or "model", rpm)
    headroom: float = 0.95  # aim a little under the quota: Vertex counts on its own clock

    def per_second(self, model: str, location: str) -> float:
        table = dict(self.overrides)
        rpm = table.get(f"{model}@{location}", table.get(model, self.default_per_minute))
        return max(0.0, rpm) * self.headroom / 60.0

    @classmethod
    def parse(cls, default: float, overrides: str, headroom: float = 0.95) -> QuotaTable:
        """`overrides`: comma-separated `model@location=rpm` or `model=rpm`."""
        pairs = []
        for item in filter(None, (part.strip() for part in overrides.split(","))):
            key, _, value = item.partition("=")
            pairs.append((key.strip(), float(value)))
        return cls(default, tuple(pairs), headroom)
