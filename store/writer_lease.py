"""The lease that makes one follower the only writer of the block log.

One document per database (`_id` "block-log"): who holds the lease, until when, and the
term (a counter bumped at every change of holder). Taking and renewing are
compare-and-set, so two followers can never both believe they hold it at one time —
short of a holder that stalls past its own expiry, which the holder guards against by
writing only while well inside its lease (indexer/log_writer.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from store.codec import now_ms

COLLECTION = "writer_lease"
BLOCK_LOG = "block-log"


@dataclass(frozen=True)
class Lease:
    owner: str
    until_ms: int
    term: int
    node: str | None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> "Lease":
        return cls(doc.get("owner", ""), doc.get("until_ms", 0), doc.get("term", 0),
                   doc.get("node"))

    def expired(self, now_ms: int) -> bool:
        return not self.owner or self.until_ms < now_ms


def read(db: Database, name: str = BLOCK_LOG) -> Lease | None:
    doc = db[COLLECTION].find_one({"_id": name})
    return None if doc is None else Lease.of(doc)


def take(db: Database, owner: str, lease_ms: int, node: str | None = None,
         name: str = BLOCK_LOG) -> Lease | None:
    """The lease, if it was free, expired or already ours; None while another holds it."""
    db[COLLECTION].update_one({"_id": name},
                              {"$setOnInsert": {"owner": "", "until_ms": 0, "term": 0}},
                              upsert=True)
    now = now_ms()
    doc = db[COLLECTION].find_one_and_update(
        {"_id": name, "$or": [{"until_ms": {"$lt": now}}, {"owner": owner}, {"owner": ""}]},
        {"$set": {"owner": owner, "until_ms": now + lease_ms, "node": node,
                  "taken_ms": now}, "$inc": {"term": 1}},
        return_document=ReturnDocument.AFTER)
    return None if doc is None else Lease.of(doc)


def renew(db: Database, owner: str, term: int, lease_ms: int,
          name: str = BLOCK_LOG) -> bool:
    """Extend our lease; False when someone else took it since (term moved on)."""
    result = db[COLLECTION].update_one({"_id": name, "owner": owner, "term": term},
                                       {"$set": {"until_ms": now_ms() + lease_ms}})
    return result.matched_count == 1


def release(db: Database, owner: str, term: int, name: str = BLOCK_LOG) -> None:
    """Give the lease up at a clean stop, so a standby takes over at once."""
    db[COLLECTION].update_one({"_id": name, "owner": owner, "term": term},
                              {"$set": {"owner": "", "until_ms": 0}})
