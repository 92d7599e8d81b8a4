"""Positions, one document each, moved only by compare-and-set.

The document is a plain dict (trading/position_codec.py writes it; store/ does not know
what a position is) with three fields this module owns:

- `version`: the number of events applied; every write is guarded by it;
- `history`: the events, a sub-document keyed by the zero-padded seq (no `$push` of
  sub-documents on nx-27017), appended by the same update that moves the position;
- `done`: idempotency key -> the seq that recorded it (keys are "position:step:attempt:
  phase", so the first worker to record a step's phase takes it, and a second — or the
  same event applied again after a crash — gets `AlreadyTaken`, changing nothing).

`apply` reads the document, refuses a key already in `done`, lets the caller's `decide`
compute the update from the document (raising if the transition is illegal), and writes
it with `find_one_and_update` filtered on `_id` and `version`. The version guard makes
the read-check-write one compare-and-set: if anything was applied since the read — in
particular the same key by another worker — the filter matches nothing and `apply` reads
again, and then finds the key taken. (A filter on the key's absence would need `$exists`,
which nx-27017 gets wrong; the version carries the same guarantee.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.errors import AppError

COLLECTION = "positions"
SEQ_WIDTH = 8
ATTEMPTS = 50
_OWNED = ("version", "history", "done", "_id")
_KEY = re.compile(r"^[A-Za-z0-9_:-]+$")

Decide = Callable[[Mapping[str, Any]], tuple[dict[str, Any], dict[str, Any]]]


class PositionStoreError(AppError):
    """A position that cannot be stored or moved as asked."""


class PositionNotFound(PositionStoreError):
    pass


class PositionExists(PositionStoreError):
    pass


class Contended(PositionStoreError):
    """Other writers kept moving the position; nothing was written (safe to retry)."""


@dataclass(frozen=True)
class Applied:
    doc: dict[str, Any]  # the position after the update
    seq: int


@dataclass(frozen=True)
class AlreadyTaken:
    """The key was recorded before (by another worker, or by an earlier try of ours)."""

    key: str
    seq: int
    doc: dict[str, Any]


def insert(db: Database, doc: Mapping[str, Any]) -> None:
    """Store a new position (its `_id`, `version`, `history` and `done` included)."""
    for name in _OWNED:
        if name not in doc:
            raise PositionStoreError(f"a position document needs {name!r}")
    try:
        db[COLLECTION].insert_one(dict(doc))
    except DuplicateKeyError:
        raise PositionExists(f"position {doc['_id']} exists") from None


#: An order's guards waiting for its position to open (`order_guards`), then what came of
#: them: "armed <version>" or "refused: <why>".
GUARDS_TO_ARM = "to arm"


def note_order_guards(db: Database, position_id: str, outcome: str) -> bool:
    """Record what came of the order's guards, once (a compare-and-set on the value)."""
    return db[COLLECTION].update_one({"_id": position_id, "order_guards": GUARDS_TO_ARM},
                                     {"$set": {"order_guards": outcome}}).modified_count == 1


def read(db: Database, position_id: str) -> dict[str, Any] | None:
    found = db[COLLECTION].find_one({"_id": position_id})
    return None if found is None else dict(found)


def find_by_state(db: Database, states: list[str]) -> list[dict[str, Any]]:
    return [dict(d) for d in db[COLLECTION].find({"state": {"$in": states}}).sort("_id", 1)]


def user_of(doc: Mapping[str, Any]) -> str:
    """Whose position it is: the user named at open, else the wallet that owns it."""
    order = doc.get("order") or {}
    return str(order.get("user") or order.get("owner") or "")


def of_user(db: Database, user: str, limit: int = 1000) -> list[dict[str, Any]]:
    """A user's positions (as `user_of` says), newest first."""
    # Two queries, each served by its index ($or is not, on nx-27017: a collection scan).
    found = {doc["_id"]: doc for field in ("order.user", "order.owner")
             for doc in db[COLLECTION].find({field: user})}
    mine = [dict(doc) for doc in found.values() if user_of(doc) == user]
    mine.sort(key=lambda doc: (int(doc.get("requested_ms") or 0), str(doc["_id"])),
              reverse=True)
    return mine[:limit]


