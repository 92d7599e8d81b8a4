"""Operating the pipeline: poison blocks, `dhl reprocess`, `dhl state`, /ready and /metrics."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app import create_app
from core.settings import PROJECT_ROOT
from indexer.apply import apply_pending
from store import utxos, watcher_cursors
from store.codec import decode_u64, encode_u64
from protocols import demo as demo_venue
from tests.support.pipeline import expected_state, leading_sink, snapshot, watchers, write_log
from tests.support.simulator import preprod_chain as blocks

pytestmark = pytest.mark.integration


class Fragile(demo_venue.DemoScript):
    """A parser with a bug: it cannot read constructor-1 datums."""

    def decode_datum(self, datum_cbor):
        reading = super().decode_datum(datum_cbor)
        if reading and reading.get("constructor") == 1:
            raise ValueError("unknown datum layout")
        return reading


def dhl(env, *args):
    return subprocess.run([sys.executable, "-m", "dhl", *args], cwd=PROJECT_ROOT, text=True,
                          capture_output=True, timeout=60, env={**os.environ, **env})


def find_poison_constructor_block(chain) -> int:
    for index, block in enumerate(chain):
        for tx in block.txs:
            for out in tx.outputs:
                if demo_venue.SCRIPT_CREDENTIAL == out.address_bytes[1:29] and out.inline_datum:
                    if demo_venue.DemoScript("x").decode_datum(out.inline_datum) \
                            .get("constructor") == 1:
                        return index
    raise AssertionError("no constructor-1 datum in the chunk")


def test_poison_block_stops_one_watcher_until_reprocessed(stores, env):
    settings, db = stores
    chain = blocks(200)
    write_log(db, [("forward", b) for b in chain])
    active = watchers(settings)
    fragile = Fragile("demo-script", active["demo-script"].watch)
    bad_index = find_poison_constructor_block(chain)
    bad = chain[bad_index]

    result = apply_pending(db, fragile, "w1", batch=10_000)
    assert result.poisoned and result.applied == bad_index
    for name, watcher in active.items():  # the others are not held up
        if name != "demo-script":
            assert apply_pending(db, watcher, "w1", batch=10_000).applied == 200
    cursor = watcher_cursors.read(db, "demo-script")
    assert cursor.seq == bad_index and cursor.poisoned_seq == bad_index + 1
    assert apply_pending(db, fragile, "w1").poisoned  # stays stopped, applies nothing

    # Operators see it: /ready names it, `dhl state cursors` lists the poison block.
    app = create_app(settings)
    body = app.test_client().get("/ready").get_json()
    assert "watchers" in body["down"] and "demo-script" in body["checks"]["watchers"]["detail"]
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'dhl_watcher_poisoned{watcher="demo-script"} 1.0' in metrics
    assert 'dhl_watcher_lag_events{watcher="wallets"} 0.0' in metrics
    app.extensions["dhl"].close()
    cursors = json.loads(dhl(env, "state", "cursors").stdout)
    assert cursors["poisoned"][0]["hash"] == bad.hash.hex()
    assert "unknown datum layout" in cursors["poisoned"][0]["error"]

    # After the fix, `dhl reprocess SLOT.HASH` re-runs it.
    assert dhl(env, "reprocess", f"{bad.slot}.{'0' * 64}").returncode == 1
    result = dhl(env, "reprocess", f"{bad.slot}.{bad.hash.hex()}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reprocessing"] == ["demo-script"]
    assert apply_pending(db, active["demo-script"], "w1", batch=10_000).applied == 200 - bad_index

    assert snapshot(db) == expected_state(settings, chain, [])


def test_state_utxos_and_cursors(stores, env):
    settings, db = stores
    chain = blocks(150)
    write_log(db, [("forward", b) for b in chain])
    for watcher in watchers(settings).values():
        apply_pending(db, watcher, "w1", batch=10_000)
    result = dhl(env, "state", "utxos", "--watcher", "demo-script")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and [r["ref"] for r in rows] == sorted(r["ref"] for r in rows)
    assert all(set(r) == {"ref", "address", "lovelace", "assets", "datum_hash", "inline_datum",
                          "created_slot"} for r in rows)
    assert rows == utxos.unspent(db, watchers=["demo-script"])
    assert all(r["address"] == "addr_test1wpu365zw7petuyvhng78y2l3534g4ammuuexldu5nkjf0sgz5xu88"
               for r in rows)
    wallet = [json.loads(x) for x in dhl(env, "state", "utxos", "--address",
                                         demo_venue.WALLET).stdout.splitlines()]
    assert wallet and all(r["address"] == demo_venue.WALLET for r in wallet)
    cursors = json.loads(dhl(env, "state", "cursors").stdout)
    assert cursors["follower"]["seq"] == 150
    assert set(cursors["watchers"]) == {"demo-policy", "demo-script", "own-txs", "wallets"}
    assert all(v["behind"] == 0 for v in cursors["watchers"].values())


def test_compaction_keeps_k_blocks_and_what_a_watcher_still_needs(stores):
    from store import chain_log

    settings, db = stores
    chain = blocks(300)
    write_log(db, [("forward", b) for b in chain])
    active = watchers(settings)
    for name, watcher in active.items():
        apply_pending(db, watcher, "w1", batch=250 if name == "wallets" else 10_000)
    applied_by_all = min(c.seq for c in watcher_cursors.read_all(db))
    assert applied_by_all == 250
    events, removed = chain_log.compact(db, applied_by_all, keep_depth=100)
    top = chain[-1].height
    assert events == 250  # every event all watchers applied, whatever its height
    assert [e.seq for e in chain_log.events_after(db, 0, 1000)] == list(range(251, 301))
    # Blocks go below k only: a rollback within k needs their heights.
    assert removed == sum(1 for b in chain[:250] if b.height < top - 100)
    assert chain_log.block_height(db, chain[-101].hash.hex()) == top - 100
    assert chain_log.load_block(db, chain[260].hash.hex()) is not None  # wallets needs it
    assert apply_pending(db, active["wallets"], "w1", batch=10_000).applied == 50
    # Compaction lost nothing a watcher needed.
    assert snapshot(db) == expected_state(settings, chain, [])


def test_crafted_chain_with_invalid_txs_and_rollbacks(stores):
    """What the recorded chain lacks: invalid txs (collateral taken, collateral return
    created), outputs spent in the block that created them, datums by hash; rolled back
    one block, then to the origin, and applied again."""
    from store import own_txs
    from tests.support.crafted import demo_chain
    from tests.support.pipeline import rollback_script

    settings, db = stores
    chain = demo_chain(blocks(3))
    ours = [chain.id("B"), chain.id("C"), chain.id("E"), "99" * 32]
    for tx_id in ours:
        own_txs.record_submitted(db, tx_id, "test")
    write_log(db, rollback_script(chain.blocks, [(1, 1), (2, 3)]))
    for watcher in watchers(settings).values():
        assert apply_pending(db, watcher, "w1", batch=10_000).applied == 9
    state = snapshot(db)
    assert state == expected_state(settings, chain.blocks, ours)
    assert any(d["ref"] == chain.ref("C", 2) for d in state["watcher_utxos"])
    states = {d["_id"]: d["state"] for d in state[own_txs.COLLECTION]}
    # Our tx whose scripts failed is on chain, but only its collateral went: not "seen".
    assert (states[chain.id("B")], states[chain.id("C")]) == ("seen", "failed")


def test_the_comparison_catches_one_wrong_document(stores):
    """Agreeing with the reference means something: any one document off, missing or
    extra in the pipeline's result fails the comparison."""
    from store import own_txs

    settings, db = stores
    chain = blocks(140)
    ours = [b.tx_ids[0].hex() for b in chain if b.tx_count][:3]
    for tx_id in ours:
        own_txs.record_submitted(db, tx_id, "test")
    write_log(db, [("forward", b) for b in chain])
    for watcher in watchers(settings).values():
        apply_pending(db, watcher, "w1", batch=10_000)
    expected = expected_state(settings, chain, ours)
    assert snapshot(db) == expected
    saved = {name: list(db[name].find()) for name in (utxos.COLLECTION, own_txs.COLLECTION)}
    coll = db[utxos.COLLECTION]
    spent = coll.find_one({"watcher": "demo-script", "spent_slot": {"$ne": -1},
                           "datum": {"$exists": True}})
    tokens = next(d for d in coll.find() if len(d["assets"]) > 1)
    one = {"_id": spent["_id"]}
    corruptions = [
        lambda: coll.delete_one(one),
        lambda: coll.update_one(one, {"$set": {"spent_slot": -1},
                                      "$unset": {"spent_height": "", "spent_tx": ""}}),
        lambda: coll.update_one(one, {"$set": {"spent_tx": "00" * 32}}),
        lambda: coll.update_one(one, {"$set": {"spent_height": spent["spent_height"] + 1}}),
        lambda: coll.update_one(one, {"$unset": {"datum": ""}}),
        lambda: coll.update_one({"_id": tokens["_id"]}, {
            "$set": {"lovelace": encode_u64(decode_u64(tokens["lovelace"]) + 1)}}),
        lambda: coll.update_one({"_id": tokens["_id"]},
                                {"$set": {"assets": tokens["assets"][::-1]}}),
        lambda: coll.insert_one({**tokens, "_id": tokens["_id"] + "0", "ref": "extra"}),
        lambda: own_txs.rollback(db, chain[0].slot),  # our seen txs back to "submitted"
    ]
    for corrupt in corruptions:
        corrupt()
        assert snapshot(db) != expected
        for name, docs in saved.items():  # put back what the pipeline wrote
            db[name].delete_many({})
            db[name].insert_many(docs)
        assert snapshot(db) == expected


