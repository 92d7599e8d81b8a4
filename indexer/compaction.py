"""Bounded growth: what the beat's `chain.compact` drops, and why nothing needed goes.

- Block log (store/chain_log.compact): every event all registered watchers applied goes,
  whatever its height, so rollback churn near the tip cannot grow it; blocks deeper than
  k go unless a remaining event or a follower's breadcrumb still needs them.
"""
from __future__ import annotations

from typing import Iterable

from pymongo.database import Database

from store import chain_log, watcher_cursors


def compact_all(db: Database, watchers: Iterable[str], k: int) -> dict[str, int]:
    """One compaction pass over the block log."""
    cursors = watcher_cursors.read_all(db)
    events, blocks = chain_log.compact(db, watcher_cursors.applied_by_all(cursors, watchers), k)
    return {"events": events, "blocks": blocks}
