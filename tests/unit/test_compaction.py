"""The pure rules of compaction: what every watcher has applied, and when a spend is final."""
from __future__ import annotations

from indexer.compaction import spent_floor
from store.watcher_cursors import Cursor, applied_by_all


def cursor(name: str, seq: int) -> Cursor:
    return Cursor(name, seq, slot=seq, height=seq, hash=None, poisoned_seq=None,
                  updated_ms=None, applied=seq, rate=None)


def test_applied_by_all_is_the_slowest_registered_watcher():
    cursors = [cursor("wallets", 40), cursor("own-txs", 55), cursor("liqwid", 70)]
    assert applied_by_all(cursors, ["wallets", "own-txs", "liqwid"]) == 40
    assert applied_by_all(cursors, ["own-txs", "liqwid"]) == 55


def test_a_registered_watcher_without_a_cursor_holds_everything():
    assert applied_by_all([cursor("wallets", 40)], ["wallets", "surf"]) == 0
    assert applied_by_all([cursor("wallets", 40)], []) == 0


def test_a_watcher_no_longer_registered_holds_nothing_back():
    # Its cursor stays in MongoDB but nothing will ever move it again.
    assert applied_by_all([cursor("old-venue", 3), cursor("wallets", 40)], ["wallets"]) == 40


def test_a_spend_is_final_more_than_k_blocks_below_the_watchers_block():
    assert spent_floor(applied_height=10_000, k=2160, retention=0) == 7840
    assert spent_floor(applied_height=10_000, k=2160, retention=1000) == 6840
    # Not far enough yet: a floor at or below zero prunes nothing (store/utxos.prune_spent).
    assert spent_floor(applied_height=2000, k=2160, retention=0) < 0
