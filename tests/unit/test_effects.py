"""Pure block effects: which outputs a watcher indexes and which inputs a tx consumes."""
from __future__ import annotations

from chain.ledger import Tx, TxOut
from indexer.effects import payment_credential, tx_effects, watched
from protocols.base import UtxoWatcher, Watch

CRED = bytes(range(1, 29))
OTHER = bytes(range(2, 30))
POLICY = b"\xaa" * 28


def out(address: bytes, assets=None, inline=None) -> TxOut:
    return TxOut("addr", address, 2_000_000, assets or {}, None, inline, None)


def tx(valid=True, outputs=(), inputs=(), collateral=(), collateral_return=None) -> Tx:
    return Tx(id=b"\x11" * 32, index=0, valid=valid, fee=170_000, inputs=list(inputs),
              reference_inputs=[], collateral=list(collateral), outputs=list(outputs), mint={},
              withdrawals={}, required_signers=[], validity_start=None, ttl=None, redeemers=0,
              datums={}, metadata=False, body_raw=b"", collateral_return=collateral_return)


def test_payment_credential_by_address_type():
    assert payment_credential(bytes([0x00]) + CRED + OTHER) == CRED  # base, key/key
    assert payment_credential(bytes([0x71]) + CRED) == CRED  # enterprise, script, mainnet
    assert payment_credential(bytes([0x40]) + CRED + b"\x01\x02\x03") == CRED  # pointer
    assert payment_credential(bytes([0xE1]) + CRED) is None  # reward address
    assert payment_credential(bytes([0x82]) + b"\x00" * 40) is None  # Byron
    assert payment_credential(b"\x71\x01") is None  # too short


def test_watched_by_credential_address_or_policy():
    base = bytes([0x01]) + CRED + OTHER
    assert watched(out(base), Watch(credentials=frozenset({CRED})))
    assert not watched(out(base), Watch(credentials=frozenset({OTHER})))  # stake part only
    assert watched(out(base), Watch(addresses=frozenset({base})))
    holder = out(bytes([0x61]) + OTHER, assets={(POLICY, b"tok"): 5})
    assert watched(holder, Watch(policies=frozenset({POLICY})))
    assert not watched(holder, Watch())


def test_valid_tx_creates_watched_outputs_and_consumes_its_inputs():
    mine, theirs = bytes([0x71]) + CRED, bytes([0x71]) + OTHER
    effects = tx_effects(tx(outputs=[out(theirs), out(mine, inline=b"\xd8\x79\x80")],
                            inputs=[(b"\x22" * 32, 3)], collateral=[(b"\x33" * 32, 0)]),
                         UtxoWatcher("v", Watch(credentials=frozenset({CRED}))))
    assert [c.ref for c in effects.created] == ["11" * 32 + "#1"]
    assert effects.spends == ["22" * 32 + "#3"]  # collateral stays unspent


def test_invalid_tx_consumes_collateral_and_creates_its_return():
    mine = bytes([0x71]) + CRED
    effects = tx_effects(tx(valid=False, outputs=[out(mine), out(mine)],
                            inputs=[(b"\x22" * 32, 3)], collateral=[(b"\x33" * 32, 0)],
                            collateral_return=out(mine)),
                         UtxoWatcher("v", Watch(credentials=frozenset({CRED}))))
    # The return sits after the two regular outputs, which were never created.
    assert [c.ref for c in effects.created] == ["11" * 32 + "#2"]
    assert effects.spends == ["33" * 32 + "#0"]


def test_datum_reading_is_the_watchers():
    class Reader(UtxoWatcher):
        def decode_datum(self, datum_cbor):
            return {"bytes": len(datum_cbor)}

    mine = bytes([0x71]) + CRED
    effects = tx_effects(tx(outputs=[out(mine, inline=b"\xd8\x79\x80"), out(mine)]),
                         Reader("v", Watch(credentials=frozenset({CRED}))))
    assert [c.datum for c in effects.created] == [{"bytes": 3}, None]
