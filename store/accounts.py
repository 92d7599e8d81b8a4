"""Which account of the master key is a user's managed position wallet (execution/
custody.py derives it). Only the index is stored, never a key.

An index is given once per user, for good: the first ask allocates the next one from a
counter (`find_one_and_update` with `$inc`, atomic on every server the project uses) and
inserts the mapping under the user's id; a concurrent first ask for the same user loses
the insert (DuplicateKeyError), reads the winner's index, and its own number is skipped,
never reused. So two users never share a wallet, and a user's wallet never changes.
"""
from __future__ import annotations

import re

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

COLLECTION = "accounts"
COUNTERS = "counters"
WALLETS = "live_wallets"  # traders' own wallets signing live positions
#: Accounts are hardened BIP-32 indexes: below 2^31.
MAX_ACCOUNT = 0x7FFF_FFFF
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")


class AccountError(ValueError):
    """A user id that cannot name a wallet, or no index left."""


def account_of(db: Database, user: str) -> int:
    """The user's account index, allocated on first ask."""
    if not isinstance(user, str) or not _USER.fullmatch(user):
        raise AccountError(f"a user id is 1 to 128 of [A-Za-z0-9_.:@-], got {user!r:.80}")
    found = db[COLLECTION].find_one({"_id": user})
    if found is not None:
        return int(found["account"])
    counter = db[COUNTERS].find_one_and_update(
        {"_id": COLLECTION}, {"$inc": {"next": 1}}, upsert=True,
        return_document=ReturnDocument.AFTER)
    assert counter is not None  # upserted, returned after the update
    index = int(counter["next"]) - 1
    if index > MAX_ACCOUNT:
        raise AccountError("every account index of the master key is taken")
    try:
        db[COLLECTION].insert_one({"_id": user, "account": index})
    except DuplicateKeyError:  # another worker allocated this user's first
        winner = db[COLLECTION].find_one({"_id": user})
        assert winner is not None  # the insert that beat ours is there
        return int(winner["account"])
    return index


def set_address(db: Database, user: str, network: str, address: str) -> None:
    """Keep the account's public address on `network` (derived by execution/custody.py),
    so the block pipeline watches it (indexer/watchers.py)."""
    db[COLLECTION].update_one({"_id": user}, {"$set": {f"address_{network}": address}})


def watch_wallet(db: Database, address: str) -> None:
    """A trader's own wallet that signs live positions: watched like a managed account."""
    db[WALLETS].update_one({"_id": address}, {"$set": {"address": address}}, upsert=True)


def managed_addresses(db: Database) -> list[str]:
    """Every managed account's address on every network it was used on, and every
    trader's wallet that signs live positions."""
    found: set[str] = set()
    for row in db[COLLECTION].find({}):
        found.update(str(v) for k, v in row.items() if k.startswith("address_"))
    found.update(str(row["_id"]) for row in db[WALLETS].find({}))
    return sorted(found)
