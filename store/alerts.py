"""Alerts and per-user webhooks in MongoDB.

- `alerts`: one document per alert, `_id` chosen by whoever raises it so the same event
  raised twice (a duplicated tick, a redelivered task) is one alert: inserted once.
  Fields: user, position (or None), kind, level, message, facts, at_ms, and the webhook
  delivery's state (`webhook`: pending / delivered / gave up, `attempts`).
- `webhooks`: `_id` the user: url, secret (the HMAC key the user was given once), set_ms.
"""
from __future__ import annotations

from typing import Any, Mapping

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

ALERTS = "alerts"
WEBHOOKS = "webhooks"


def record(db: Database, alert: Mapping[str, Any]) -> bool:
    """Keep `alert` (with its `_id`); False when an alert of that id was kept before."""
    try:
        db[ALERTS].insert_one(dict(alert))
    except DuplicateKeyError:
        return False
    return True


def read(db: Database, alert_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[ALERTS].find_one({"_id": alert_id})
    return found


def recent(db: Database, *, user: str | None = None, position: str | None = None,
           limit: int = 50) -> list[dict[str, Any]]:
    """The newest alerts first, of one user or position when named."""
    query: dict[str, Any] = {}
    if user is not None:
        query["user"] = user
    if position is not None:
        query["position"] = position
    return list(db[ALERTS].find(query).sort([("at_ms", DESCENDING), ("_id", DESCENDING)])
                .limit(limit))


def note_delivery(db: Database, alert_id: str, state: str, attempts: int, detail: str) -> None:
    db[ALERTS].update_one({"_id": alert_id}, {"$set": {"webhook": state, "attempts": attempts,
                                                        "webhook_detail": detail[:300]}})


def set_webhook(db: Database, user: str, url: str, secret: str, now_ms: int) -> None:
    db[WEBHOOKS].update_one({"_id": user}, {"$set": {"url": url, "secret": secret,
                                                     "set_ms": now_ms}}, upsert=True)


def remove_webhook(db: Database, user: str) -> bool:
    return db[WEBHOOKS].delete_one({"_id": user}).deleted_count == 1


def webhook_of(db: Database, user: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[WEBHOOKS].find_one({"_id": user})
    return found
