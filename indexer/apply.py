"""Applying the block log to one watcher: the heart of the block pipeline.

`apply_pending` takes the watcher's lease, then applies the events after its cursor in
order, each followed by a compare-and-set of the cursor. Applying an event twice
changes nothing (upserts, and spends guarded by `spent_slot`), so a worker killed in
the middle of a block leaves state that the next attempt completes exactly.

Most blocks concern a given watcher not at all, so what it pays for them is kept near
zero: blocks are read many per query, the watcher's unspent refs once per batch, and a
block whose bytes name neither what it watches nor what it holds is never decoded.
"""
from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

from store.mongo import Database

from chain.ledger import Block, LedgerError, decode_block
from chain.ledger.prefilter import block_mentions
from indexer import block_cache
from indexer.effects import block_effects
from indexer.holdings import Holdings
from indexer.watchers import WALLETS, OwnTxWatcher, with_managed
from protocols.base import UtxoWatcher
from store import accounts, event_cache, own_txs, utxos, watcher_cursors
from store.chain_log import ChainEvent
from store.transient import is_retryable

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200
#: The cursor moves at least once per this many events that cost something to apply
#: (a block decoded, a rollback). Applying is idempotent, so a crash between two moves
#: only repeats work, and repeating the events in between that cost nothing (empty
#: blocks, blocks skipped unread) is free; fewer writes make catching up faster.
ADVANCE_EVERY = 25
#: Blocks read per query: mainnet blocks reach ~90 kB, so a window stays a few MB.
LOAD_WINDOW = 64


class PoisonBlock(Exception):
    """A block this watcher cannot apply; it stops here until reprocessed."""


@dataclass(frozen=True)
class ApplyResult:
    name: str
    applied: int
    busy: bool = False  # another worker holds the lease
    poisoned: bool = False
    more: bool = False  # the batch ended before the log did


#: Applies one event; True when that cost something (see ADVANCE_EVERY).
EventApplier = Callable[[ChainEvent, bytes | None], bool]


def event_applier(db: Database, watcher: UtxoWatcher | OwnTxWatcher) -> EventApplier:
    """What applies one event (and its raw block, None when not stored) to this watcher's
    state, idempotently. A UTxO watcher's unspent refs are read here, once per batch: the
    lease makes the caller the only writer of the watcher's state."""
    if isinstance(watcher, OwnTxWatcher):
        return partial(apply_own_event, db)
    if watcher.name == WALLETS:
        watcher = with_managed(watcher, accounts.managed_addresses(db))
    return partial(apply_utxo_event, db, watcher, Holdings(db, watcher.name))


def apply_own_event(db: Database, event: ChainEvent, raw: bytes | None) -> bool:
    if event.kind == "backward":
        own_txs.rollback(db, event.slot)
        return True
    if not _has_txs(event):
        return False
    block = _decoded(event, raw)
    own_txs.mark_seen(db, [t.hex() for t in block.tx_ids], block.slot, block.height,
                      block.hash.hex(), frozenset(t.hex() for t in block.invalid_tx_ids))
    orders = own_txs.open_orders(db)
    if orders:
        for settled in settlements(block, orders):
            own_txs.mark_settled(db, settled.order_ref, settled.tx_id, block.slot,
                                 block.height, settled.paid)
    return True


@dataclass(frozen=True)
class Settled:
    order_ref: str
    tx_id: str
    paid: dict[str, int]  # by unit ("lovelace", policy + name hex): what it paid the receiver


def settlements(block: Block, orders: dict[str, str]) -> list[Settled]:
    """Pure: the transactions of `block` that spend one of our orders (ref -> the
    address it pays), each with what it paid that address. A transaction whose scripts
    failed spent only its collateral: it settles nothing."""
    found = []
    for tx in block.txs:
        if not tx.valid:
            continue
        for txid, index in tx.inputs:
            ref = f"{txid.hex()}#{index}"
            receiver = orders.get(ref)
            if receiver is None:
                continue
            paid: dict[str, int] = {}
            for out in tx.outputs:
                if out.address == receiver:
                    paid["lovelace"] = paid.get("lovelace", 0) + out.lovelace
                    for (policy, name), quantity in out.assets.items():
                        unit = policy.hex() + name.hex()
                        paid[unit] = paid.get(unit, 0) + quantity
            found.append(Settled(ref, tx.id.hex(), paid))
    return found


def apply_utxo_event(db: Database, watcher: UtxoWatcher, holdings: Holdings,
                     event: ChainEvent, raw: bytes | None) -> bool:
    if event.kind == "backward":
        utxos.rollback(db, watcher.name, event.slot)
        holdings.reload()  # the store undid creations and spends after the slot
        return True
    if not _has_txs(event):
        return False
    if raw is not None and not may_concern(raw, watcher, holdings):
        return False  # most blocks: nothing to do, and nothing decoded
    apply_block(db, watcher, holdings, _decoded(event, raw))
    return True


