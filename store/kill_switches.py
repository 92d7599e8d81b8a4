"""Kill switches: one global, one per user. While one is on, the guards close every open
position it covers (an emergency exit), take no other automatic action there, and no new
position opens under it.

`kill_switches`: `_id` "global" or "user:<id>"; `state` "on" / "off" (a string: some
servers read booleans back as 0/1), `since_ms` (when it was last turned on: a position's
emergency exit is claimed once per switch-on), `set_ms`.
"""
from __future__ import annotations

from typing import Any

from pymongo.database import Database

SWITCHES = "kill_switches"
GLOBAL = "global"


def scope_of(user: str | None) -> str:
    return GLOBAL if user is None else f"user:{user}"


def set_switch(db: Database, user: str | None, on: bool, now_ms: int) -> dict[str, Any]:
    """Turn the global switch (user None) or a user's on or off; returns it as stored.
    Turning on a switch that is on keeps its `since_ms`."""
    scope = scope_of(user)
    if on:
        db[SWITCHES].update_one({"_id": scope, "state": {"$ne": "on"}},
                                {"$set": {"state": "on", "since_ms": now_ms, "set_ms": now_ms}},
                                upsert=False)
        db[SWITCHES].update_one({"_id": scope},
                                {"$setOnInsert": {"state": "on", "since_ms": now_ms,
                                                  "set_ms": now_ms}}, upsert=True)
    else:
        db[SWITCHES].update_one({"_id": scope}, {"$set": {"state": "off", "set_ms": now_ms}},
                                upsert=True)
    found: dict[str, Any] = db[SWITCHES].find_one({"_id": scope}) or {}
    return found


def switches_on(db: Database) -> dict[str, dict[str, Any]]:
    """Every switch that is on, by scope."""
    return {str(doc["_id"]): doc for doc in db[SWITCHES].find({"state": "on"})}


def covering(db: Database, user: str) -> dict[str, Any] | None:
    """The switch that is on for `user` (the global one first), or None."""
    for scope in (GLOBAL, scope_of(user)):
        doc: dict[str, Any] | None = db[SWITCHES].find_one({"_id": scope, "state": "on"})
        if doc is not None:
            return doc
    return None


def all_switches(db: Database) -> list[dict[str, Any]]:
    return list(db[SWITCHES].find({}).sort("_id", 1))
