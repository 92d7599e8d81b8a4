"""API keys in MongoDB (`api_keys`): `_id` the key id, the user, the SHA-256 of its
secret (never the secret), created_ms, revoked_ms once revoked (core/api_keys.py)."""
from __future__ import annotations

from typing import Any

from pymongo.database import Database

KEYS = "api_keys"


def add(db: Database, key_id: str, user: str, secret_digest: str, now_ms: int) -> None:
    db[KEYS].insert_one({"_id": key_id, "user": user, "digest": secret_digest,
                         "created_ms": now_ms})


def read(db: Database, key_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[KEYS].find_one({"_id": key_id})
    return found


def revoke(db: Database, key_id: str, now_ms: int) -> bool:
    return db[KEYS].update_one({"_id": key_id, "revoked_ms": {"$exists": False}},
                               {"$set": {"revoked_ms": now_ms}}).modified_count == 1


def of_user(db: Database, user: str | None = None) -> list[dict[str, Any]]:
    """Keys without their digests (for listing)."""
    query = {} if user is None else {"user": user}
    return [{k: v for k, v in doc.items() if k != "digest"}
            for doc in db[KEYS].find(query).sort("created_ms", 1)]
