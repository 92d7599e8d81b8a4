"""Pure: what a block does to a UTxO watcher's state.

Outputs the watcher watches are created; inputs are candidate spends (which of them
the watcher holds, only the store knows). An invalid (phase-2 failed) transaction
spends its collateral and creates its collateral return instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.ledger import Block, Tx, TxOut
from protocols.base import UtxoWatcher, Watch

#: Shelley address header types 0-7 carry a payment credential in bytes 1..28.
_PAYMENT_PART_TYPES = range(0, 8)


def payment_credential(address: bytes) -> bytes | None:
    if len(address) >= 29 and (address[0] >> 4) in _PAYMENT_PART_TYPES:
        return address[1:29]
    return None


def watched(out: TxOut, watch: Watch) -> bool:
    if out.address_bytes in watch.addresses:
        return True
    credential = payment_credential(out.address_bytes)
    if credential is not None and credential in watch.credentials:
        return True
    return any(policy in watch.policies for policy, _ in out.assets)


@dataclass(frozen=True)
class CreatedUtxo:
    ref: str  # "<txid>#<ix>"
    tx_id: str
    out: TxOut
    datum: dict[str, Any] | None


@dataclass(frozen=True)
class TxEffects:
    tx_id: str
    created: list[CreatedUtxo]
    spends: list[str]  # refs this tx consumes


def tx_effects(tx: Tx, watcher: UtxoWatcher) -> TxEffects:
    tx_id = tx.id.hex()
    if tx.valid:
        outputs = list(enumerate(tx.outputs))
        consumed = tx.inputs
    else:
        # The collateral return sits at the index after the regular outputs.
        outputs = [] if tx.collateral_return is None else [(len(tx.outputs),
                                                            tx.collateral_return)]
        consumed = tx.collateral
    created = []
    for index, out in outputs:
        if watched(out, watcher.watch):
            ref = f"{tx_id}#{index}"
            created.append(CreatedUtxo(ref, tx_id, out, _described(tx, ref, out, watcher)))
    return TxEffects(tx_id, created, [f"{txid.hex()}#{ix}" for txid, ix in consumed])


def _described(tx: Tx, ref: str, out: TxOut, watcher: UtxoWatcher) -> dict[str, Any] | None:
    datum = out.inline_datum
    if datum is None and out.datum_hash is not None:
        datum = tx.datums.get(out.datum_hash)
    return watcher.describe(ref, out, datum)


def block_effects(block: Block, watcher: UtxoWatcher) -> list[TxEffects]:
    """Per transaction, in block order (a later tx may spend an earlier one's output)."""
    if block.tx_count == 0:
        return []
    return [tx_effects(tx, watcher) for tx in block.txs]
