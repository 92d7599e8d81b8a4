"""The pipeline's fast path (indexer/apply.py): blocks read in bulk, the watcher's unspent
refs kept in memory for the batch, and a block skipped undecoded when its bytes show
it cannot concern the watcher. Skipping must never change what is stored: each test
also compares the result with the reference fold (tests/support/reference.py)."""
from __future__ import annotations

import pytest

import indexer.apply as apply_module
from indexer import holdings as holdings_module
from indexer.apply import ADVANCE_EVERY, LOAD_WINDOW, apply_pending
from protocols.base import UtxoWatcher, Watch
from store import chain_log, utxos, watcher_cursors
from tests.support.crafted import demo_chain
from tests.support.pipeline import (expected_state, rollback_script, snapshot, watchers,
                                    write_log)
from tests.support.simulator import preprod_chain

pytestmark = pytest.mark.integration


@pytest.fixture
def decodes(monkeypatch):
    """How many blocks indexer/apply.py decodes."""
    count = [0]
    real = apply_module.decode_block

    def counting(raw):
        count[0] += 1
        return real(raw)

    monkeypatch.setattr(apply_module, "decode_block", counting)
    return count


@pytest.fixture
def moves(monkeypatch):
    """How often indexer/apply.py moves a cursor (during a batch, and at its end with the
    lease's release)."""
    count = [0]
    advance, finish = watcher_cursors.advance, watcher_cursors.finish

    def advancing(*args, **kwargs):
        count[0] += 1
        return advance(*args, **kwargs)

    def finishing(db, watcher, owner, from_seq, to, blocks, seconds):
        count[0] += to is not None
        return finish(db, watcher, owner, from_seq, to, blocks, seconds)

    monkeypatch.setattr(watcher_cursors, "advance", advancing)
    monkeypatch.setattr(watcher_cursors, "finish", finishing)
    return count


@pytest.fixture
def block_reads(monkeypatch):
    """How many queries read blocks."""
    count = [0]
    real = chain_log.load_blocks

    def counting(db, hashes):
        count[0] += 1
        return real(db, hashes)

    monkeypatch.setattr(chain_log, "load_blocks", counting)
    def one_by_one(db, block_hash):
        pytest.fail("a block read on its own")

    monkeypatch.setattr(chain_log, "load_block", one_by_one)
    return count


