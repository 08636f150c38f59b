"""The deployment's live catalog: the code's table plus the Firestore overlay, re-read at
most every `IMAGEGEN_CATALOG_TTL_SECONDS` (default 30, at most 60), so a change made with
`imagegen catalog set|retire` or by the lifecycle autopilot reaches every instance within a
minute without a redeploy. A read of one document per instance per TTL costs nothing worth
a listener's open stream (and a listener would hold a connection in every idle instance).

If the overlay cannot be read, the last good catalog stays in use (or the code's table), so
Firestore trouble never turns into refused requests; if the stored overlay no longer fits
the code (a model it patches was removed from the table), it is ignored with an error log.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from imagegen.domain.catalog import Catalog, apply_overlay
from imagegen.logs import get_logger

if TYPE_CHECKING:
    from imagegen.ports import CatalogStore

log = get_logger("imagegen.catalog")
MAX_TTL_SECONDS = 60.0


class LiveCatalog:
    def __init__(self, base: Catalog, store: CatalogStore | None, ttl: float) -> None:
        self.base = base
        self._store = store
        self._ttl = min(max(ttl, 0.0), MAX_TTL_SECONDS)
        self._lock = threading.Lock()
        self._catalog = base
        self._record: dict[str, Any] = {"version": 0, "history": []}
        self._read_at = float("-inf")

    def current(self) -> Catalog:
        if self._store is None:
            return self.base
        if time.monotonic() - self._read_at >= self._ttl:
            self.refresh()
        return self._catalog

    def record(self) -> dict[str, Any]:
        """The overlay record behind the current catalog (version, who, when, history)."""
        self.current()
        return self._record

    def refresh(self) -> Catalog:
        """Read the overlay now (after this instance changed it, or saw a model vanish)."""
        if self._store is None:
            return self.base
        with self._lock:
            try:
                record = self._store.read()
            except Exception as exc:  # keep serving with what we have
                log.warning(f"catalog overlay unreadable, keeping the last one: {exc}")
                self._read_at = time.monotonic()
                return self._catalog
            try:
                self._catalog = apply_overlay(self.base, record["overlay"])
                self._record = record
            except ValueError as exc:
                log.error(
                    f"catalog overlay version {record['version']} does not fit the code's "
                    f"table; ignored: {exc}",
                    extra={"code": "catalog_overlay_invalid"},
                )
            self._read_at = time.monotonic()
            return self._catalog
