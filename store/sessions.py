"""Wallet sign-in in MongoDB: one-time challenges and short-lived session tokens.

- `auth_challenges`: `_id` the nonce; the address it is for, its text, `expires_ms`.
  Taken once (`find_one_and_delete`): a replayed signature finds nothing.
- `sessions`: `_id` the SHA-256 of the token (the token itself is never kept); the user
  (the wallet address) and `expires_ms`.
"""
from __future__ import annotations

from typing import Any

from pymongo.database import Database

CHALLENGES = "auth_challenges"
SESSIONS = "sessions"


def add_challenge(db: Database, nonce: str, address: str, text: str, expires_ms: int) -> None:
    db[CHALLENGES].insert_one({"_id": nonce, "address": address, "text": text,
                               "expires_ms": expires_ms})


def take_challenge(db: Database, nonce: str) -> dict[str, Any] | None:
    """The challenge, removed as it is read (once only)."""
    found: dict[str, Any] | None = db[CHALLENGES].find_one_and_delete({"_id": nonce})
    return found


def add_session(db: Database, token_digest: str, user: str, expires_ms: int) -> None:
    db[SESSIONS].insert_one({"_id": token_digest, "user": user, "expires_ms": expires_ms})


def session(db: Database, token_digest: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[SESSIONS].find_one({"_id": token_digest})
    return found


def forget_expired(db: Database, now_ms: int) -> int:
    deleted = db[CHALLENGES].delete_many({"expires_ms": {"$lt": now_ms}}).deleted_count
    return deleted + db[SESSIONS].delete_many({"expires_ms": {"$lt": now_ms}}).deleted_count
