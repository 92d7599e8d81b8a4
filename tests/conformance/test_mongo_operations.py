"""Conformance of the MongoDB server with exactly the operations store/ relies on.

CI runs this file first, against the same server the other tests use (nx-27017 here,
real MongoDB under docker/). If a server upgrade changes one of these behaviours the
run fails here, loudly, before any test of the project's own logic. It uses plain
pymongo and no project code, so it tests the server and nothing else.

When store/ starts using a new operation, add its check here
(../shared/reference/mongo-options.md lists what nx-27017 gets wrong).
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from pymongo import ASCENDING, DESCENDING, InsertOne, ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

pytestmark = pytest.mark.integration

U64_MAX = 2**64 - 1


def test_insert_and_find_by_string_id(db):
    db.c.insert_one({"_id": "a1", "v": 1})
    assert db.c.find_one({"_id": "a1"}) == {"_id": "a1", "v": 1}
    assert db.c.find_one({"_id": "missing"}) is None


def test_upsert_with_set_is_idempotent(db):
    for _ in range(2):
        db.c.update_one({"_id": "k"}, {"$set": {"n": 5, "s": "x"}}, upsert=True)
    assert list(db.c.find()) == [{"_id": "k", "n": 5, "s": "x"}]


def test_set_on_insert_only_on_insert(db):
    db.c.update_one({"_id": "k"}, {"$setOnInsert": {"first": 1}, "$set": {"last": 1}},
                    upsert=True)
    db.c.update_one({"_id": "k"}, {"$setOnInsert": {"first": 2}, "$set": {"last": 2}},
                    upsert=True)
    assert db.c.find_one({"_id": "k"}) == {"_id": "k", "first": 1, "last": 2}


def test_dotted_set_into_keyed_subdocument(db):
    db.c.insert_one({"_id": "p", "legs": {"L1": {"amt": "1"}}})
    db.c.update_one({"_id": "p"}, {"$set": {"legs.L1.amt": "2", "legs.L2": {"amt": "3"}}})
    assert db.c.find_one({"_id": "p"})["legs"] == {"L1": {"amt": "2"}, "L2": {"amt": "3"}}
    assert db.c.find_one({"legs.L2.amt": "3"})["_id"] == "p"


def test_set_replaces_a_subdocument_of_an_existing_document(db):
    db.c.update_one({"_id": "h"}, {"$set": {"at_ms": 1, "details": {"pid": 1}}}, upsert=True)
    db.c.update_one({"_id": "h"}, {"$set": {"at_ms": 2, "details": {"host": "x"}}}, upsert=True)
    assert db.c.find_one({"_id": "h"}) == {"_id": "h", "at_ms": 2, "details": {"host": "x"}}


def test_millisecond_timestamps_compare_as_integers(db):
    db.c.insert_many([{"_id": str(i), "at_ms": 1_764_000_000_000 + i} for i in range(5)])
    db.c.update_one({"_id": "0"}, {"$set": {"at_ms": 1_764_000_000_010}})
    newest = db.c.find({"at_ms": {"$gte": 1_764_000_000_003}}).sort("at_ms", DESCENDING)
    assert [d["_id"] for d in newest] == ["0", "4", "3"]


def test_inc_and_unset(db):
    db.c.insert_one({"_id": "n", "count": 1, "gone": True})
    db.c.update_one({"_id": "n"}, {"$inc": {"count": 2}, "$unset": {"gone": ""}})
    assert db.c.find_one({"_id": "n"}) == {"_id": "n", "count": 3}


def test_counter_made_with_set_on_insert_then_incremented(db):
    # store/venue_markets.py: defaults by an upserting update_one (an upserting
    # find_one_and_update drops $setOnInsert on nx-27017), then find_one_and_update $inc.
    for expected in (1, 2):
        db.c.update_one({"_id": "ctr"}, {"$setOnInsert": {"n": 0, "g": 0}}, upsert=True)
        doc = db.c.find_one_and_update({"_id": "ctr"}, {"$inc": {"n": 1}},
                                       return_document=ReturnDocument.AFTER)
        assert doc == {"_id": "ctr", "n": expected, "g": 0}


def test_compare_and_set_claims_once(db):
    db.c.insert_one({"_id": "job", "state": "pending", "version": 0})
    first = db.c.find_one_and_update({"_id": "job", "state": "pending"},
                                     {"$set": {"state": "claimed"}, "$inc": {"version": 1}},
                                     return_document=ReturnDocument.AFTER)
    second = db.c.find_one_and_update({"_id": "job", "state": "pending"},
                                      {"$set": {"state": "claimed"}, "$inc": {"version": 1}},
                                      return_document=ReturnDocument.AFTER)
    assert first == {"_id": "job", "state": "claimed", "version": 1}
    assert second is None


def test_concurrent_claims_never_double(db, mongo_url):
    from pymongo import MongoClient

    db.c.insert_many([{"_id": f"j{i:03}", "state": "pending"} for i in range(200)])
    claimed: list[str] = []
    lock = threading.Lock()

    def claim(worker: int) -> None:
        client = MongoClient(mongo_url)
        coll = client[db.name].c
        while True:
            doc = coll.find_one_and_update({"state": "pending"},
                                           {"$set": {"state": f"w{worker}"}},
                                           sort=[("_id", ASCENDING)],
                                           return_document=ReturnDocument.AFTER)
            if doc is None:
                break
            with lock:
                claimed.append(doc["_id"])
        client.close()

    threads = [threading.Thread(target=claim, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(claimed) == [f"j{i:03}" for i in range(200)]


def test_unique_index_rejects_duplicates(db):
    db.c.create_index([("key", ASCENDING)], unique=True)
    db.c.insert_one({"_id": "1", "key": "x"})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": "2", "key": "x"})
    db.c.insert_one({"_id": "3", "key": "y"})
    with pytest.raises(DuplicateKeyError):
        db.c.update_one({"_id": "3"}, {"$set": {"key": "x"}})


def test_compound_unique_index(db):
    db.c.create_index([("venue", ASCENDING), ("slot", DESCENDING)], unique=True)
    db.c.insert_one({"_id": "1", "venue": "liqwid", "slot": 5})
    db.c.insert_one({"_id": "2", "venue": "surf", "slot": 5})
    with pytest.raises(DuplicateKeyError):
        db.c.insert_one({"_id": "3", "venue": "liqwid", "slot": 5})


def test_indexes_are_listed_by_key(db):
    db.c.create_index([("at", ASCENDING)])
    db.c.create_index([("a", ASCENDING), ("b", DESCENDING)])
    keys = [tuple(k for k in index["key"]) for index in db.c.list_indexes()]
    assert ("at",) in keys
    assert ("a", "b") in keys


def test_fixed_width_strings_order_like_numbers(db):
    values = [0, 1, 9, 10, 2**53 + 1, 2**63, U64_MAX]
    db.c.insert_many([{"_id": str(v), "q": str(v).zfill(20)} for v in values])
    above = db.c.find({"q": {"$gte": str(10).zfill(20), "$lt": str(2**63 + 1).zfill(20)}})
    assert sorted(int(d["_id"]) for d in above) == [10, 2**53 + 1, 2**63]
    ordered = [int(d["q"]) for d in db.c.find().sort("q", DESCENDING)]
    assert ordered == sorted(values, reverse=True)


def test_int64_boundaries_are_exact(db):
    for i, v in enumerate([2**63 - 1, -(2**63), 2**53 + 1]):
        db.c.insert_one({"_id": f"i{i}", "v": v})
        assert db.c.find_one({"_id": f"i{i}"})["v"] == v


def test_tz_aware_datetimes_round_trip_and_range(db):
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    db.c.insert_many([{"_id": str(i), "at": base + timedelta(minutes=i)} for i in range(5)])
    got = db.c.find_one({"_id": "2"})["at"]
    assert got == base + timedelta(minutes=2) and got.tzinfo is not None
    assert db.c.count_documents({"at": {"$gte": base + timedelta(minutes=3)}}) == 2


def test_in_ne_and_or_queries(db):
    db.c.insert_many([{"_id": str(i), "s": s} for i, s in enumerate("aabbc")])
    assert db.c.count_documents({"s": {"$in": ["a", "c"]}}) == 3
    assert db.c.count_documents({"s": {"$ne": "a"}}) == 3
    assert db.c.count_documents({"$or": [{"s": "a"}, {"_id": "4"}]}) == 3


def test_sort_skip_limit_and_getmore(db):
    db.c.insert_many([{"_id": f"{i:05}", "n": i} for i in range(1500)])
    page = [d["n"] for d in db.c.find().sort("n", DESCENDING).skip(10).limit(5)]
    assert page == [1489, 1488, 1487, 1486, 1485]
    assert sum(1 for _ in db.c.find(batch_size=100)) == 1500


def test_elem_match_and_scalar_arrays(db):
    db.c.insert_one({"_id": "t", "tags": ["x", "y"], "legs": [{"amt": 1}, {"amt": 7}]})
    assert db.c.find_one({"tags": "y"})["_id"] == "t"
    assert db.c.find_one({"legs": {"$elemMatch": {"amt": 7}}})["_id"] == "t"


def test_set_whole_array_under_version_guard(db):
    db.c.insert_one({"_id": "p", "legs": [{"amt": 1}], "version": 1})
    done = db.c.update_one({"_id": "p", "version": 1},
                           {"$set": {"legs": [{"amt": 1}, {"amt": 2}], "version": 2}})
    stale = db.c.update_one({"_id": "p", "version": 1}, {"$set": {"legs": []}})
    assert (done.modified_count, stale.modified_count) == (1, 0)
    assert db.c.find_one({"_id": "p"})["legs"] == [{"amt": 1}, {"amt": 2}]


def test_bulk_write_unordered_reports_duplicates(db):
    db.c.create_index([("key", ASCENDING)], unique=True)
    db.c.insert_one({"_id": "0", "key": "dup"})
    with pytest.raises(BulkWriteError) as caught:
        db.c.bulk_write([InsertOne({"_id": "1", "key": "a"}),
                         InsertOne({"_id": "2", "key": "dup"}),
                         UpdateOne({"_id": "3"}, {"$set": {"key": "b"}}, upsert=True)],
                        ordered=False)
    assert [e["index"] for e in caught.value.details["writeErrors"]] == [1]
    assert db.c.count_documents({}) == 3


def test_bulk_write_ordered_upserts_and_guarded_update_many(db):
    ops = [UpdateOne({"_id": f"u{i}"}, {"$set": {"q": "1", "sub": {"a": i}},
                                        "$setOnInsert": {"spent": -1}}, upsert=True)
           for i in range(3)]
    db.c.bulk_write(ops, ordered=True)
    db.c.bulk_write([UpdateMany({"_id": {"$in": ["u0", "u1"]}, "spent": -1},
                                {"$set": {"spent": 7, "by": "t1"}}),
                     UpdateMany({"_id": {"$in": ["u1", "u2"]}, "spent": -1},
                                {"$set": {"spent": 8, "by": "t2"}})], ordered=True)
    db.c.bulk_write(ops, ordered=True)  # replayed: $setOnInsert leaves the spends alone
    docs = {d["_id"]: (d["spent"], d.get("by"), d["sub"]) for d in db.c.find()}
    assert docs == {"u0": (7, "t1", {"a": 0}), "u1": (7, "t1", {"a": 1}),
                    "u2": (8, "t2", {"a": 2})}


def test_delete_one_and_many(db):
    db.c.insert_many([{"_id": str(i), "slot": i} for i in range(10)])
    assert db.c.delete_many({"slot": {"$gt": 6}}).deleted_count == 3
    assert db.c.delete_one({"_id": "0"}).deleted_count == 1
    assert db.c.count_documents({}) == 6


def test_top_level_projection(db):
    db.c.insert_one({"_id": "x", "a": 1, "sub": {"b": 2}})
    assert db.c.find_one({"_id": "x"}, {"sub": 1}) == {"_id": "x", "sub": {"b": 2}}
    assert db.c.find_one({"_id": "x"}, {"sub": 0}) == {"_id": "x", "a": 1}


def test_drop_database_removes_everything(db, mongo_url):
    from pymongo import MongoClient

    client = MongoClient(mongo_url)
    scratch = client[db.name + "_scratch"]
    scratch.c.insert_one({"_id": "1"})
    client.drop_database(scratch.name)
    assert scratch.c.count_documents({}) == 0
    client.close()
