"""The per-process cache of raw blocks (indexer/block_cache.py): one query for what it
lacks, blocks kept per database, least recently used out first past its byte bound."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from indexer.block_cache import BlockCache
from store import chain_log

STORED = {"db1": {"a": b"A" * 10, "b": b"B" * 10, "c": b"C" * 10},
          "db2": {"a": b"other bytes under the same hash"}}


@pytest.fixture
def queries(monkeypatch):
    """Each query the cache makes: (database, hashes asked for)."""
    asked: list[tuple[str, list[str]]] = []

    def load_blocks(db, hashes):
        asked.append((db.name, list(hashes)))
        return {h: STORED[db.name][h] for h in hashes if h in STORED[db.name]}

    monkeypatch.setattr(chain_log, "load_blocks", load_blocks)
    return asked


def db(name: str):
    return SimpleNamespace(name=name)


def test_a_block_read_once_serves_the_next_watcher(queries):
    cache = BlockCache(max_bytes=1000)
    assert cache.load(db("db1"), ["a", "b"]) == {"a": b"A" * 10, "b": b"B" * 10}
    assert cache.load(db("db1"), ["a", "b", "c"]) == STORED["db1"]
    assert queries == [("db1", ["a", "b"]), ("db1", ["c"])]
    assert cache.load(db("db1"), ["c", "a"]) == {"c": b"C" * 10, "a": b"A" * 10}
    assert len(queries) == 2


def test_a_block_not_stored_is_absent_and_asked_for_again(queries):
    cache = BlockCache(max_bytes=1000)
    assert cache.load(db("db1"), ["a", "zz"]) == {"a": b"A" * 10}
    assert cache.load(db("db1"), ["zz"]) == {}
    assert queries == [("db1", ["a", "zz"]), ("db1", ["zz"])]


def test_each_database_has_its_own_blocks(queries):
    """Crafted test blocks reuse real headers, so one hash can name other bytes in
    another database."""
    cache = BlockCache(max_bytes=1000)
    assert cache.load(db("db1"), ["a"]) == {"a": b"A" * 10}
    assert cache.load(db("db2"), ["a"]) == {"a": b"other bytes under the same hash"}
    assert cache.load(db("db1"), ["a"]) == {"a": b"A" * 10}
    assert len(queries) == 2


def test_the_least_recently_used_go_past_the_bound(queries):
    cache = BlockCache(max_bytes=25)  # two of the 10-byte blocks
    cache.load(db("db1"), ["a", "b"])
    cache.load(db("db1"), ["a"])  # a is now the most recently used
    cache.load(db("db1"), ["c"])  # b goes
    queries.clear()
    cache.load(db("db1"), ["a", "c"])
    assert queries == []
    cache.load(db("db1"), ["b"])
    assert queries == [("db1", ["b"])]


def test_a_block_over_the_bound_is_not_kept(queries):
    cache = BlockCache(max_bytes=5)
    assert cache.load(db("db1"), ["a"]) == {"a": b"A" * 10}
    assert cache.load(db("db1"), ["a"]) == {"a": b"A" * 10}
    assert len(queries) == 2
