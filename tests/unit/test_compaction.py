"""The pure rules of compaction: what every watcher has applied."""
from __future__ import annotations

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
