"""What the chain, as the pipeline stored it, says of one of our submitted transactions:
the I/O around execution/confirmation.py.

Its block and depth come from `own_txs` (marked seen by the block pipeline, re-opened by
rollbacks); its inputs' fates from our wallets' indexed UTxOs (the `wallets` watcher):
unspent, spent by this very transaction, spent by another, or not indexed (unknown:
never a reason to fail a leg). "Now" is the point both watchers have applied, not the
follower's tip: a block the follower has but the watchers have not applied yet could
hold the transaction, so a leg is never failed on a chain the pipeline has not read.
"""
from __future__ import annotations

from typing import Sequence

from execution.confirmation import InputState, Sighting, Verdict, judge
from indexer.watchers import OWN_TXS, WALLETS
from store import own_txs, utxos, watcher_cursors
from store.mongo import Database


def chain_verdict(db: Database, tx_id: str, *, ttl: int | None, inputs: Sequence[str],
                  needed: int = 1) -> Verdict:
    """`inputs`: the transaction's inputs of our wallets, as "<txid>#<index>"."""
    tip_height, tip_slot = applied_point(db)
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


def applied_point(db: Database) -> tuple[int, int]:
    """(height, slot) that both the own-txs and the wallets watchers have applied (0, -1
    before either has applied anything)."""
    cursors = [watcher_cursors.read(db, name) for name in (OWN_TXS, WALLETS)]
    if any(c is None for c in cursors):
        return 0, -1
    return min(c.height for c in cursors if c), min(c.slot for c in cursors if c)
