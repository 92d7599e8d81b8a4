"""tasks/chain_verdict.py over the MongoDB server: a submitted leg's verdict from what the
pipeline stored — own_txs (seen, rolled back), the follower's tip, our wallets' UTxOs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from indexer.watchers import OWN_TXS, WALLETS
from store import own_txs, utxos
from tasks.chain_verdict import chain_verdict

pytestmark = pytest.mark.integration

TX, OTHER = "aa" * 32, "bb" * 32
REF = "cc" * 32 + "#0"


@dataclass(frozen=True)
class Out:
    address: str = "addr1test"
    lovelace: int = 5_000_000
    assets: dict[Any, int] = None  # type: ignore[assignment]
    datum_hash: bytes | None = None
    inline_datum: bytes | None = None
    script_ref: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", self.assets or {})


@dataclass(frozen=True)
class Created:
    ref: str
    tx_id: str
    out: Out
    datum: dict[str, Any] | None = None


def tip(db, slot: int, height: int, watchers=(OWN_TXS, WALLETS)) -> None:  # type: ignore[no-untyped-def]
    """Both watchers have applied the chain up to this block."""
    for name in watchers:
        db["watcher_cursors"].update_one(
            {"_id": name}, {"$set": {"seq": height, "slot": slot, "height": height,
                                     "hash": "dd" * 32}}, upsert=True)


def test_a_legs_verdict_follows_the_stored_chain(db) -> None:  # type: ignore[no-untyped-def]
    utxos.create(db, WALLETS, [Created(REF, "cc" * 32, Out())], slot=1, height=1)
    own_txs.record_submitted(db, TX, "swap")
    tip(db, slot=50, height=10)
    # Submitted, not seen, still valid: (re)submit.
    assert chain_verdict(db, TX, ttl=100, inputs=[REF]).move == "resubmit"
    # Seen in block 9, the tip at 10: confirmed, two deep.
    own_txs.mark_seen(db, [TX], slot=45, height=9, block="ee" * 32)
    utxos.spend_all(db, WALLETS, [(TX, [REF])], slot=45, height=9)
    seen = chain_verdict(db, TX, ttl=100, inputs=[REF], needed=2)
    assert (seen.move, seen.confirmations) == ("confirm", 2)
    # Rolled back past it (its own spend undone too): in flight again, still valid.
    own_txs.rollback(db, slot=40)
    utxos.rollback(db, WALLETS, slot=40)
    tip(db, slot=60, height=8)
    assert chain_verdict(db, TX, ttl=100, inputs=[REF]).move == "resubmit"
    # Its window passes with its input unspent: expired, failed.
    tip(db, slot=100, height=12)
    expired = chain_verdict(db, TX, ttl=100, inputs=[REF])
    assert expired.move == "fail" and "expired" in expired.why
    # Spent by another transaction (a retry's double spend that won): a conflict.
    utxos.spend_all(db, WALLETS, [(OTHER, [REF])], slot=101, height=13)
    tip(db, slot=102, height=13)
    conflict = chain_verdict(db, TX, ttl=100, inputs=[REF])
    assert conflict.move == "fail" and "another transaction" in conflict.why
    # An input the pipeline never indexed: wait, never fail on a guess.
    assert chain_verdict(db, TX, ttl=100, inputs=["ff" * 32 + "#3"]).move == "wait"
    # The follower is past the window but the wallets watcher has not applied those
    # blocks yet: the pipeline has not read the chain there, so nothing is failed.
    tip(db, slot=200, height=20, watchers=(OWN_TXS,))
    tip(db, slot=90, height=11, watchers=(WALLETS,))
    utxos.rollback(db, WALLETS, slot=100)  # the conflicting spend undone
    assert chain_verdict(db, TX, ttl=100, inputs=[REF]).move == "resubmit"


def test_an_order_is_settled_by_the_block_that_spends_it_and_undone_by_a_rollback(  # type: ignore[no-untyped-def]
        db) -> None:
    """The pipeline's own-txs watcher keeps what the transaction spending our order paid
    its receiver (indexer/apply.py settlements); a rollback past it re-opens the order."""
    from chain.ledger import decode_block
    from chain.forge import forge_block
    from indexer.apply import apply_own_event, settlements
    from store.chain_log import ChainEvent
    from tests.support.sandbox import ALICE, address

    import cbor2
    import hashlib
    from pycardano import Address

    receiver = str(Address.from_primitive(address(ALICE)))
    order_tx = "11" * 32
    assert own_txs.record_submitted(db, order_tx, "swap", order_ref=f"{order_tx}#0",
                                    receiver=receiver)
    assert not own_txs.record_submitted(db, order_tx, "swap")  # noted once
    unit = (b"\x01" * 28, b"tok")
    fill_body = {0: [[bytes.fromhex(order_tx), 0], [b"\x22" * 32, 1]],
                 1: [{0: address(ALICE), 1: [2_000_000, {unit[0]: {unit[1]: 777}}]},
                     {0: address(ALICE), 1: 1_000_000},
                     {0: b"\x61" + b"\x33" * 28, 1: 5_000_000}],
                 2: 0}
    fill = cbor2.dumps([fill_body, {}, True, None])
    fill_id = hashlib.blake2b(cbor2.dumps(fill_body), digest_size=32).digest().hex()
    forged = forge_block([fill], slot=500, height=7, prev_hash=b"\x44" * 32, label="test")
    block = decode_block(forged)
    found = settlements(block, own_txs.open_orders(db))
    assert [(s.order_ref, s.tx_id, s.paid) for s in found] == [
        (f"{order_tx}#0", fill_id, {"lovelace": 3_000_000, unit[0].hex() + unit[1].hex(): 777})]
    event = ChainEvent(seq=1, kind="forward", slot=500, hash=block.hash.hex(), height=7,
                       txs=1)
    for _ in range(2):  # applying a block twice changes nothing
        apply_own_event(db, event, forged)
    settled = own_txs.settlement(db, order_tx)
    assert settled == {"tx_id": fill_id, "slot": 500, "height": 7,
                       "paid": {"lovelace": 3_000_000, unit[0].hex() + unit[1].hex(): 777}}
    assert own_txs.open_orders(db) == {}
    own_txs.rollback(db, slot=499)
    assert own_txs.settlement(db, order_tx) is None
    assert own_txs.open_orders(db) == {f"{order_tx}#0": receiver}


# --- a confirmed leg a deep rollback took off the chain (tasks/live_legs.py) ---------------

def _confirmed(leg_id: str, tx_id: str):  # type: ignore[no-untyped-def]
    from trading.legs import Actual, Leg, LegKind, LegState

    return Leg(leg_id, LegKind.SWAP, "dexhunter", leg_id.rsplit("-a", 1)[0], 1,
               asset_in="lovelace", amount_in=10, asset_out="ab" * 28, amount_out=5,
               state=LegState.CONFIRMED, tx_id=tx_id,
               actual=Actual(tx_id, amount_in=10, amount_out=5))


def test_confirmed_legs_rolled_back_are_sent_again_in_order_or_alerted(db) -> None:  # type: ignore[no-untyped-def]
    """The first confirmed leg off the chain is sent again (once, until a resend is due),
    and nothing after it is looked at; once it is back the next one is; one whose window
    passed with its inputs unspent becomes a chain alert (the position out of the sweep);
    all back: the alert is cleared."""
    from store import positions as store
    from tasks.live_legs import ChainWait, LiveChain, reconcile_confirmed

    first, second = _confirmed("open-00-swap-a1", TX), _confirmed("open-01-swap-a1", OTHER)
    refs = {TX: REF, OTHER: "cc" * 32 + "#1"}
    utxos.create(db, WALLETS, [Created(ref, "cc" * 32, Out()) for ref in refs.values()],
                 slot=1, height=1)
    doc = {"_id": "pos-1", "work": {
        leg.leg_id: {"signed": f"{i:02x}" * 4, "ttl": 100, "inputs": [refs[leg.tx_id]]}
        for i, leg in enumerate((first, second))}}
    db[store.COLLECTION].insert_one({"_id": "pos-1", "pending": False})
    for leg in (first, second):
        own_txs.record_submitted(db, leg.tx_id, f"pos-1/{leg.leg_id}")
        own_txs.mark_seen(db, [leg.tx_id], slot=45, height=9, block="ee" * 32)
        utxos.spend_all(db, WALLETS, [(leg.tx_id, [refs[leg.tx_id]])], slot=45, height=9)
    sent: list[bytes] = []
    live = LiveChain(submit=lambda tx: sent.append(tx) or "id", custody=None)
    tip(db, slot=50, height=12)
    reconcile_confirmed(live, db, doc, [first, second])  # both on chain: nothing to do
    # A rollback past both.
    own_txs.rollback(db, slot=40)
    utxos.rollback(db, WALLETS, slot=40)
    tip(db, slot=60, height=8)
    assert own_txs.rolled_back_purposes(db) == {"pos-1/open-00-swap-a1", "pos-1/open-01-swap-a1"}
    with pytest.raises(ChainWait, match="open-00-swap-a1: rolled back after it was "
                                        "confirmed: sent again$"):
        reconcile_confirmed(live, db, doc, [first, second])
    assert sent == [bytes.fromhex(doc["work"]["open-00-swap-a1"]["signed"])]
    with pytest.raises(ChainWait, match="open-00-swap-a1: .* waiting for a block") as wait:
        reconcile_confirmed(live, db, doc, [first, second])
    assert wait.value.pending and len(sent) == 1  # not sent again so soon
    # The first is back on chain; the second's window passes with its input unspent.
    own_txs.mark_seen(db, [TX], slot=61, height=9, block="ef" * 32)
    tip(db, slot=100, height=12)
    with pytest.raises(ChainWait, match="open-01-swap-a1 was confirmed, then rolled back, "
                                        "and cannot land again") as alert:
        reconcile_confirmed(live, db, doc, [first, second])
    assert not alert.value.pending and len(sent) == 1
    stored = db[store.COLLECTION].find_one({"_id": "pos-1"})
    assert "open-01-swap-a1" in stored["chain_alerts"] and not stored["pending"]
    assert own_txs.rolled_back_purposes(db) == set()  # given up: out of the sweep
    # Say an operator put it back on chain: the alert goes.
    own_txs.mark_seen(db, [OTHER], slot=101, height=13, block="f0" * 32)
    reconcile_confirmed(live, db, {**doc, **stored}, [first, second])
    assert "chain_alerts" not in db[store.COLLECTION].find_one({"_id": "pos-1"})