def test_own_transactions_are_seen_reopened_by_a_rollback_and_seen_again(stores):
    from indexer.watchers import OwnTxWatcher
    from store import own_txs

    _, db = stores
    chain = blocks(40)
    with_txs = [i for i, b in enumerate(chain) if b.tx_count]
    first, second = with_txs[0], with_txs[1]
    ours = chain[second].tx_ids[0].hex()
    own_txs.record_submitted(db, ours, "open position 42")
    assert own_txs.status(db, ours, tip_height=0)["state"] == "submitted"

    ops = [("forward", b) for b in chain[:second + 3]]
    ops.append(("backward", chain[first]))  # the block with our tx is rolled back
    seq = write_log(db, ops)
    watcher = OwnTxWatcher()
    apply_pending(db, watcher, "w1", batch=second + 3)  # up to just before the rollback
    seen = own_txs.status(db, ours, tip_height=chain[second + 2].height)
    assert seen["state"] == "seen" and seen["seen_slot"] == chain[second].slot
    assert seen["confirmations"] == 3
    apply_pending(db, watcher, "w1")
    assert own_txs.status(db, ours, chain[first].height) == {
        "tx_id": ours, "state": "submitted", "seen_slot": None, "confirmations": 0}
    write_log(db, [("forward", b) for b in chain[first + 1:]], first_seq=seq + 1)
    apply_pending(db, watcher, "w1")
    assert own_txs.status(db, ours, chain[-1].height)["seen_slot"] == chain[second].slot


