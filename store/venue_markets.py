"""Venue market snapshots from the venues' APIs: one document per (venue, market id),
each with the time it was fetched, replaced a whole venue at a time.

Atomic per venue without relying on transactions (nx-27017 does not isolate them): a
snapshot is written as a new generation of documents, then the venue's pointer (one
document, `venue_market_snapshots`) is switched to it in one compare-and-set, then the
older generations go. A reader follows the pointer, and checks it got as many markets
as the pointer says (a writer may have removed that generation meanwhile: then it reads
again). A fetch that fails never reaches this module, so the previous snapshot stays; a
writer that dies half-way leaves a generation nobody points at, removed by the next.

The markets are plain dicts (protocols/market_codec.py writes them under store/'s rules);
store/ does not know what a market is.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from pymongo import InsertOne, ReturnDocument
from pymongo.database import Database

log = logging.getLogger(__name__)

MARKETS = "venue_markets"
SNAPSHOTS = "venue_market_snapshots"
READ_ATTEMPTS = 5


@dataclass(frozen=True)
class Snapshot:
    venue: str
    fetched_ms: int
    generation: int
    markets: dict[str, dict[str, Any]]  # market id -> the market as stored


def _doc_id(venue: str, generation: int, market_id: str) -> str:
    return f"{venue}:{generation}:{market_id}"


def replace_venue(db: Database, venue: str, markets: Mapping[str, Mapping[str, Any]],
                  fetched_ms: int) -> bool:
    """Make `markets` (market id -> stored form) the venue's snapshot, fetched at
    `fetched_ms`. Returns False when a newer snapshot got there first (nothing changes)."""
    return commit(db, venue, begin(db, venue), markets, fetched_ms)


def begin(db: Database, venue: str) -> int:
    """A new generation number for the venue, above every one handed out before."""
    # Two steps: nx-27017 ignores $setOnInsert in an upserting find_one_and_update.
    db[SNAPSHOTS].update_one(
        {"_id": venue},
        {"$setOnInsert": {"generation": 0, "fetched_ms": -1, "count": 0, "next_generation": 0}},
        upsert=True)
    pointer = db[SNAPSHOTS].find_one_and_update(
        {"_id": venue}, {"$inc": {"next_generation": 1}}, return_document=ReturnDocument.AFTER)
    assert pointer is not None  # made just above
    return int(pointer["next_generation"])


def commit(db: Database, venue: str, generation: int,
           markets: Mapping[str, Mapping[str, Any]], fetched_ms: int) -> bool:
    """Write `generation` whole, then point the venue at it unless a later generation is
    already current."""
    docs = [{"_id": _doc_id(venue, generation, market_id), "venue": venue,
             "generation": generation, "market_id": market_id, "fetched_ms": fetched_ms,
             "market": dict(market)}
            for market_id, market in sorted(markets.items())]
    if docs:
        db[MARKETS].bulk_write([InsertOne(d) for d in docs], ordered=True)
    # The switch: only forward, so a slower writer of an older generation cannot undo it.
    switched = db[SNAPSHOTS].update_one(
        {"_id": venue, "generation": {"$lt": generation}},
        {"$set": {"generation": generation, "fetched_ms": fetched_ms, "count": len(docs)}},
    ).modified_count == 1
    current = generation if switched else _current_generation(db, venue)
    # Everything older than what the pointer names now (ours too, when we lost the race;
    # and what writers that died half-way left behind).
    db[MARKETS].delete_many({"venue": venue, "generation": {"$lt": current}})
    if not switched:
        db[MARKETS].delete_many({"venue": venue, "generation": generation})
    return switched


def _current_generation(db: Database, venue: str) -> int:
    doc = db[SNAPSHOTS].find_one({"_id": venue})
    return 0 if doc is None else int(doc["generation"])


def read_venue(db: Database, venue: str) -> Snapshot | None:
    """The venue's current snapshot, whole; None when none was ever stored."""
    for _ in range(READ_ATTEMPTS):
        pointer = db[SNAPSHOTS].find_one({"_id": venue})
        if pointer is None or int(pointer["generation"]) == 0:
            return None
        generation = int(pointer["generation"])
        docs = list(db[MARKETS].find({"venue": venue, "generation": generation}))
        if len(docs) == int(pointer["count"]):
            return Snapshot(venue, int(pointer["fetched_ms"]), generation,
                            {d["market_id"]: d["market"] for d in docs})
        # Replaced while we read: follow the pointer again.
    log.warning("venue markets of %s kept changing while read; giving up for now", venue)
    return None


def venues(db: Database) -> list[str]:
    return sorted(d["_id"] for d in db[SNAPSHOTS].find({"generation": {"$gt": 0}}, {"_id": 1}))


def read_all(db: Database, names: Sequence[str] | None = None) -> dict[str, Snapshot]:
    wanted = venues(db) if names is None else list(names)
    found = {name: read_venue(db, name) for name in wanted}
    return {name: snap for name, snap in found.items() if snap is not None}