def seq_field(seq: int) -> str:
    return str(seq).zfill(SEQ_WIDTH)


def apply(db: Database, position_id: str, key: str, decide: Decide) -> Applied | AlreadyTaken:
    """Apply one event under idempotency key `key`, once across every worker."""
    if not _KEY.match(key):
        raise PositionStoreError(f"an idempotency key is [A-Za-z0-9_:-], got {key!r}")
    for _ in range(ATTEMPTS):
        doc = read(db, position_id)
        if doc is None:
            raise PositionNotFound(f"no position {position_id}")
        if key in doc["done"]:
            return AlreadyTaken(key, int(doc["done"][key]), doc)
        fields, entry = decide(doc)  # raises when the transition is illegal
        for name in fields:
            if name.split(".", 1)[0] in _OWNED:
                raise PositionStoreError(f"a transition may not set {name!r}")
        seq = int(doc["version"]) + 1
        if entry.get("seq") != seq:
            raise PositionStoreError(f"the entry says seq {entry.get('seq')}, expected {seq}")
        moved = db[COLLECTION].find_one_and_update(
            {"_id": position_id, "version": seq - 1},
            {"$set": {**fields, "version": seq, f"history.{seq_field(seq)}": entry,
                      f"done.{key}": seq}},
            return_document=ReturnDocument.AFTER)
        if moved is not None:
            return Applied(dict(moved), seq)
        # Someone applied an event since our read: read again (maybe our key, now taken).
    raise Contended(f"position {position_id} kept moving; {key} not applied")


def set_waiting(db: Database, position_id: str, version: int, why: str) -> None:
    """The position waits (nothing to do until someone asks): no longer pending for the
    resume sweep. Guarded by `version`, so a request recorded since is not hidden."""
    db[COLLECTION].update_one({"_id": position_id, "version": version},
                              {"$set": {"pending": False, "waiting": why, "blocked": {}}})


def set_chain_waiting(db: Database, position_id: str, version: int, why: str, *,
                      pending: bool = True) -> None:
    """A live leg waits for the chain: still in flight (`pending`, so the resume sweep
    and each applied block look again), or, waiting for the trader's signature, not."""
    db[COLLECTION].update_one({"_id": position_id, "version": version},
                              {"$set": {"pending": pending, "waiting": why, "blocked": {}}})


def set_chain_alert(db: Database, position_id: str, leg_id: str, why: str) -> None:
    """A live leg's confirmed transaction cannot be on chain any more (a deep rollback):
    kept on the position, out of the resume sweep, for an operator."""
    db[COLLECTION].update_one({"_id": position_id},
                              {"$set": {f"chain_alerts.{leg_id}": why[:1000],
                                        "pending": False}})


def set_fill(db: Database, position_id: str, leg_id: str, fill_tx: str) -> None:
    """A live order leg's fill as the chain has it now (filled again after a rollback)."""
    db[COLLECTION].update_one({"_id": position_id},
                              {"$set": {f"work.{leg_id}.fill_tx": fill_tx}})


def clear_chain_alerts(db: Database, position_id: str) -> None:
    db[COLLECTION].update_one({"_id": position_id}, {"$unset": {"chain_alerts": ""}})


def set_blocked(db: Database, position_id: str, reason: str, now_ms: int) -> None:
    """A step cannot go on now (DexHunter down): shown on the position until it can."""
    db[COLLECTION].update_one({"_id": position_id},
                              {"$set": {"blocked": {"reason": reason[:500], "since_ms": now_ms}}})


def pending_ids(db: Database, limit: int = 10_000) -> list[str]:
    """Positions with work left (a step in flight or a request not yet run)."""
    rows = db[COLLECTION].find({"pending": True}, {"_id": 1}).sort("_id", 1).limit(limit)
    return [str(row["_id"]) for row in rows]


def all_positions(db: Database, limit: int = 1000) -> list[dict[str, Any]]:
    """The newest positions first (ids are random: by the time they were requested)."""
    rows = db[COLLECTION].find({}).sort("requested_ms", -1).limit(limit)
    return [dict(row) for row in rows]