def test_state_without_mongodb_is_one_clear_line(env):
    from stack.processes import free_port

    result = dhl({**env, "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}/"}, "state",
                 "cursors")
    assert result.returncode == 1
    assert result.stderr.startswith("dhl: cannot reach MongoDB at mongodb://127.0.0.1:")
    assert "Traceback" not in result.stderr


def test_follower_progress_reaches_ready_and_metrics(stores):
    from chain.points import Point, Tip

    settings, db = stores
    chain = blocks(30)
    pokes = []
    sink = leading_sink(db, lambda watcher, seq, slot: pokes.append((watcher, seq)), ["wallets"])
    tip = Tip(Point(chain[-1].slot, chain[-1].hash), chain[-1].height)
    for block in chain:
        sink.roll_forward(block, tip)
    sink.roll_backward(Point(chain[20].slot, chain[20].hash), tip)
    assert pokes == [("wallets", seq) for seq in range(1, 32)]
    app = create_app(settings)
    client = app.test_client()
    follower = client.get("/ready").get_json()["checks"]["follower"]["info"]
    assert follower["slot"] == chain[20].slot and follower["lag_seconds"] == \
        chain[-1].slot - chain[20].slot
    assert follower["blocks_per_second"] > 0
    text = client.get("/metrics").get_data(as_text=True)
    values = dict(line.rsplit(" ", 1) for line in text.splitlines()
                  if line and not line.startswith("#"))
    assert float(values["dhl_follower_slot"]) == chain[20].slot
    assert float(values["dhl_chain_events"]) == 31
    assert float(values["dhl_follower_blocks_per_second"]) > 0
    app.extensions["dhl"].close()
