"""Heartbeats: the last time each component (worker, beat, follower) showed it was alive."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.database import Database

from store.codec import decode_time, encode_time

COLLECTION = "heartbeats"


@dataclass(frozen=True)
class Heartbeat:
    component: str
    at: datetime
    details: dict[str, Any]


def record(db: Database, component: str, at: datetime, details: dict[str, Any]) -> None:
    """Upsert the component's heartbeat; replaying it changes nothing but the time."""
    db[COLLECTION].update_one(
        {"_id": component},
        {"$set": {"at_ms": encode_time(at), "details": details}},
        upsert=True,
    )


def read(db: Database, component: str) -> Heartbeat | None:
    doc = db[COLLECTION].find_one({"_id": component})
    if doc is None:
        return None
    return Heartbeat(component, decode_time(doc["at_ms"]), doc.get("details", {}))
