"""The block log: recent raw blocks and the ordered chain events every watcher applies.

The follower is the only writer. Each RollForward stores its block (by hash) and appends
a `forward` event; each RollBackward appends a `backward` event. Events are numbered
1, 2, 3...; a watcher's cursor is the number of the last event it applied.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from pymongo import DESCENDING, UpdateOne
from pymongo.database import Database

from store.chain_cursor import crumb_hashes
from store.codec import encode_time

BLOCKS = "blocks"
EVENTS = "chain_events"
META = "chain_meta"
_EPOCH_ID = "log_epoch"


@dataclass(frozen=True)
class ChainEvent:
    seq: int
    kind: str  # "forward" or "backward"
    slot: int  # -1 for origin
    hash: str | None
    height: int
    txs: int | None = None  # forward events: the block's tx count (0: nothing to apply)

    @classmethod
    def of(cls, doc: dict) -> "ChainEvent":
        return cls(doc["seq"], doc["kind"], doc["slot"], doc.get("hash"), doc["height"],
                   doc.get("txs"))


def _event_id(seq: int) -> str:
    return str(seq).zfill(20)


@dataclass(frozen=True)
class StoredBlock:
    hash: str
    slot: int
    height: int
    era: str
    raw: bytes
    txs: int


def store_blocks(db: Database, blocks: list[StoredBlock]) -> None:
    """Idempotent: a block stored twice is one document. One round trip for the list."""
    if blocks:
        db[BLOCKS].bulk_write([
            UpdateOne({"_id": b.hash}, {"$set": {"slot": b.slot, "height": b.height,
                                                 "era": b.era, "raw": b.raw}}, upsert=True)
            for b in blocks], ordered=True)


def store_block(db: Database, block_hash: str, slot: int, height: int, era: str,
                raw: bytes) -> None:
    store_blocks(db, [StoredBlock(block_hash, slot, height, era, raw, 0)])


def load_block(db: Database, block_hash: str) -> bytes | None:
    doc = db[BLOCKS].find_one({"_id": block_hash})
    return None if doc is None else bytes(doc["raw"])


def load_blocks(db: Database, block_hashes: list[str]) -> dict[str, bytes]:
    """The raw bytes of many blocks in one query, by hash; a block not stored is absent."""
    if not block_hashes:
        return {}
    found = db[BLOCKS].find({"_id": {"$in": block_hashes}}, {"raw": 1})
    return {doc["_id"]: bytes(doc["raw"]) for doc in found}


def block_height(db: Database, block_hash: str) -> int | None:
    doc = db[BLOCKS].find_one({"_id": block_hash}, {"height": 1})
    return None if doc is None else doc["height"]


def last_seq(db: Database) -> int:
    doc = next(iter(db[EVENTS].find({}, {"seq": 1}).sort("seq", DESCENDING).limit(1)), None)
    return 0 if doc is None else doc["seq"]


def _event_doc(seq: int, kind: str, slot: int, block_hash: str | None, height: int,
               txs: int | None) -> dict:
    doc = {"_id": _event_id(seq), "seq": seq, "kind": kind, "slot": slot, "height": height,
           "at_ms": encode_time(datetime.now(timezone.utc))}
    if txs is not None:
        doc["txs"] = txs
    if block_hash is not None:
        doc["hash"] = block_hash
    return doc


def _insert_once(db: Database, docs: list[dict]) -> None:
    # Upserts with $setOnInsert, not inserts: when a write reached the server but its
    # answer was lost, the retry finds the event there and changes nothing.
    db[EVENTS].bulk_write([UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True)
                           for d in docs], ordered=True)


def append_event(db: Database, seq: int, kind: str, slot: int, block_hash: str | None,
                 height: int, txs: int | None = None) -> ChainEvent:
    doc = _event_doc(seq, kind, slot, block_hash, height, txs)
    _insert_once(db, [doc])
    return ChainEvent.of(doc)


def append_forwards(db: Database, first_seq: int, blocks: list[StoredBlock]) -> None:
    """Forward events `first_seq`, `first_seq + 1`... for `blocks`, in one round trip."""
    if blocks:
        _insert_once(db, [_event_doc(first_seq + i, "forward", b.slot, b.hash, b.height, b.txs)
                          for i, b in enumerate(blocks)])


def events_after(db: Database, seq: int, limit: int) -> list[ChainEvent]:
    cursor = db[EVENTS].find({"seq": {"$gt": seq}}).sort("seq", 1).limit(limit)
    return [ChainEvent.of(doc) for doc in cursor]


def log_epoch(db: Database) -> str:
    """A random value naming this block log for as long as it lives, made by whoever
    asks first. Seqs are reused when a database is dropped and filled again; the epoch
    goes with the dropped database, so a copy of events kept elsewhere (store/
    event_cache.py) can tell the log it read from the log there now. One query once made.
    """
    for _ in range(3):
        doc = db[META].find_one({"_id": _EPOCH_ID})
        if doc is not None:
            return str(doc["value"])
        # update_one, not find_one_and_update: nx-27017 ignores $setOnInsert in the
        # latter. Two first askers both upsert; one inserts, both read the same value.
        db[META].update_one({"_id": _EPOCH_ID},
                            {"$setOnInsert": {"value": uuid.uuid4().hex}}, upsert=True)
    raise RuntimeError("the block log's epoch vanishes as it is made (database dropped?)")


def event_at(db: Database, seq: int) -> ChainEvent | None:
    doc = db[EVENTS].find_one({"_id": _event_id(seq)})
    return None if doc is None else ChainEvent.of(doc)


def compact(db: Database, applied_by_all: int, keep_depth: int) -> tuple[int, int]:
    """Drop what nothing can need any more. Returns (events, blocks) removed.

    Events: every event all watchers applied goes, whatever its height, so rollback
    churn near the tip (backward events, forwards of the same heights again) cannot grow
    the log: it holds the events some watcher has still to apply, plus the newest one,
    which the follower (or a standby taking over) numbers on from.

    Blocks: those deeper than `keep_depth` below the highest stored block go, unless a
    remaining event still needs them or a follower's breadcrumb points at them (a
    restarted follower is rolled back to a crumb, and the backward event takes the
    block's height from here). Blocks within `keep_depth` stay: any rollback the node
    sends lands there and needs the block's height.
    """
    last = last_seq(db)
    events = db[EVENTS].delete_many(
        {"seq": {"$lte": min(applied_by_all, last - 1)}}).deleted_count
    top = next(iter(db[BLOCKS].find({}, {"height": 1}).sort("height", DESCENDING).limit(1)),
               None)
    if top is None:
        return events, 0
    floor = top["height"] - keep_depth
    needed = set(db[EVENTS].distinct("hash")) | crumb_hashes(db)
    stale = [d["_id"] for d in db[BLOCKS].find({"height": {"$lt": floor}}, {"_id": 1})
             if d["_id"] not in needed]
    blocks = db[BLOCKS].delete_many({"_id": {"$in": stale}}).deleted_count if stale else 0
    return events, blocks


def counts(db: Database) -> dict[str, int]:
    """How many events and blocks the block log holds now."""
    return {"events": db[EVENTS].count_documents({}), "blocks": db[BLOCKS].count_documents({})}
