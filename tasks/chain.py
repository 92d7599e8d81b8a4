"""Block pipeline tasks: apply the block log to one watcher (venue) at a time.

`venues.apply(venue, seq)` means "bring this venue up to at least event `seq`". It is
idempotent and order-free: a duplicate finds the cursor already there, an early one
applies the missing earlier events itself, in order, under the venue's lease.
"""
from __future__ import annotations

import logging
import os
import socket
from functools import lru_cache

from celery import shared_task
from pymongo.errors import PyMongoError

from indexer.apply import apply_pending
from protocols.base import OwnTxWatcher, UtxoWatcher
from protocols.registry import active_watchers, load_venue_modules
from store import chain_log, venue_cursors
from store.mongo import database
from store.redis import client_for
from tasks.celery_app import app, settings_of

log = logging.getLogger(__name__)

APPLY_TASK = "venues.apply"


@lru_cache(maxsize=1)
def _watchers() -> dict[str, UtxoWatcher | OwnTxWatcher]:
    import protocols.venues  # noqa: F401  (registers every venue package)

    settings = settings_of(app)
    load_venue_modules(settings.venue_modules)
    return active_watchers(settings)


def queued_flag(venue: str) -> str:
    return f"{settings_of(app).redis_namespace}:venue:{venue}:queued"


def poke(venue: str, seq: int, slot: int | None = None, *, force: bool = False) -> bool:
    """Enqueue `venues.apply` unless one is already waiting for this venue (so catching up
    on history costs a task per batch, not a task per block). Returns whether it sent.

    `force` sends regardless: the beat's catch-up uses it, since the task that set the
    flag may have died with its worker."""
    client = client_for(settings_of(app).redis_url)
    if not client.set(queued_flag(venue), seq, nx=True, ex=30) and not force:
        return False
    shown = f"{APPLY_TASK}[{venue}]" + (f" @{slot}" if slot is not None else "")
    app.send_task(APPLY_TASK, args=[venue, seq], shadow=shown)
    return True


@shared_task(name=APPLY_TASK, bind=True, ignore_result=True, max_retries=None,
             autoretry_for=(PyMongoError,), retry_backoff=True, retry_backoff_max=30)
def apply_venue(self, venue: str, seq: int) -> dict[str, object]:
    settings = settings_of(app)
    client_for(settings.redis_url).delete(queued_flag(venue))
    watcher = _watchers().get(venue)
    if watcher is None:
        log.warning("venues.apply: no watcher named %r is registered; dropped", venue)
        return {"venue": venue, "applied": 0}
    owner = f"{socket.gethostname()}:{os.getpid()}"
    result = apply_pending(database(settings), watcher, owner,
                           lease_ms=settings.venue_lease_seconds * 1000)
    if result.busy:
        # Another worker is applying this venue; look again shortly.
        raise self.retry(countdown=0.5)
    if result.more:
        poke(venue, seq)
    return {"venue": venue, "applied": result.applied, "poisoned": result.poisoned}


@shared_task(name="venues.catch_up", ignore_result=True)
def catch_up() -> dict[str, int]:
    """Safety net on the beat: poke every venue that is behind the log (a lost poke, a
    venue added later, a reprocessed block)."""
    settings = settings_of(app)
    db = database(settings)
    last = chain_log.last_seq(db)
    poked = {}
    for venue in _watchers():
        cursor = venue_cursors.read(db, venue)
        behind = last - (cursor.seq if cursor else 0)
        if behind > 0 and (cursor is None or cursor.poisoned_seq is None):
            poked[venue] = behind
            poke(venue, last, force=True)
    return poked


@shared_task(name="chain.compact", ignore_result=True)
def compact() -> dict[str, int]:
    """Keep k blocks of raw history for replay; older events every watcher has applied,
    and the blocks nothing needs any more, are final and go."""
    from chain.follower import SECURITY_PARAM_K

    db = database(settings_of(app))
    cursors = venue_cursors.read_all(db)
    if not cursors:
        return {"events": 0, "blocks": 0}
    events, blocks = chain_log.compact(db, min(c.seq for c in cursors), SECURITY_PARAM_K)
    return {"events": events, "blocks": blocks}
