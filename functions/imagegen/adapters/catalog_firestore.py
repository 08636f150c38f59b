"""The catalog overlay and model observations in Firestore (issue 17).

One document, `<collection>/overlay`, holds the overlay (domain/catalog.py `Overlay`), a
version number and the last changes (who, when, what). Every write is a transaction that
reads the document first, so two admins, or fifty workers retiring the same model at once,
serialise: the first retirement commits, the rest see it and change nothing.

Observations — what Vertex answered for a model in a location (404 NOT_FOUND), and what
the daily Model Garden check saw — live in `<collection>/obs-<model>`, one document a
model, written with merges (no transaction: each is a fact with its time, the last wins).
Models the daily check found in Model Garden's list that the catalog lacks live in
`<collection>/found-<model>`, created once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from google.api_core.exceptions import AlreadyExists, Conflict
from google.cloud import firestore

from imagegen.domain.catalog import Overlay

HISTORY_KEPT = 50  # changes kept on the overlay document (a document is at most 1 MiB)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CatalogStore:
    def __init__(self, client, collection: str) -> None:
        self._client = client
        self._collection = client.collection(collection)
        self._overlay = self._collection.document("overlay")

    @classmethod
    def connect(cls, project: str, database: str, collection: str) -> CatalogStore:

        return cls(firestore.Client(project=project, database=database), collection)

    # --- the overlay --------------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        """`{overlay: Overlay, version, updated_at, updated_by, history}` (empty: version 0)."""
        snap = self._overlay.get()
        return _record(snap.to_dict() if snap.exists else None)

    def change(
        self, who: str, what: str, edit: Callable[[Overlay], Overlay | None]
    ) -> tuple[bool, dict[str, Any]]:
        """Apply `edit` to the stored overlay in a transaction. `edit` returns the new
        overlay, or None for "nothing to do" (then nothing is written). Returns whether
        this call wrote, and the record as it is now."""

        outcome: dict[str, Any] = {}

        @firestore.transactional
        def run(txn) -> bool:
            snap = self._overlay.get(transaction=txn)
            record = _record(snap.to_dict() if snap.exists else None)
            new = edit(record["overlay"])
            outcome["record"] = record
            if new is None:
                return False
            now = _now()
            entry = {"who": who, "when": now, "what": what, "version": record["version"] + 1}
            doc = {
                "overlay": new.model_dump(mode="json"),
                "version": record["version"] + 1,
                "updated_at": now,
                "updated_by": who,
                "history": [*record["history"], entry][-HISTORY_KEPT:],
            }
            txn.set(self._overlay, doc)
            outcome["record"] = _record(doc)
            return True

        wrote = run(self._client.transaction())
        return wrote, outcome["record"]

    def reset(self) -> None:
        """Delete the overlay and every observation (tests, and `catalog set` of `{}`)."""
        for doc in self._collection.list_documents():
            doc.delete()

    # --- the retirement claim ----------------------------------------------------------

    def claim_retirement(self, model_id: str) -> tuple[bool, dt.datetime | None]:
        """Create `<collection>/retiring-<model>`; (True, None) for the one caller whose
        create succeeds, else (False, when the claim was made). A create is one atomic
        precondition write: racing workers do not queue on a transaction's locks (twenty
        concurrent transactions on one document timed out on the emulator)."""

        ref = self._collection.document(f"retiring-{model_id}")
        try:
            ref.create({"at": _now()})
            return True, None
        except (AlreadyExists, Conflict):
            snap = ref.get()
            return False, (snap.to_dict() or {}).get("at") if snap.exists else None

    # --- observations -------------------------------------------------------------------

    def _obs(self, model_id: str):
        return self._collection.document(f"obs-{model_id}")

    def record_not_found(self, model_id: str, location: str, message: str) -> None:
        """Vertex answered 404 NOT_FOUND for the model in this location (one write, no
        read back: `observations` reads them when a decision needs them)."""
        self._obs(model_id).set(
            {"not_found": {location: {"at": _now(), "message": message[:500]}}}, merge=True
        )

    def record_check(self, model_id: str, result: dict[str, Any]) -> None:
        """What the Model Garden check saw (launch stage, found or not, when)."""
        self._obs(model_id).set({"model_garden": {**result, "at": _now()}}, merge=True)

    def observations(self, model_id: str) -> dict[str, Any]:
        snap = self._obs(model_id).get()
        return snap.to_dict() if snap.exists else {}

    def all_observations(self) -> dict[str, dict[str, Any]]:
        out = {}
        for snap in self._collection.stream():
            if snap.id.startswith("obs-"):
                out[snap.id[4:]] = snap.to_dict()
        return out

    # --- arrivals (issue 30) ---------------------------------------------------------------

    def record_discovered(self, model_id: str, facts: dict[str, Any]) -> bool:
        """Note a model Model Garden publishes that the catalog lacks: True for the one call
        that created `<collection>/found-<model>` (an atomic create, so two daily checks at
        once announce it once), False when it was known already."""
        try:
            self._collection.document(f"found-{model_id}").create(
                {**facts, "model": model_id, "first_seen": _now()}
            )
            return True
        except (AlreadyExists, Conflict):
            return False

    def mark_discovered(self, model_id: str, fields: dict[str, Any]) -> None:
        """Note what was done about a found model (logged, announced): a merge."""
        self._collection.document(f"found-{model_id}").set(fields, merge=True)

    def discovered(self) -> dict[str, dict[str, Any]]:
        """Every model the daily check found, by id (adopted ones included)."""
        out = {}
        for snap in self._collection.stream():
            if snap.id.startswith("found-"):
                out[snap.id[len("found-") :]] = snap.to_dict()
        return out


def _record(doc: dict[str, Any] | None) -> dict[str, Any]:
    doc = doc or {}
    return {
        "overlay": Overlay.model_validate(doc.get("overlay") or {}),
        "version": int(doc.get("version") or 0),
        "updated_at": doc.get("updated_at"),
        "updated_by": doc.get("updated_by"),
        "history": list(doc.get("history") or []),
    }
