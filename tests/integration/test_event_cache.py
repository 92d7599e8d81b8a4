"""The per-process cache of block-log events (store/event_cache.py): it serves what
`chain_log.events_after` would return now, reading from MongoDB only what it lacks —
never an event of a log that was dropped and written again under the same numbers,
never an event compaction removed."""
from __future__ import annotations

import pytest

from indexer.apply import apply_pending
from store import chain_log, event_cache, watcher_cursors
from store.event_cache import EventCache
from store.indexes import ensure_indexes
from tests.support.pipeline import expected_state, rollback_script, snapshot, watchers, write_log
from tests.support.simulator import preprod_chain

pytestmark = pytest.mark.integration


@pytest.fixture
def reads(monkeypatch):
    """Each events query MongoDB answers: (after seq, limit, seqs returned)."""
    asked: list[tuple[int, int, list[int]]] = []
    real = chain_log.events_after

    def counting(db, seq, limit):
        found = real(db, seq, limit)
        asked.append((seq, limit, [e.seq for e in found]))
        return found

    monkeypatch.setattr(chain_log, "events_after", counting)
    return asked


def fake_log(db, first: int, last: int, tag: str = "a") -> None:
    """Forward events first..last naming made-up blocks (`tag` tells two logs apart);
    every tenth one a rollback."""
    for seq in range(first, last + 1):
        if seq % 10 == 0:
            chain_log.append_event(db, seq, "backward", seq - 2, f"{tag}{seq - 2:063x}", seq - 2)
        else:
            chain_log.append_event(db, seq, "forward", seq, f"{tag}{seq:063x}", seq, seq % 3)


def test_served_from_memory_as_mongodb_would_answer(stores, reads):
    _, db = stores
    fake_log(db, 1, 50)
    cache = EventCache()
    assert cache.events_after(db, 0, 30) == chain_log.events_after(db, 0, 30)
    within, beyond = chain_log.events_after(db, 5, 20), chain_log.events_after(db, 20, 100)
    reads.clear()
    # Within what it holds: no events query at all (only the one-event check).
    assert cache.events_after(db, 5, 20) == within
    assert reads == []
    # Past what it holds: only the events beyond it are read.
    assert cache.events_after(db, 20, 100) == beyond
    assert reads == [(30, 90, list(range(31, 51)))]


def test_a_rollback_event_is_served_like_any_other(stores, reads):
    _, db = stores
    fake_log(db, 1, 25)
    cache = EventCache()
    cache.events_after(db, 0, 100)
    expected = chain_log.events_after(db, 8, 5)
    reads.clear()
    served = cache.events_after(db, 8, 5)
    assert reads == []
    assert [e.kind for e in served] == ["forward", "backward", "forward", "forward", "forward"]
    assert served == expected


def test_events_appended_after_caching_are_seen(stores, reads):
    _, db = stores
    fake_log(db, 1, 12)
    cache = EventCache()
    assert [e.seq for e in cache.events_after(db, 0, 100)] == list(range(1, 13))
    assert cache.events_after(db, 12, 100) == []
    fake_log(db, 13, 17)
    reads.clear()
    assert [e.seq for e in cache.events_after(db, 3, 100)] == list(range(4, 18))
    assert [e.seq for e in cache.events_after(db, 12, 100)] == list(range(13, 18))
    # Each call asks only for what follows the newest event it holds.
    assert reads == [(12, 91, list(range(13, 18))), (17, 95, [])]


def test_a_dropped_and_refilled_database_is_read_again(stores):
    """Same database, same seqs, another log: the cache must not serve the old one."""
    _, db = stores
    fake_log(db, 1, 40, tag="a")
    cache = EventCache()
    old = cache.events_after(db, 0, 100)
    assert cache.events_after(db, 0, 100) == old
    db.client.drop_database(db.name)
    ensure_indexes(db)
    fake_log(db, 1, 40, tag="b")
    new = cache.events_after(db, 0, 100)
    assert [e.seq for e in new] == [e.seq for e in old]
    assert all(e.hash and e.hash.startswith("b") for e in new)
    assert new == chain_log.events_after(db, 0, 100)
    assert cache.events_after(db, 10, 5) == chain_log.events_after(db, 10, 5)


