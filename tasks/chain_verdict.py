"""What the chain, as the pipeline stored it, says of one of our submitted transactions:
the I/O around execution/confirmation.py.

Its block and depth come from `own_txs` (marked seen by the block pipeline, re-opened by
rollbacks) against the follower's tip; its inputs' fates from our wallets' indexed UTxOs
(the `wallets` watcher): unspent, spent by this very transaction, spent by another, or
not indexed (unknown: never a reason to fail a leg).
"""
from __future__ import annotations

from typing import Sequence

from execution.confirmation import InputState, Sighting, Verdict, judge
from indexer.watchers import WALLETS
from store import chain_cursor, own_txs, utxos
from store.mongo import Database


def chain_verdict(db: Database, tx_id: str, *, ttl: int | None, inputs: Sequence[str],
                  needed: int = 1) -> Verdict:
    """`inputs`: the transaction's inputs of our wallets, as "<txid>#<index>"."""
    tip = chain_cursor.summary(db)
    height_now, slot_now = tip.get("height"), tip.get("slot")
    tip_height = height_now if isinstance(height_now, int) else 0
    tip_slot = slot_now if isinstance(slot_now, int) else 0
    status = own_txs.status(db, tx_id, tip_height)
    height = None
    failed = False
    if status is not None and status["seen_slot"] is not None:
        height = tip_height - int(status["confirmations"]) + 1
        failed = status["state"] == "failed"
    states: dict[str, InputState] = {}
    ours = False
    for ref in inputs:
        row = utxos.read_one(db, WALLETS, ref)
        if row is None:
            states[ref] = "unknown"
        elif row["spent_slot"] is None:
            states[ref] = "unspent"
        else:
            states[ref] = "spent"
            ours = ours or row["spent_tx"] == tx_id
    return judge(Sighting(height, failed), tip_height=tip_height, tip_slot=tip_slot, ttl=ttl,
                 inputs=states, spent_by_us=ours, needed=needed)
