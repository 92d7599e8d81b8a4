"""store/ against the real MongoDB server: exact quantities, Decimals and the declared indexes."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from store import heartbeats
from store.codec import U64_MAX, decode_decimal, decode_u64, encode_decimal, encode_u64
from store.indexes import INDEXES, ensure_indexes

pytestmark = pytest.mark.integration


def test_u64_max_and_decimals_round_trip_through_the_server(db):
    price = Decimal("0.000000123456789012345678901234567890")
    rate = Decimal("12.50")
    db.amounts.insert_one({"_id": "p1", "qty": encode_u64(U64_MAX), "zero": encode_u64(0),
                           "price": encode_decimal(price), "rate": encode_decimal(rate)})
    doc = db.amounts.find_one({"_id": "p1"})
    assert decode_u64(doc["qty"]) == 18446744073709551615
    assert decode_u64(doc["zero"]) == 0
    assert decode_decimal(doc["price"]) == price
    assert str(decode_decimal(doc["rate"])) == "12.50"  # trailing zero kept: the value as given


def test_quantity_range_queries_stay_numeric_past_int64(db):
    quantities = [5, 2**62, 2**63 - 1, 2**63, 2**63 + 1, U64_MAX]
    db.amounts.insert_many([{"_id": str(q), "qty": encode_u64(q)} for q in quantities])
    big = db.amounts.find({"qty": {"$gte": encode_u64(2**63)}}).sort("qty", 1)
    assert [decode_u64(d["qty"]) for d in big] == [2**63, 2**63 + 1, U64_MAX]


def test_ensure_indexes_creates_every_declared_index_once(db):
    created = ensure_indexes(db)
    assert len(created) == sum(len(specs) for specs in INDEXES.values())
    assert ensure_indexes(db) == []
    for collection, specs in INDEXES.items():
        keys = {tuple(index["key"]) for index in db[collection].list_indexes()}
        for spec in specs:
            assert tuple(k for k, _ in spec.keys) in keys


def test_heartbeat_upsert_is_idempotent(db):
    at = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    heartbeats.record(db, "worker", at, {"pid": 1})
    heartbeats.record(db, "worker", at, {"pid": 1})
    assert db[heartbeats.COLLECTION].count_documents({}) == 1
    assert heartbeats.read(db, "worker") == heartbeats.Heartbeat("worker", at, {"pid": 1})
    later = at.replace(minute=1, microsecond=123000)
    heartbeats.record(db, "worker", later, {"pid": 2})
    assert heartbeats.read(db, "worker") == heartbeats.Heartbeat("worker", later, {"pid": 2})
