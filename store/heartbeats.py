"""Heartbeats: the last time each component (worker, beat, follower) showed it was alive."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

COLLECTION = "heartbeats"


def record(db: Database, component: str, at: datetime, details: dict[str, Any]) -> None:
    """Upsert the component's heartbeat; replaying it changes nothing but the time."""
    db[COLLECTION].update_one(
        {"_id": component},
        {"$set": {"at": at, "details": details}},
        upsert=True,
    )


def read(db: Database, component: str) -> dict[str, Any] | None:
    return db[COLLECTION].find_one({"_id": component})
