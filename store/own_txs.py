"""Our own submitted transactions: submitted, then on chain at a slot — "seen" when it did
what it was built for, "failed" when its scripts failed and only its collateral was taken
(phase-2 failure: on chain, but nothing else happened). A rollback past that slot
re-opens them (they may land again, or need resubmitting)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo.database import Database

from store.codec import encode_time

COLLECTION = "own_txs"
NOT_SEEN = -1


def record_submitted(db: Database, tx_id: str, purpose: str) -> None:
    db[COLLECTION].update_one(
        {"_id": tx_id},
        {"$setOnInsert": {"state": "submitted", "purpose": purpose, "seen_slot": NOT_SEEN,
                          "submitted_ms": encode_time(datetime.now(timezone.utc))}},
        upsert=True)


def mark_seen(db: Database, tx_ids: list[str], slot: int, height: int, block: str,
              failed: frozenset[str] = frozenset()) -> int:
    """Our txs among `tx_ids` are on chain in this block; those in `failed` only took
    their collateral."""
    changed = 0
    for state, ids in (("seen", [t for t in tx_ids if t not in failed]),
                       ("failed", [t for t in tx_ids if t in failed])):
        if ids:
            changed += db[COLLECTION].update_many(
                {"_id": {"$in": ids}, "seen_slot": NOT_SEEN},
                {"$set": {"state": state, "seen_slot": slot, "seen_height": height,
                          "seen_block": block}}).modified_count
    return changed


def rollback(db: Database, slot: int) -> int:
    return db[COLLECTION].update_many(
        {"seen_slot": {"$gt": slot}},
        {"$set": {"state": "submitted", "seen_slot": NOT_SEEN},
         "$unset": {"seen_height": "", "seen_block": ""}}).modified_count


def status(db: Database, tx_id: str, tip_height: int) -> dict[str, Any] | None:
    doc = db[COLLECTION].find_one({"_id": tx_id})
    if doc is None:
        return None
    seen = doc["seen_slot"] != NOT_SEEN
    return {"tx_id": tx_id, "state": doc["state"], "seen_slot": doc["seen_slot"] if seen else None,
            "confirmations": tip_height - doc["seen_height"] + 1 if seen else 0}


def exists(db: Database, tx_id: str) -> bool:
    """Whether `tx_id` is one of ours (submitted by this system)."""
    return db[COLLECTION].find_one({"_id": tx_id}, {"_id": 1}) is not None
