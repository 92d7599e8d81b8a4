"""Operator-set paper prices (`dhl paper set-price`): per token, a list of (from_ms, price)
points, each holding from its time on until the next (trading/paper_market.py says how they
meet the walk and the CSV).

One document per (token, from_ms), `_id` "<unit>:<from_ms, 20 digits>", so setting a price
at a time already set replaces it (an upserting `update_one` with `$set`, never
`replace_one`: docs/storage.md rule 7), and nothing is pushed into an array (rule 5). The
price is the Decimal's canonical string (no Decimal128: rule 2); times are integer ms.
store/ keeps plain values; it does not know what a paper market is.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from pymongo.database import Database

from store.codec import decode_decimal, encode_decimal, now_ms

PRICES = "paper_prices"


def _doc_id(token: str, from_ms: int) -> str:
    return f"{token}:{from_ms:020d}"


def set_price(db: Database, token: str, from_ms: int, price: Decimal,
              set_ms: int | None = None) -> None:
    """Make `price` the token's paper price from `from_ms` on (replacing one set at that
    very time)."""
    if not 0 <= from_ms < 10 ** 20:  # the _id's 20 digits keep string order = time order
        raise ValueError(f"from_ms must be in [0, 10**20), not {from_ms}")
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise ValueError(f"a paper price must be a Decimal above 0, not {price!r}")
    key = token.lower()
    db[PRICES].update_one(
        {"_id": _doc_id(key, from_ms)},
        {"$set": {"token": key, "from_ms": from_ms, "price": encode_decimal(price),
                  "set_ms": now_ms() if set_ms is None else set_ms}},
        upsert=True)


def _points(docs: Iterable[dict]) -> list[tuple[int, Decimal]]:
    return sorted((int(d["from_ms"]), decode_decimal(d["price"])) for d in docs)


def prices(db: Database, token: str) -> list[tuple[int, Decimal]]:
    """The token's operator-set prices, oldest first."""
    return _points(db[PRICES].find({"token": token.lower()}))


def all_prices(db: Database) -> dict[str, list[tuple[int, Decimal]]]:
    """Every token's operator-set prices, oldest first."""
    found: dict[str, list[dict]] = {}
    for doc in db[PRICES].find({}):
        found.setdefault(doc["token"], []).append(doc)
    return {token: _points(docs) for token, docs in sorted(found.items())}