def test_a_dropped_and_refilled_database_through_the_pipeline(stores):
    """The pipeline's own cache, over two real logs of blocks under the same seqs: the
    state after the second is the second chain's, not a poison block of the first."""
    settings, db = stores
    chain = preprod_chain(160)
    first, second = chain[:80], chain[80:]
    active = watchers(settings)
    write_log(db, [("forward", b) for b in first])
    for watcher in active.values():
        assert apply_pending(db, watcher, "w1", batch=10_000).applied == 80
    assert snapshot(db) == expected_state(settings, first, [])
    db.client.drop_database(db.name)
    ensure_indexes(db)
    write_log(db, [("forward", b) for b in second])
    for watcher in active.values():
        result = apply_pending(db, watcher, "w1", batch=10_000)
        assert (result.applied, result.poisoned) == (80, False)
    assert snapshot(db) == expected_state(settings, second, [])


def test_events_compaction_removed_are_not_served(stores):
    _, db = stores
    fake_log(db, 1, 60)
    cache = EventCache()
    cache.events_after(db, 0, 100)
    removed, _ = chain_log.compact(db, applied_by_all=45, keep_depth=2160)
    assert removed == 45
    # A watcher starting from the beginning gets what MongoDB still holds.
    assert [e.seq for e in cache.events_after(db, 0, 100)] == list(range(46, 61))
    assert [e.seq for e in cache.events_after(db, 50, 3)] == [51, 52, 53]


def test_each_database_has_its_own_log(stores, namespace):
    _, db = stores
    other = db.client[f"{namespace}_other"]
    try:
        fake_log(db, 1, 10, tag="a")
        fake_log(other, 1, 10, tag="b")
        cache = EventCache()
        assert cache.events_after(db, 0, 5) == chain_log.events_after(db, 0, 5)
        assert cache.events_after(other, 0, 5) == chain_log.events_after(other, 0, 5)
        assert cache.events_after(db, 0, 5) == chain_log.events_after(db, 0, 5)
    finally:
        db.client.drop_database(other.name)


def test_the_cache_keeps_the_newest_events_and_the_recent_databases(stores, namespace, reads):
    _, db = stores
    others = [db.client[f"{namespace}_{i}"] for i in range(2)]
    try:
        fake_log(db, 1, 30)
        cache = EventCache(max_events=10, max_databases=2)
        cache.events_after(db, 0, 100)
        reads.clear()
        cache.events_after(db, 20, 100)  # held: 21..30, so only what follows is asked for
        cache.events_after(db, 15, 100)  # 16..20 went: read again
        assert reads == [(30, 90, []), (15, 100, list(range(16, 31)))]
        for other in others:
            fake_log(other, 1, 5)
            cache.events_after(other, 0, 100)
        reads.clear()
        cache.events_after(db, 25, 100)  # evicted by the two others: read again
        assert reads == [(25, 100, list(range(26, 31)))]
    finally:
        for other in others:
            db.client.drop_database(other.name)


def test_two_watchers_in_one_process_read_a_batchs_events_once(stores, reads, monkeypatch):
    settings, db = stores
    monkeypatch.setattr(event_cache, "EVENTS", EventCache())
    chain = preprod_chain(120)
    write_log(db, rollback_script(chain, [(60, 2)]))
    active = watchers(settings)
    names = ["demo-script", "demo-policy"]
    for name in names:
        assert apply_pending(db, active[name], "w1", batch=10_000).applied == 123
    queried = [seq for _, _, seqs in reads for seq in seqs]
    assert sorted(queried) == list(range(1, 124))  # each event read from MongoDB once
    assert [c.seq for c in watcher_cursors.read_all(db) if c.watcher in names] == [123, 123]
    expected = expected_state(settings, chain, [])
    assert [d for d in snapshot(db)["watcher_utxos"] if d["watcher"] in names] == \
        [d for d in expected["watcher_utxos"] if d["watcher"] in names]


def test_a_lagging_watchers_events_join_the_run(stores, reads):
    """A watcher behind the others reads older events; they join what the cache holds,
    so both watchers are served from memory after."""
    _, db = stores
    fake_log(db, 1, 30)
    cache = EventCache()
    cache.events_after(db, 20, 100)  # 21..30
    cache.events_after(db, 10, 10)  # 11..20: meets the run
    expected = chain_log.events_after(db, 12, 15)
    reads.clear()
    assert cache.events_after(db, 12, 15) == expected
    assert reads == []
