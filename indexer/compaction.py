"""Bounded growth: what the beat's `chain.compact` drops, and why nothing needed goes.

- Block log (store/chain_log.compact): every event all registered watchers applied goes,
  whatever its height, so rollback churn near the tip cannot grow it; blocks deeper than
  k go unless a remaining event or a follower's breadcrumb still needs them.
- Spent UTxOs: a UTxO a watcher saw spent more than k blocks below the last block it
  applied can never be un-spent by a rollback, so it goes, unless
  SPENT_UTXO_RETENTION_BLOCKS keeps it that many blocks longer.
"""
from __future__ import annotations

from typing import Iterable

from store.mongo import Database

from store import chain_log, utxos, watcher_cursors


def spent_floor(applied_height: int, k: int, retention: int) -> int:
    """Pure: UTxOs spent in a block below this height are final for a watcher that has
    applied up to a block at `applied_height`.

    Heights, not slots: k counts blocks, and every spend records its block's height. The
    node's tip never gets lower and a switch of fork goes back at most k blocks from it,
    so every later rollback lands at a height of at least `applied_height - k`; a spend
    strictly below that cannot be undone. (A restarted follower intersecting on a sparse
    breadcrumb may go back further, but what it then replays are the same final blocks,
    which spend the same outputs again: the state converges all the same.)
    The cursor's height is a safe stand-in for the watcher's tip: it only lags (the
    cursor moves every few events; a backward event records the point it went back to).
    """
    return applied_height - k - retention


def compact_all(db: Database, watchers: Iterable[str], k: int,
                spent_retention: int) -> dict[str, int]:
    """One compaction pass over the block log and every watcher's spent UTxOs."""
    cursors = watcher_cursors.read_all(db)
    events, blocks = chain_log.compact(db, watcher_cursors.applied_by_all(cursors, watchers), k)
    pruned = 0
    for cursor in cursors:
        pruned += utxos.prune_spent(db, cursor.watcher,
                                    spent_floor(cursor.height, k, spent_retention))
    return {"events": events, "blocks": blocks, "spent_utxos": pruned}
