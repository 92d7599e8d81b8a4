"""The follower's persisted breadcrumbs: where it resumes after a restart.

Stored as plain documents (`{"slot", "hash", "height"}`, newest first); turning them into
the chain's points is the caller's business, so store/ knows nothing of the follower.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo.database import Database

from store.codec import encode_time

COLLECTION = "chain_cursor"


class MongoCursorStore:
    """One document per follower; its crumbs are `$set` as a whole array (storage rule 3)."""

    def __init__(self, db: Database, name: str = "follower") -> None:
        self.collection = db[COLLECTION]
        self.name = name

    def load(self) -> list[dict[str, Any]]:
        doc = self.collection.find_one({"_id": self.name})
        return list(doc["crumbs"]) if doc else []

    def save(self, crumbs: list[dict[str, Any]]) -> None:
        newest = crumbs[0] if crumbs else {"slot": None, "hash": None, "height": 0}
        self.collection.update_one(
            {"_id": self.name},
            {"$set": {"crumbs": crumbs, "slot": newest["slot"],
                      "hash": newest["hash"], "height": newest["height"],
                      "updated_ms": encode_time(datetime.now(timezone.utc))}},
            upsert=True)

    def reset(self) -> None:
        self.collection.delete_one({"_id": self.name})


def crumb_hashes(db: Database) -> set[str]:
    """The blocks every follower's breadcrumbs point at. A restarted follower is rolled
    back to one of them, and its backward event needs the block's height."""
    return {c["hash"] for doc in db[COLLECTION].find({}, {"crumbs": 1})
            for c in doc.get("crumbs", []) if c.get("hash")}


def summary(db: Database, name: str = "follower") -> dict[str, object]:
    """Where a follower is: slot, hash and height of its newest breadcrumb."""
    doc = db[COLLECTION].find_one({"_id": name}) or {}
    return {"slot": doc.get("slot"), "hash": doc.get("hash"), "height": doc.get("height")}
