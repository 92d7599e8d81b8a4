"""Bounded growth: the block log does not grow under rollback churn, and spent UTxOs go
once no rollback can bring them back (unless SPENT_UTXO_RETENTION_BLOCKS keeps them)."""
from __future__ import annotations

import random

import pytest

from chain.follower import Breadcrumbs
from chain.points import Point, Tip
from core.settings import settings_from_mapping
from indexer.apply import apply_pending
from indexer.compaction import compact_all
from store import chain_log, utxos, watcher_cursors
from store.chain_cursor import MongoCursorStore
from tests.support.pipeline import (expected_state, leading_sink, rollback_script, snapshot,
                                    watchers, write_log)
from tests.support.simulator import preprod_chain

pytestmark = pytest.mark.integration

KEEP_ALL_SPENT = 10**9  # retention that keeps every spent UTxO: isolates the block log


def apply_all(db, active, batches: dict[str, int] | None = None) -> None:
    """Every watcher up to the end of the log, or `batches[name]` events for those named."""
    for name, watcher in active.items():
        if batches and name in batches:
            if batches[name]:
                apply_pending(db, watcher, "w1", batch=batches[name])
            continue
        while apply_pending(db, watcher, "w1", batch=10_000).more:
            pass


def behind(db, name: str) -> int:
    return chain_log.last_seq(db) - watcher_cursors.read(db, name).seq


