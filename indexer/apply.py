"""Applying the block log to one watcher: the heart of the block pipeline.

`apply_pending` takes the watcher's lease, then applies the events after its cursor in
order, each followed by a compare-and-set of the cursor. Applying an event twice
changes nothing (upserts, and spends guarded by `spent_slot`), so a worker killed in
the middle of a block leaves state that the next attempt completes exactly.
"""
from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass

from store.mongo import Database

from chain.ledger import Block, LedgerError, decode_block
from indexer.effects import block_effects
from indexer.watchers import OwnTxWatcher
from protocols.base import UtxoWatcher
from store import chain_log, own_txs, utxos, watcher_cursors
from store.chain_log import ChainEvent
from store.transient import is_retryable

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200
#: The cursor moves at least this often within a batch. Applying is idempotent, so a
#: crash between two moves only repeats work; fewer writes make catching up faster.
ADVANCE_EVERY = 25


class PoisonBlock(Exception):
    """A block this watcher cannot apply; it stops here until reprocessed."""


@dataclass(frozen=True)
class ApplyResult:
    name: str
    applied: int
    busy: bool = False  # another worker holds the lease
    poisoned: bool = False
    more: bool = False  # the batch ended before the log did


def apply_event(db: Database, watcher: UtxoWatcher | OwnTxWatcher, event: ChainEvent) -> None:
    """Apply one event to one watcher's state. Idempotent."""
    if event.kind == "backward":
        if isinstance(watcher, OwnTxWatcher):
            own_txs.rollback(db, event.slot)
        else:
            utxos.rollback(db, watcher.name, event.slot)
        return
    if event.txs == 0:
        return  # an empty block changes no watcher's state (most blocks are empty)
    raw = chain_log.load_block(db, event.hash or "")
    if raw is None:
        raise PoisonBlock(f"block {event.hash} is not in the block store")
    try:
        block = decode_block(raw)
    except LedgerError as error:
        raise PoisonBlock(f"block {event.hash} does not decode: {error}") from None
    apply_block(db, watcher, block)


def apply_block(db: Database, watcher: UtxoWatcher | OwnTxWatcher, block: Block) -> None:
    slot, height = block.slot, block.height
    if isinstance(watcher, OwnTxWatcher):
        if block.tx_count:
            own_txs.mark_seen(db, [t.hex() for t in block.tx_ids], slot, height,
                              block.hash.hex(), frozenset(t.hex() for t in block.invalid_tx_ids))
        return
    effects = block_effects(block, watcher)
    if not effects:
        return
    # Outputs first, all at once: a later tx of the block may spend an earlier one's.
    utxos.create(db, watcher.name, [c for e in effects for c in e.created], slot, height)
    # Then one query for which consumed inputs this watcher holds, one write for the spends.
    held = utxos.held(db, watcher.name, [ref for e in effects for ref in e.spends])
    if held:
        utxos.spend_all(db, watcher.name,
                        [(e.tx_id, sorted(r for r in e.spends if r in held)) for e in effects],
                        slot, height)


def _move(db: Database, name: str, owner: str, from_seq: int, to: ChainEvent,
          lease_ms: int) -> bool:
    if watcher_cursors.advance(db, name, owner, from_seq, to.seq, to.slot, to.height, to.hash,
                             lease_ms):
        return True
    log.warning("%s: lost the cursor at event %d (another worker took over)", name, to.seq)
    return False


def apply_pending(db: Database, watcher: UtxoWatcher | OwnTxWatcher, owner: str,
                  lease_ms: int = 60_000, batch: int = DEFAULT_BATCH) -> ApplyResult:
    name = watcher.name
    watcher_cursors.ensure(db, name)
    cursor = watcher_cursors.take_lease(db, name, owner, lease_ms)
    if cursor is None:
        return ApplyResult(name, 0, busy=True)
    applied = 0
    started = time.monotonic()
    try:
        if cursor.poisoned_seq is not None:
            return ApplyResult(name, 0, poisoned=True)
        events = chain_log.events_after(db, cursor.seq, batch)
        moved_to = cursor.seq  # where the stored cursor is
        done: ChainEvent | None = None  # the last event applied
        for event in events:
            try:
                apply_event(db, watcher, event)
            except Exception as error:
                if is_retryable(error):
                    # Not the block's fault (MongoDB, Redis, a venue API timing out): the
                    # task retries from the stored cursor; only a block that cannot be
                    # applied is poison.
                    raise
                reason = f"{type(error).__name__}: {error}"
                log.error("POISON BLOCK: %s cannot apply event %d (%s at slot %d): %s\n%s",
                          name, event.seq, event.hash, event.slot, reason,
                          traceback.format_exc(limit=5))
                if done is not None and not _move(db, name, owner, moved_to, done, lease_ms):
                    return ApplyResult(name, applied)
                watcher_cursors.poison(db, name, event.seq, event.slot, event.hash, reason)
                return ApplyResult(name, applied, poisoned=True)
            done = event
            applied += 1
            if applied % ADVANCE_EVERY == 0:
                if not _move(db, name, owner, moved_to, done, lease_ms):
                    return ApplyResult(name, applied)
                moved_to = done.seq
        if done is not None and done.seq != moved_to:
            if not _move(db, name, owner, moved_to, done, lease_ms):
                return ApplyResult(name, applied)
        watcher_cursors.record_rate(db, name, applied, time.monotonic() - started)
        return ApplyResult(name, applied, more=len(events) == batch)
    finally:
        watcher_cursors.release_lease(db, name, owner)