def may_concern(raw: bytes, watcher: UtxoWatcher, holdings: Holdings) -> bool:
    """False only when the block can neither create an output the watcher watches nor
    spend one it holds, found by searching the bytes (no decoding).

    A watched output carries a needle verbatim (its address, the payment credential
    inside the address, or a policy id as a map key); a spend carries the spent output's
    tx id verbatim (inputs and collateral are `[tx id, index]`). A chance match only
    costs a decode."""
    if block_mentions(raw, watcher.watch.needles):
        return True
    tx_ids = holdings.tx_ids()
    return tx_ids is None or block_mentions(raw, tx_ids)


def apply_block(db: Database, watcher: UtxoWatcher, holdings: Holdings, block: Block) -> None:
    slot, height = block.slot, block.height
    effects = block_effects(block, watcher)
    if not effects:
        return
    # Outputs first, all at once: a later tx of the block may spend an earlier one's.
    created = [c for e in effects for c in e.created]
    utxos.create(db, watcher.name, created, slot, height)
    holdings.add(c.ref for c in created)
    # Then one write for the spends of what the watcher holds (the store's guard on
    # `spent_slot` keeps a spend already written as it was).
    held = holdings.held(ref for e in effects for ref in e.spends)
    if held:
        utxos.spend_all(db, watcher.name,
                        [(e.tx_id, sorted(r for r in e.spends if r in held)) for e in effects],
                        slot, height)
        holdings.remove(held)


def _decoded(event: ChainEvent, raw: bytes | None) -> Block:
    if raw is None:
        raise PoisonBlock(f"block {event.hash} is not in the block store")
    try:
        return decode_block(raw)
    except LedgerError as error:
        raise PoisonBlock(f"block {event.hash} does not decode: {error}") from None


def _has_txs(event: ChainEvent) -> bool:
    """An empty block changes no watcher's state (most blocks are empty)."""
    return event.kind == "forward" and bool(event.txs)


def with_blocks(db: Database, events: list[ChainEvent]
                ) -> Iterator[tuple[ChainEvent, bytes | None]]:
    """The events in order, each with its raw block when it has transactions to apply
    (None otherwise, or when the block is not stored). Blocks are read LOAD_WINDOW per
    query, as the events reach them (few round trips, bounded memory), through the
    process's block cache (the watchers it applies read each block once)."""
    needed = [e.hash or "" for e in events if _has_txs(e)]
    loaded: dict[str, bytes] = {}
    reached = fetched = 0  # how many of `needed` were reached, and read
    for event in events:
        if not _has_txs(event):
            yield event, None
            continue
        if reached == fetched:
            loaded = block_cache.BLOCKS.load(db, needed[fetched:fetched + LOAD_WINDOW])
            fetched += LOAD_WINDOW
        reached += 1
        yield event, loaded.get(event.hash or "")


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
    cursor = watcher_cursors.take_lease(db, name, owner, lease_ms)
    if cursor is None:  # busy, or the watcher's first batch: no cursor document yet
        watcher_cursors.ensure(db, name)
        cursor = watcher_cursors.take_lease(db, name, owner, lease_ms)
    if cursor is None:
        return ApplyResult(name, 0, busy=True)
    applied = 0
    started = time.monotonic()
    released = False
    try:
        if cursor.poisoned_seq is not None:
            return ApplyResult(name, 0, poisoned=True)
        events = event_cache.EVENTS.events_after(db, cursor.seq, batch)
        if not events:
            return ApplyResult(name, 0)
        apply_event = event_applier(db, watcher)
        moved_to = cursor.seq  # where the stored cursor is
        done: ChainEvent | None = None  # the last event applied
        unsaved = 0  # events since the cursor last moved that cost something to apply
        for event, raw in with_blocks(db, events):
            try:
                worked = apply_event(event, raw)
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
            unsaved += worked
            if unsaved == ADVANCE_EVERY:
                if not _move(db, name, owner, moved_to, done, lease_ms):
                    return ApplyResult(name, applied)
                moved_to, unsaved = done.seq, 0
        # The last move, the rate and the lease's release in one write.
        to = done if done is not None and done.seq != moved_to else None
        if not watcher_cursors.finish(db, name, owner, moved_to, to, applied,
                                      time.monotonic() - started):
            log.warning("%s: lost the cursor at event %d (another worker took over)", name,
                        moved_to if to is None else to.seq)
            return ApplyResult(name, applied)
        released = True
        return ApplyResult(name, applied, more=len(events) == batch)
    finally:
        if not released:
            watcher_cursors.release_lease(db, name, owner)