def test_the_block_log_stays_bounded_under_rollback_churn(stores):
    settings, db = stores
    k, rounds, cycles, max_depth, advance = 20, 4, 25, 6, 5
    # Events one round writes at most: each cycle one backward and up to max_depth forwards.
    per_round = cycles * (1 + max_depth) + advance
    chain = preprod_chain(110 + rounds * advance + 20)
    active = watchers(settings)
    rng = random.Random(20240611)

    tip = 110  # blocks of `chain` on the log's chain
    write_log(db, [("forward", b) for b in chain[:tip]])
    apply_all(db, active)
    compact_all(db, active, k, KEEP_ALL_SPENT)
    sizes = []
    for _ in range(rounds):
        # Churn near the tip: the tip moves on a little, and again and again the chain
        # rolls back a few blocks and forward over the same heights.
        new_tip = tip + advance
        churn = sorted((rng.randrange(tip, new_tip), rng.randint(1, max_depth))
                       for _ in range(cycles))
        ops = rollback_script(chain[:new_tip], churn)
        assert all(op == ("forward", b) for op, b in zip(ops[:tip], chain))
        write_log(db, ops[tip:], first_seq=chain_log.last_seq(db) + 1)
        tip = new_tip
        # One watcher lags: it applies only half of what it has to, so compaction must
        # keep exactly what it has not applied yet.
        apply_all(db, active, {"wallets": behind(db, "wallets") // 2})
        lagging = behind(db, "wallets")
        assert lagging > 0
        compact_all(db, active, k, KEEP_ALL_SPENT)
        counts = chain_log.counts(db)
        assert counts["events"] == lagging  # all the unapplied ones, nothing else
        assert [e.seq for e in chain_log.events_after(db, 0, 10_000)] == \
            list(range(chain_log.last_seq(db) - lagging + 1, chain_log.last_seq(db) + 1))
        sizes.append(counts)

    assert chain_log.last_seq(db) >= rounds * cycles * 2  # the churn did happen
    for counts in sizes:  # a bound that does not grow with the number of cycles
        assert counts["events"] <= per_round
        assert counts["blocks"] <= k + 1

    apply_all(db, active)  # the laggard catches up with what was kept for it
    compact_all(db, active, k, KEEP_ALL_SPENT)
    assert chain_log.counts(db) == {"events": 1, "blocks": k + 1}
    # More blocks after the compactions: numbering goes on, and the state is exactly the
    # straight application of the surviving chain.
    write_log(db, [("forward", b) for b in chain[tip:]], first_seq=chain_log.last_seq(db) + 1)
    apply_all(db, active)
    assert snapshot(db) == expected_state(settings, chain, [])


def test_a_restarted_follower_rolls_back_to_a_breadcrumb_deeper_than_k(stores):
    settings, db = stores
    k = 20
    chain = preprod_chain(120)
    active = watchers(settings)
    write_log(db, [("forward", b) for b in chain[:100]])
    crumbs = Breadcrumbs()
    for block in chain[:100]:
        crumbs.forward(Point(block.slot, block.hash), block.height)
    MongoCursorStore(db).save([c.to_json() for c in crumbs.crumbs])
    apply_all(db, active)

    compact_all(db, active, k, KEEP_ALL_SPENT)
    floor = chain[99].height - k
    deep = [c for c in crumbs.crumbs if c.height < floor]
    assert len(deep) >= 3
    for block in chain[:100]:
        kept = chain_log.block_height(db, block.hash.hex())
        if block.height >= floor or any(c.point.hash == block.hash for c in deep):
            assert kept == block.height
        else:
            assert kept is None
    assert chain_log.counts(db)["events"] == 1

    # Restarted, the follower numbers on from the newest event; the node rolls it back
    # to an old crumb, whose height the backward event still finds.
    sink = leading_sink(db, lambda watcher, seq, slot: None, list(active))
    assert sink.seq == 100
    target = deep[-1]
    index = next(i for i, b in enumerate(chain) if b.hash == target.point.hash)
    tip = Tip(Point(chain[-1].slot, chain[-1].hash), chain[-1].height)
    sink.roll_backward(target.point, tip)
    event = chain_log.events_after(db, 100, 10)[0]
    assert (event.seq, event.kind, event.height) == (101, "backward", target.height)
    sink.roll_forward_batch(chain[index + 1:], tip)
    sink.writer.release()
    apply_all(db, active)
    assert watcher_cursors.read(db, "wallets").height == chain[-1].height
    assert snapshot(db) == expected_state(settings, chain, [])


def final_removed(docs: list[dict], floor: int) -> list[dict]:
    """The expected state: what a straight application holds, less spends below `floor`."""
    return [d for d in docs if d["spent_slot"] == utxos.UNSPENT or d["spent_height"] >= floor]


def test_spent_utxos_go_once_final_and_a_rollback_within_k_still_restores(stores):
    settings, db = stores
    k = 47  # the floor is then the height of a block with spends: they are not final yet
    chain = preprod_chain(300)
    active = watchers(settings)
    write_log(db, [("forward", b) for b in chain])
    apply_all(db, active)
    before = snapshot(db)[utxos.COLLECTION]
    floor = chain[-1].height - k
    final = [d for d in before if d["spent_slot"] != utxos.UNSPENT and d["spent_height"] < floor]
    recent = [d for d in before if d["spent_slot"] != utxos.UNSPENT and d["spent_height"] >= floor]
    unspent = [d for d in before if d["spent_slot"] == utxos.UNSPENT]
    assert len(final) >= 20 and len(recent) >= 5 and len(unspent) >= 5
    assert any(d["spent_height"] == floor for d in recent)

    assert compact_all(db, active, k, 0)["spent_utxos"] == len(final)
    assert snapshot(db)[utxos.COLLECTION] == final_removed(before, floor)
    assert compact_all(db, active, k, 0)["spent_utxos"] == 0  # nothing more is final yet

    # A rollback of 30 blocks (within k) un-spends and deletes exactly what it must.
    depth = 30
    assert any(d["spent_height"] > chain[-1 - depth].height for d in recent)
    seq = write_log(db, [("backward", chain[-1 - depth])], first_seq=chain_log.last_seq(db) + 1)
    apply_all(db, active)
    assert snapshot(db)[utxos.COLLECTION] == final_removed(
        expected_state(settings, chain[:-depth], [])[utxos.COLLECTION], floor)
    # Forward again: the same state as the whole chain applied straight, less the final.
    write_log(db, [("forward", b) for b in chain[-depth:]], first_seq=seq + 1)
    apply_all(db, active)
    assert snapshot(db)[utxos.COLLECTION] == final_removed(before, floor)


def test_the_compact_task_keeps_spent_utxos_for_the_retention_setting(stores, env,
                                                                      monkeypatch):
    import chain.follower
    import tasks.chain  # noqa: F401  (registers chain.compact)
    from tasks.celery_app import make_celery

    settings, db = stores
    monkeypatch.setattr(chain.follower, "SECURITY_PARAM_K", 50)  # the recorded chain is short
    chain = preprod_chain(300)
    write_log(db, [("forward", b) for b in chain])
    apply_all(db, watchers(settings))
    before = snapshot(db)[utxos.COLLECTION]
    top = chain[-1].height

    def run_task(retention: str) -> dict[str, int]:
        app = make_celery(settings_from_mapping({**env,
                                                 "SPENT_UTXO_RETENTION_BLOCKS": retention}))
        try:
            return app.tasks["chain.compact"].apply().get()
        finally:
            app.close()

    # Kept for 250 blocks beyond k: nothing of a 300-block chain is that old yet...
    first = run_task("250")
    assert first == {"events": 299, "blocks": 300 - 51, "spent_utxos": 0}
    assert chain_log.counts(db) == {"events": 1, "blocks": 51}
    assert snapshot(db)[utxos.COLLECTION] == before
    # ...100 beyond k: only what was spent more than 150 blocks deep goes...
    result = run_task("100")
    assert result["spent_utxos"] > 0
    assert snapshot(db)[utxos.COLLECTION] == final_removed(before, top - 150)
    # ...and the default prunes once final.
    assert run_task("0")["spent_utxos"] > 0
    assert snapshot(db)[utxos.COLLECTION] == final_removed(before, top - 50)
