"""The shared Vertex call limiter in Firestore: one-second slots created once each
(domain/limiter.py says why), shared by every worker instance.

Documents (collection `IMAGEGEN_LIMITER_COLLECTION`, default `vertex_slots`):
- `<model>|<location>|<unix second>|<k>`: a taken slot, created once, never rewritten;
  `expire_at` lets a TTL policy delete it after a day.
- `<model>|<location>|state`: the AIMD factor, written only when a 429 cuts it (at most
  once per cooldown, with a precondition so concurrent cuts count once), and
  `blocked_until` when a 429 said when its quota frees (issue 27).
One acquire = one batched read (the state and the slots of the horizon) and one batch
creating the chosen slots; a lost race (AlreadyExists) reads again.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from google.api_core import exceptions as gexc

from imagegen.domain.limiter import (
    Aimd,
    QuotaTable,
    block,
    blocked_until,
    horizon,
    plan,
    wait_for,
)

if TYPE_CHECKING:
    from google.cloud import firestore


class FirestoreLimiter:
    def __init__(
        self,
        client: firestore.Client,
        collection: str,
        quotas: QuotaTable,
        aimd: Aimd | None = None,
        clock=time.time,
    ) -> None:
        self._client = client
        self._slots = client.collection(collection)
        self.quotas = quotas
        self.aimd = aimd or Aimd()
        self._clock = clock

    def paced(self, model: str, location: str) -> bool:
        return self.quotas.per_second(model, location) > 0

    def _state_ref(self, model: str, location: str):
        return self._slots.document(f"{model}|{location}|state")

    def acquire(self, model: str, location: str, count: int, max_wait: float) -> float | None:
        """Take `count` slots within `max_wait` seconds: the seconds to wait before the
        calls, or None when they are not to be had that soon (hand the job back)."""

        rate = self.quotas.per_second(model, location)
        if rate <= 0 or count <= 0:
            return 0.0
        for _ in range(8):
            now = self._clock()
            state_ref = self._state_ref(model, location)
            state = self._read_state(state_ref)
            not_before = blocked_until(state)
            if not_before - now > max_wait:
                return None  # Vertex said this quota is spent until later than we may wait
            per_second = rate * self.aimd.factor(state, now)
            candidates = horizon(now, per_second, max_wait)
            refs = [self._slots.document(s.doc_id(model, location)) for s in candidates]
            # get_all answers in any order: map by id, not position
            existing = {snap.id for snap in self._client.get_all(refs) if snap.exists}
            taken = {s for s in candidates if s.doc_id(model, location) in existing}
            slots = plan(now, count, per_second, max_wait, taken, not_before)
            if not slots:
                return None
            batch = self._client.batch()
            expire = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
            for slot in slots:
                batch.create(
                    self._slots.document(slot.doc_id(model, location)),
                    {"expire_at": expire, "window": slot.window},
                )
            try:
                batch.commit()
            except (gexc.AlreadyExists, gexc.Conflict):
                continue  # another worker took one of them first: look again
            return wait_for(slots, self._clock())
        return None

    def _read_state(self, ref) -> dict[str, Any] | None:
        snap = ref.get()
        return snap.to_dict() if snap.exists else None

    def blocked_until(self, model: str, location: str) -> dt.datetime | None:
        """Until when Vertex said this route's quota is spent (issue 27); None when it did
        not, or that time has passed."""
        until = blocked_until(self._read_state(self._state_ref(model, location)))
        if until <= self._clock():
            return None
        return dt.datetime.fromtimestamp(until, dt.UTC)

    def throttled(self, model: str, location: str, resets_at: dt.datetime | None = None) -> bool:
        """Vertex answered 429 anyway: cut the rate (once per cooldown) and, when the 429 said
        when its quota frees (`resets_at`, issue 27), take no slot before then. True if the
        state changed."""

        ref = self._state_ref(model, location)
        snap = ref.get()
        state = snap.to_dict() if snap.exists else None
        new = self.aimd.cut(state, self._clock())
        if resets_at is not None:
            new = block(new or state, resets_at.timestamp()) or new
        if new is None:
            return False
        try:
            if snap.exists:
                option = self._client.write_option(last_update_time=snap.update_time)
                ref.update(new, option=option)
            else:
                ref.create(new)
        except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Conflict):
            return False  # a concurrent 429 cut it already
        return True
