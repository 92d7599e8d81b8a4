"""API keys for bots, the pure part: how a key looks, how it is kept (hashed), and how a
presented key is read.

A key is "dhl_<id>_<secret>": `id` (16 hex) finds its record, `secret` (64 hex, 256
random bits) is never stored — only its SHA-256, compared in constant time. A key is
shown once, when it is made.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_KEY = re.compile(r"dhl_([0-9a-f]{16})_([0-9a-f]{64})")


def new_key() -> tuple[str, str, str]:
    """(key id, secret's digest to keep, the whole key to show once)."""
    key_id, secret = secrets.token_hex(8), secrets.token_hex(32)
    return key_id, digest(secret), f"dhl_{key_id}_{secret}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse(presented: object) -> tuple[str, str] | None:
    """(key id, secret) of a presented key; None for anything not shaped as a key."""
    if not isinstance(presented, str):
        return None
    found = _KEY.fullmatch(presented)
    return None if found is None else (found.group(1), found.group(2))


def matches(secret: str, kept_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), kept_digest)


#: Who a key is for: a user id (as live accounts name users) or a wallet address.
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")


def user_id(value: object) -> str:
    """A user id, checked (ValueError names what is wrong)."""
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise ValueError(f"a user id is 1 to 128 of [A-Za-z0-9_.:@-], starting with a letter "
                         f"or digit, got {value!r:.80}")
    return value


_SESSION = re.compile(r"dhs_([0-9a-f]{64})")


def new_session_token() -> tuple[str, str]:
    """(the digest to keep, the token to hand out once): a wallet sign-in's session."""
    secret = secrets.token_hex(32)
    return digest(secret), f"dhs_{secret}"


def session_secret(presented: object) -> str | None:
    if not isinstance(presented, str):
        return None
    found = _SESSION.fullmatch(presented)
    return None if found is None else found.group(1)
