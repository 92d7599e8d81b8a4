"""A lending venue's state through the real block pipeline: Liqwid's UTxOs found by their
mainnet tokens in crafted blocks carrying real datums and the real MarketParams update
1c280d01, rolled back and applied again, equal to an independent fold; a datum of a layout
Liqwid's code does not know stops Liqwid only."""
from __future__ import annotations

import pytest

from indexer.apply import apply_pending
from indexer.venue_state import current_records
from indexer.watchers import active_watchers
from store import watcher_cursors
from tests.support.crafted import CraftedTx, craft_block, output
from tests.support.pipeline import expected_state, rollback_script, snapshot, write_log
from tests.support.simulator import preprod_chain
from tests.support.stores import indexed_database
from tests.support.venue_chain import (ACTION_POLICY, ACTION_SCRIPT, liqwid_chain,
                                       script_address)

pytestmark = pytest.mark.integration

ADA_MARKET_PARAMS = "24f51a8308b4e47b9d1438ec1e91da4ee063c38c704b530cba4adc5b"


@pytest.fixture
def mainnet(test_env, namespace):
    """Liqwid lives on mainnet: its tokens are loaded for the network the settings name."""
    env = {**test_env, "CARDANO_NETWORK": "mainnet", "VENUES": "liqwid",
           "VENUE_MODULES": "protocols.demo"}
    with indexed_database(env, namespace) as opened:
        yield opened


def test_liqwid_state_follows_the_chain_through_rollbacks(mainnet):
    settings, db = mainnet
    chain = liqwid_chain(preprod_chain(3))
    watchers = active_watchers(settings)
    assert "liqwid" in watchers
    write_log(db, rollback_script(chain.blocks, [(1, 1), (2, 3)]))
    for watcher in watchers.values():
        assert apply_pending(db, watcher, "w1", batch=10_000).applied == 9
    assert snapshot(db) == expected_state(settings, chain.blocks, [])

    records = {r.ref: r for r, _ in current_records(db, watchers["liqwid"])}
    kinds = sorted((r.kind, r.market) for r in records.values())
    assert kinds == [("action", "Ada"), ("market_params", "Ada"), ("market_params", "DJED"),
                     ("market_state", "Ada")]
    # The batch (block 2) spent the MarketState and the supplied Action and recreated both.
    assert set(records) == {chain.ref("C", 0), chain.ref("C", 1), chain.ref("P", 0),
                            chain.ref("P", 1)}
    action = records[chain.ref("C", 1)]
    assert action.fields["supply_diff"] == 0 and action.fields["reserved_supply"] == 493_913_232
    state = records[chain.ref("C", 0)]
    assert state.fields["supply"] == 23_238_669_736_527
    params = records[chain.ref("P", 0)]
    assert params.extra["rate_model"]["kink"] is not None

    # Stored beside each UTxO: the venue's reading, in store/'s form.
    stored = db["watcher_utxos"].find_one({"_id": f"liqwid:{chain.ref('C', 0)}"})
    assert stored["datum"]["kind"] == "market_state"
    assert stored["datum"]["fields"]["supply"] == "23238669736527"


def test_an_unknown_liqwid_layout_stops_liqwid_only(mainnet):
    settings, db = mainnet
    templates = preprod_chain(4)
    chain = liqwid_chain(templates[:3])
    # An output holding the Ada Action token whose datum is not an ActionDatum.
    bad = CraftedTx([(chain.txs["C"].id, 1)], [
        output(script_address(ACTION_SCRIPT), 50_000_000, {ACTION_POLICY: {b"": 1}},
               inline=bytes.fromhex("d8799f01ff"))])
    blocks = chain.blocks + [craft_block(templates[3], [bad])]
    write_log(db, [("forward", b) for b in blocks])
    watchers = active_watchers(settings)
    result = apply_pending(db, watchers["liqwid"], "w1", batch=10_000)
    assert result.poisoned and result.applied == 3
    cursor = {c.watcher: c for c in watcher_cursors.read_all(db)}["liqwid"]
    assert cursor.poisoned_seq == 4
    [poison] = watcher_cursors.poisoned(db)
    assert poison["watcher"] == "liqwid" and "DatumLayoutError" in poison["error"]
    for name in ("demo-script", "demo-policy", "own-txs", "wallets"):
        assert apply_pending(db, watchers[name], "w1", batch=10_000).applied == 4, name
