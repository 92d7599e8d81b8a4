"""Block pipeline tasks: apply the block log to one watcher at a time.

`watchers.apply(watcher, seq)` means "bring this watcher up to at least event `seq`". It
is idempotent and order-free: a duplicate finds the cursor already there, an early one
applies the missing earlier events itself, in order, under the watcher's lease.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from functools import lru_cache

from celery import Celery, shared_task
from redis.exceptions import RedisError

from core.settings import Settings
from indexer.apply import apply_pending
from indexer.compaction import compact_all
from indexer.watchers import OWN_TXS, WALLETS, Watcher, active_watchers
from store import chain_log, watcher_cursors
from store.mongo import database
from store.redis import client_for, key
from store.transient import RETRYABLE
from tasks.celery_app import settings_of
from tasks.live_push import push_state

log = logging.getLogger(__name__)

APPLY_TASK = "watchers.apply"
RESUME_POSITIONS = "execution.resume_positions"  # tasks/positions.py (not imported here)
GUARDS_ON_BLOCK = "guards.on_block"  # tasks/guards.py


@lru_cache(maxsize=4)
def watchers_of(settings: Settings) -> dict[str, Watcher]:
    return active_watchers(settings)


def queued_flag(settings: Settings, watcher: str) -> str:
    return f"{settings.redis_namespace}:watcher:{watcher}:queued"


def poke(app: Celery, watcher: str, seq: int, slot: int | None = None, *,
         force: bool = False) -> bool:
    """Enqueue `watchers.apply` unless one is already waiting for this watcher (so
    catching up on history costs a task per batch, not a task per block). Returns whether
    it sent.

    `force` sends regardless: the beat's catch-up uses it, since the task that set the
    flag may have died with its worker."""
    settings = settings_of(app)
    client = client_for(settings.redis_url)
    if not client.set(queued_flag(settings, watcher), seq, nx=True, ex=30) and not force:
        return False
    shown = f"{APPLY_TASK}[{watcher}]" + (f" @{slot}" if slot is not None else "")
    try:
        app.send_task(APPLY_TASK, args=[watcher, seq], shadow=shown)
    except Exception:
        # Not sent: the flag must not hold back the retry (best effort, Redis may be down).
        try:
            client.delete(queued_flag(settings, watcher))
        except Exception:
            pass
        raise
    return True


@shared_task(name=APPLY_TASK, bind=True, ignore_result=True, max_retries=None,
             autoretry_for=RETRYABLE, retry_backoff=True, retry_backoff_max=30)
def apply_watcher(self, watcher: str, seq: int) -> dict[str, object]:
    settings = settings_of(self.app)
    client_for(settings.redis_url).delete(queued_flag(settings, watcher))
    found = watchers_of(settings).get(watcher)
    if found is None:
        log.warning("watchers.apply: no watcher named %r is registered; dropped", watcher)
        return {"watcher": watcher, "applied": 0}
    owner = f"{socket.gethostname()}:{os.getpid()}"
    result = apply_pending(database(settings), found, owner,
                           lease_ms=settings.watcher_lease_seconds * 1000)
    if result.busy:
        # Another worker is applying this watcher; look again shortly.
        raise self.retry(countdown=0.5)
    if result.more:
        poke(self.app, watcher, seq)
    elif watcher in (OWN_TXS, WALLETS) and result.applied:
        # New blocks may confirm, settle or re-open live legs: their positions look again.
        self.app.send_task(RESUME_POSITIONS, expires=30)
    if result.applied:
        guards_after_blocks(self.app, settings)
        _push_tip(settings, watcher)
    return {"watcher": watcher, "applied": result.applied, "poisoned": result.poisoned}


def _push_tip(settings: Settings, watcher: str) -> None:
    """Tell live views a watcher applied blocks (its tip): they re-mark what they show."""
    cursor = watcher_cursors.read(database(settings), watcher)
    if cursor is not None:
        push_state(settings, "blocks", {"watcher": watcher, "slot": cursor.slot,
                                        "height": cursor.height, "hash": cursor.hash,
                                        "applied_ms": int(time.time() * 1000)})


#: The guards run once per this many ms of applied blocks at most (a replay's burst is one).
GUARDS_ON_BLOCK_MS = 1000


def guards_after_blocks(app: Celery, settings: Settings) -> bool:
    """Blocks applied (a venue's state, our legs or wallets moved): the guards run now —
    at most once a second, whatever the number of watchers and blocks."""
    try:
        if not client_for(settings.redis_url).set(key(settings, "guards", "on-block"), 1,
                                                  nx=True, px=GUARDS_ON_BLOCK_MS):
            return False
        app.send_task(GUARDS_ON_BLOCK, expires=30)
    except RedisError as error:  # the beat's tick still runs
        log.warning("guards not run on this block (Redis: %s)", error)
        return False
    return True


@shared_task(name="watchers.catch_up", bind=True, ignore_result=True)
def catch_up(self) -> dict[str, int]:
    """Safety net on the beat: poke every watcher that is behind the log (a lost poke, a
    watcher added later, a reprocessed block)."""
    settings = settings_of(self.app)
    db = database(settings)
    last = chain_log.last_seq(db)
    poked = {}
    for watcher in watchers_of(settings):
        cursor = watcher_cursors.read(db, watcher)
        behind = last - (cursor.seq if cursor else 0)
        if behind > 0 and (cursor is None or cursor.poisoned_seq is None):
            poked[watcher] = behind
            poke(self.app, watcher, last, force=True)
    return poked


@shared_task(name="chain.compact", bind=True, ignore_result=True)
def compact(self) -> dict[str, int]:
    """Bounded growth (indexer/compaction.py): the block log keeps what a watcher or a
    restarted follower may still need, and spent UTxOs go once final (plus
    SPENT_UTXO_RETENTION_BLOCKS)."""
    from chain.follower import SECURITY_PARAM_K

    settings = settings_of(self.app)
    return compact_all(database(settings), watchers_of(settings), SECURITY_PARAM_K,
                       settings.spent_utxo_retention_blocks)
