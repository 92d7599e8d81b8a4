"""The watcher's lease around a batch (indexer/apply.py, store/watcher_cursors.py): taken
first (the cursor document made on the first batch), released by the batch's last write
together with the cursor's last move and the rate, and never written by a worker that
lost it."""
from __future__ import annotations

import pytest

from indexer.apply import apply_pending
from protocols.base import UtxoWatcher, Watch
from store import watcher_cursors
from store.chain_log import ChainEvent
from tests.support.pipeline import write_log
from tests.support.simulator import preprod_chain

pytestmark = pytest.mark.integration

NOWHERE = UtxoWatcher("nowhere", Watch(credentials=frozenset({b"\x1e" * 28})))


def cursor_doc(db, name: str) -> dict:
    return db[watcher_cursors.COLLECTION].find_one({"_id": name})


def test_a_batch_ends_with_one_write_that_moves_records_and_releases(stores, monkeypatch):
    _, db = stores
    write_log(db, [("forward", b) for b in preprod_chain(30)])

    def no_separate_release(*args):
        pytest.fail("the lease released by a write of its own")

    monkeypatch.setattr(watcher_cursors, "release_lease", no_separate_release)
    result = apply_pending(db, NOWHERE, "w1", batch=10_000)
    assert (result.applied, result.more) == (30, False)
    doc = cursor_doc(db, "nowhere")
    assert (doc["seq"], doc["applied"], doc["lease_owner"], doc["lease_until_ms"]) == \
        (30, 30, "", 0)
    assert doc["rate"] > 0
    # Free: another worker takes it at once, and finds nothing left to apply (a batch
    # with nothing to apply releases the lease by itself).
    monkeypatch.undo()
    assert apply_pending(db, NOWHERE, "w2", batch=10_000).applied == 0
    assert cursor_doc(db, "nowhere")["lease_owner"] == ""


def test_a_lease_held_elsewhere_leaves_the_batch_to_its_holder(stores):
    _, db = stores
    write_log(db, [("forward", b) for b in preprod_chain(5)])
    watcher_cursors.ensure(db, "nowhere")
    assert watcher_cursors.take_lease(db, "nowhere", "w1", 60_000) is not None
    result = apply_pending(db, NOWHERE, "w2")
    assert (result.busy, result.applied) == (True, 0)
    doc = cursor_doc(db, "nowhere")
    assert (doc["seq"], doc["lease_owner"]) == (0, "w1")


def test_finish_after_losing_the_lease_writes_nothing(stores):
    _, db = stores
    watcher_cursors.ensure(db, "x")
    assert watcher_cursors.take_lease(db, "x", "w1", 60_000) is not None
    # w1 stalls past its lease; w2 takes over.
    db[watcher_cursors.COLLECTION].update_one({"_id": "x"}, {"$set": {"lease_until_ms": 1}})
    assert watcher_cursors.take_lease(db, "x", "w2", 60_000) is not None
    before = cursor_doc(db, "x")
    event = ChainEvent(7, "forward", 70, "ab" * 32, 7, 1)
    assert not watcher_cursors.finish(db, "x", "w1", 0, event, 7, 0.5)
    assert not watcher_cursors.finish(db, "x", "w1", 0, None, 7, 0.5)
    assert cursor_doc(db, "x") == before
    # The holder's finish: a compare-and-set from where the cursor is.
    assert not watcher_cursors.finish(db, "x", "w2", 3, event, 7, 0.5)
    assert watcher_cursors.finish(db, "x", "w2", 0, event, 7, 0.5)
    doc = cursor_doc(db, "x")
    assert (doc["seq"], doc["slot"], doc["height"], doc["hash"], doc["applied"], doc["rate"],
            doc["lease_owner"]) == (7, 70, 7, "ab" * 32, 7, 14.0, "")


def test_finish_without_a_move_keeps_the_cursor(stores):
    _, db = stores
    watcher_cursors.ensure(db, "x")
    watcher_cursors.take_lease(db, "x", "w1", 60_000)
    assert watcher_cursors.advance(db, "x", "w1", 0, 25, 250, 25, "cd" * 32, 60_000)
    assert watcher_cursors.finish(db, "x", "w1", 25, None, 25, 0.25)
    doc = cursor_doc(db, "x")
    assert (doc["seq"], doc["hash"], doc["applied"], doc["rate"], doc["lease_owner"]) == \
        (25, "cd" * 32, 25, 100.0, "")