def test_a_watcher_whose_needles_appear_nowhere_decodes_no_block(stores, decodes, block_reads,
                                                                 moves):
    settings, db = stores
    chain = preprod_chain()
    assert len(chain) == 864
    write_log(db, [("forward", b) for b in chain])
    nowhere = UtxoWatcher("nowhere", Watch(credentials=frozenset({b"\x1e" * 28}),
                                           policies=frozenset({b"\x1f" * 28})))
    assert not any(b.mentions(nowhere.watch.needles) for b in chain)

    result = apply_pending(db, nowhere, "w1", batch=10_000)

    assert (result.applied, result.poisoned) == (864, False)
    assert watcher_cursors.read(db, "nowhere").seq == 864
    assert decodes[0] == 0
    with_txs = sum(1 for b in chain if b.tx_count)
    assert with_txs > 100 and block_reads[0] == -(-with_txs // LOAD_WINDOW)
    assert utxos.unspent_of(db, "nowhere") == []
    # Repeating skipped blocks after a crash costs nothing: the cursor moves once, at the end.
    assert moves[0] == 1


def test_the_demo_watchers_decode_only_blocks_that_may_concern_them(stores, decodes, moves):
    settings, db = stores
    chain = preprod_chain()
    write_log(db, [("forward", b) for b in chain])
    active = watchers(settings)
    with_txs = sum(1 for b in chain if b.tx_count)
    for name in ("demo-script", "demo-policy", "wallets"):
        decodes[0] = moves[0] = 0
        assert apply_pending(db, active[name], "w1", batch=10_000).applied == 864
        assert 0 < decodes[0] < with_txs / 2, name
        # The cursor moves once per ADVANCE_EVERY decoded blocks, and at the end.
        assert decodes[0] // ADVANCE_EVERY <= moves[0] <= decodes[0] // ADVANCE_EVERY + 1
    expected = expected_state(settings, chain, [])
    assert snapshot(db)["watcher_utxos"] == expected["watcher_utxos"]


def test_a_spend_whose_block_names_no_needle_is_applied(stores, decodes):
    """Crafted block 2 holds one tx, E, which spends C#2 (a wallet output holding a
    demo-policy token) and pays an address no watcher watches: only the spent output's
    tx id tells that the block concerns demo-policy and wallets."""
    settings, db = stores
    chain = demo_chain(preprod_chain(3))
    spender = chain.blocks[2]
    active = watchers(settings)
    for name in ("demo-policy", "wallets"):
        assert not spender.mentions(active[name].watch.needles)
    write_log(db, [("forward", b) for b in chain.blocks])
    for name in ("demo-policy", "wallets"):
        assert apply_pending(db, active[name], "w1", batch=10_000).applied == 3
        spent = utxos.read_one(db, name, chain.ref("C", 2))
        assert spent is not None
        assert (spent["spent_slot"], spent["spent_tx"]) == (spender.slot, chain.id("E"))
    expected = expected_state(settings, chain.blocks, [])
    mine = [d for d in snapshot(db)["watcher_utxos"] if d["watcher"] != "demo-script"]
    assert mine == [d for d in expected["watcher_utxos"] if d["watcher"] != "demo-script"]


def test_a_rollback_inside_a_batch_brings_back_what_it_unspent(stores):
    """Block 55 spends demo-script's output of block 52; rolled back one block, the output
    is unspent again, and block 55 applied again must spend it again: the in-memory set
    of unspent refs follows the rollback."""
    settings, db = stores
    chain = preprod_chain(80)
    write_log(db, rollback_script(chain, [(55, 1)]))
    for watcher in watchers(settings).values():
        assert apply_pending(db, watcher, "w1", batch=10_000).applied == 82
    assert snapshot(db) == expected_state(settings, chain, [])


def test_a_batch_applied_again_after_a_crash_changes_nothing(stores):
    """A worker that died after writing but before moving the cursor: the next one applies
    the same blocks again, holding refs the first run spent later on. Nothing changes."""
    settings, db = stores
    chain = preprod_chain(260)
    write_log(db, [("forward", b) for b in chain])
    active = watchers(settings)
    for watcher in active.values():
        apply_pending(db, watcher, "w1", batch=10_000)
    before = snapshot(db)
    assert before == expected_state(settings, chain, [])
    for name, watcher in active.items():
        db[watcher_cursors.COLLECTION].update_one({"_id": name}, {"$set": {"seq": 40}})
        assert apply_pending(db, watcher, "w2", batch=10_000).applied == 220
    assert snapshot(db) == before


def test_too_many_held_tx_ids_to_search_decodes_every_block(stores, decodes, monkeypatch):
    """Past the bound on searched tx ids the watcher decodes every block with txs, as
    before the fast path, with the same result."""
    settings, db = stores
    monkeypatch.setattr(holdings_module, "MAX_SEARCHED_TX_IDS", 0)
    chain = preprod_chain(300)
    write_log(db, [("forward", b) for b in chain])
    script = watchers(settings)["demo-script"]
    assert apply_pending(db, script, "w1", batch=10_000).applied == 300
    # Until it holds something there is no tx id to search for: the needles decide.
    first = min(d["created_slot"] for d in db[utxos.COLLECTION].find({"watcher": "demo-script"}))
    before = [b for b in chain if b.slot <= first and b.tx_count]
    after = [b for b in chain if b.slot > first and b.tx_count]
    assert after and decodes[0] == sum(1 for b in before if b.mentions(script.watch.needles)) \
        + len(after)
    expected = expected_state(settings, chain, [])
    assert [d for d in snapshot(db)["watcher_utxos"] if d["watcher"] == "demo-script"] == \
        [d for d in expected["watcher_utxos"] if d["watcher"] == "demo-script"]
