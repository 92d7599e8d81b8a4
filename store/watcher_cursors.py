"""Each watcher's cursor: the last chain event it applied, moved by compare-and-set.

A worker first takes the watcher's lease (a compare-and-set on the cursor document), so
only one worker applies a watcher's blocks at a time; every advance checks both the
expected event number and the lease, so a worker that lost its lease (it stalled past
the lease) can never move the cursor. A watcher stopped by a block its parser cannot
handle is "poisoned" at that event until `dhl reprocess` clears it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from pymongo import ReturnDocument
from pymongo.database import Database

from store.codec import now_ms

COLLECTION = "watcher_cursors"
POISON = "poison_blocks"


@dataclass(frozen=True)
class Cursor:
    watcher: str
    seq: int
    slot: int
    height: int
    hash: str | None
    poisoned_seq: int | None
    updated_ms: int | None
    applied: int
    rate: float | None  # blocks per second of the last batch

    @classmethod
    def of(cls, doc: dict[str, Any]) -> "Cursor":
        return cls(doc["_id"], doc["seq"], doc.get("slot", -1), doc.get("height", 0),
                   doc.get("hash"), doc.get("poisoned_seq"), doc.get("updated_ms"),
                   doc.get("applied", 0), doc.get("rate"))

    def to_json(self) -> dict[str, Any]:
        return {"watcher": self.watcher, "seq": self.seq, "slot": self.slot, "height": self.height,
                "hash": self.hash, "poisoned_seq": self.poisoned_seq,
                "blocks_per_second": self.rate}


def ensure(db: Database, watcher: str) -> None:
    db[COLLECTION].update_one({"_id": watcher},
                              {"$setOnInsert": {"seq": 0, "slot": -1, "height": 0,
                                                "lease_owner": "", "lease_until_ms": 0}},
                              upsert=True)


def read(db: Database, watcher: str) -> Cursor | None:
    doc = db[COLLECTION].find_one({"_id": watcher})
    return None if doc is None else Cursor.of(doc)


def read_all(db: Database) -> list[Cursor]:
    return [Cursor.of(d) for d in db[COLLECTION].find().sort("_id", 1)]


def applied_by_all(cursors: list[Cursor], watchers: Iterable[str]) -> int:
    """Pure: the last event every one of `watchers` has applied. A watcher without a
    cursor yet counts as 0 (it will start from the first event still in the log); the
    cursor of a watcher no longer registered does not hold anything back."""
    seqs = {c.watcher: c.seq for c in cursors}
    return min((seqs.get(name, 0) for name in watchers), default=0)


def take_lease(db: Database, watcher: str, owner: str, lease_ms: int) -> Cursor | None:
    """The cursor if we now hold the lease; None while another worker holds it."""
    now = now_ms()
    doc = db[COLLECTION].find_one_and_update(
        {"_id": watcher, "$or": [{"lease_until_ms": {"$lt": now}}, {"lease_owner": owner}]},
        {"$set": {"lease_owner": owner, "lease_until_ms": now + lease_ms}},
        return_document=ReturnDocument.AFTER)
    return None if doc is None else Cursor.of(doc)


def release_lease(db: Database, watcher: str, owner: str) -> None:
    db[COLLECTION].update_one({"_id": watcher, "lease_owner": owner},
                              {"$set": {"lease_owner": "", "lease_until_ms": 0}})


def advance(db: Database, watcher: str, owner: str, from_seq: int, to_seq: int, slot: int,
            height: int, block_hash: str | None, lease_ms: int) -> bool:
    """Compare-and-set from `from_seq` to `to_seq`, renewing the lease; False if we lost."""
    now = now_ms()
    result = db[COLLECTION].update_one(
        {"_id": watcher, "seq": from_seq, "lease_owner": owner},
        {"$set": {"seq": to_seq, "slot": slot, "height": height, "hash": block_hash,
                  "updated_ms": now, "lease_until_ms": now + lease_ms},
         "$inc": {"applied": to_seq - from_seq}})
    return result.modified_count == 1


class Position(Protocol):
    """Where a cursor can be moved to (a chain event)."""

    @property
    def seq(self) -> int: ...
    @property
    def slot(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def hash(self) -> str | None: ...


def finish(db: Database, watcher: str, owner: str, from_seq: int, to: Position | None,
           blocks: int, seconds: float) -> bool:
    """A batch's last write, in one round trip: the compare-and-set of `advance` from
    `from_seq` to `to` (None: the cursor stays), the batch's rate (blocks per second),
    and the lease released. False if we lost the cursor; then nothing is written."""
    fields: dict[str, Any] = {"lease_owner": "", "lease_until_ms": 0}
    update: dict[str, Any] = {"$set": fields}
    if to is not None:
        fields.update({"seq": to.seq, "slot": to.slot, "height": to.height, "hash": to.hash,
                       "updated_ms": now_ms()})
        update["$inc"] = {"applied": to.seq - from_seq}
    if blocks and seconds > 0:
        fields["rate"] = round(blocks / seconds, 2)
    # Holding the lease, lease_until_ms is in the future: the write always modifies.
    result = db[COLLECTION].update_one({"_id": watcher, "seq": from_seq, "lease_owner": owner},
                                       update)
    return result.modified_count == 1


def poison(db: Database, watcher: str, seq: int, slot: int, block_hash: str | None,
           error: str) -> None:
    db[POISON].update_one({"_id": f"{watcher}:{seq}"},
                          {"$set": {"watcher": watcher, "seq": seq, "slot": slot,
                                    "hash": block_hash, "error": error, "at_ms": now_ms()}},
                          upsert=True)
    db[COLLECTION].update_one({"_id": watcher}, {"$set": {"poisoned_seq": seq}})


def poisoned(db: Database) -> list[dict[str, Any]]:
    return list(db[POISON].find().sort("_id", 1))


def clear_poison(db: Database, block_hash: str) -> list[str]:
    """Un-poison every watcher stopped at this block; returns their names."""
    watchers = []
    for doc in db[POISON].find({"hash": block_hash}):
        db[COLLECTION].update_one({"_id": doc["watcher"], "poisoned_seq": doc["seq"]},
                                  {"$unset": {"poisoned_seq": ""}})
        db[POISON].delete_one({"_id": doc["_id"]})
        watchers.append(doc["watcher"])
    return watchers
