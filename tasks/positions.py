"""Position tasks: thin Celery wrappers over tasks/position_flow.py.

`execution.advance_position(id)` takes a position as far as it goes now. Delivered twice,
or to two workers at once, it still takes every step once: one worker holds the
position's Redis lock (renewed after every event; a dead worker's lock lapses after
POSITION_LOCK_SECONDS, or is taken over at once when its holder was a process of this
host that has exited: store/holder_locks.py) and the store's compare-and-set records each phase once. A busy
lock or a step blocked on DexHunter retries later. `execution.resume_positions` (at every
worker start and on the beat) hands every position with work left to `advance_position`,
so a worker killed mid-flow is resumed even if its message was lost.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from functools import lru_cache
from typing import Any, Sequence

from celery import shared_task
from redis.exceptions import LockError, RedisError

from core.settings import NETWORK_MAGICS, Network, Settings
from execution.dex.reader import dex_readers
from execution.dexhunter.api import DexHunterApi
from indexer.venue_state import current_markets, off_reason
from protocols.base import LeverageSource
from protocols.model import Market
from store import own_txs, positions as store
from store.holder_locks import holder_token, take_from_dead_holder
from store.mongo import database
from store.redis import client_for, key
from tasks.celery_app import settings_of
from tasks.paper_market import load_paper_market
from execution.submit import submit
from tasks.live_legs import LiveChain, custody_of
from tasks.position_events import publisher
from tasks.position_flow import Blocked, FlowContext, advance
from tasks.position_orders import Desk
from tasks.venues import venue_sources

log = logging.getLogger(__name__)

ADVANCE_TASK = "execution.advance_position"
RESUME_TASK = "execution.resume_positions"
#: Backoff of a step blocked on DexHunter: seconds, by retry count (last one repeats).
BLOCKED_BACKOFF = (2, 5, 15, 30, 60, 120, 300)
#: Seconds after a busy position lock's expiry that its retry looks again.
LOCK_RETRY_FLOOR_S = 0.2


def now_ms() -> int:
    return int(time.time() * 1000)


@lru_cache(maxsize=4)
def dexhunter_for(settings: Settings) -> DexHunterApi:
    return DexHunterApi.from_settings(settings)


def live_chain(settings: Settings) -> LiveChain | None:
    """The live path's node and keys: None without CARDANO_NODE (live positions wait)."""
    node = settings.cardano_node
    if node is None:
        return None
    key_file = settings.master_key_file
    return LiveChain(
        submit=lambda tx: submit(node, settings.cardano_network.magic, tx),
        custody=None if key_file is None else (lambda: custody_of(key_file)),
        confirmations=settings.live_confirmations,
        exit_after_submit=settings.test_exit_after_submit)


def flow_context(settings: Settings) -> FlowContext:
    db = database(settings)
    return FlowContext(db=db, dexhunter=dexhunter_for(settings), readers=dex_readers(),
                       network=settings.cardano_network.name,
                       slippage_pct=settings.swap_slippage_percent,
                       fee_addresses=settings.dexhunter_fee_addresses,
                       paper_market=lambda: load_paper_market(settings, db), now_ms=now_ms,
                       exit_after=settings.test_exit_after_events,
                       venues=venue_sources(settings),
                       venue_on=lambda name, network: sources_on(settings, network).get(name),
                       live=live_chain(settings), publish=publisher(settings))


@lru_cache(maxsize=8)
def sources_on(settings: Settings, network: str) -> dict[str, LeverageSource]:
    """The venues' sources on `network`: the stack's own, or for a wallet of another
    network (a mainnet paper wallet while `dhl run` replays preprod) built for that one,
    so a venue that knows its tokens per network (Liqwid) builds for it."""
    if network == settings.cardano_network.name or network not in NETWORK_MAGICS:
        return venue_sources(settings)
    return venue_sources(replace(settings, cardano_network=Network(network,
                                                                   NETWORK_MAGICS[network])))


def all_markets(settings: Settings, now: int) -> Sequence[Market]:
    """Every venue's current markets (stored API snapshot merged with chain state)."""
    db = database(settings)
    found: list[Market] = []
    for source in venue_sources(settings).values():
        if off_reason(settings, source) is None:
            found.extend(view.market for view in current_markets(db, source, settings, now))
    return found


def desk_for(settings: Settings) -> Desk:
    db = database(settings)
    return Desk(db=db, settings=settings, dexhunter=dexhunter_for(settings),
                markets=lambda now: all_markets(settings, now),
                paper_market=lambda: load_paper_market(settings, db), now_ms=now_ms,
                publish=publisher(settings))


def retry_after_lock(redis: Any, name: str, lock_seconds: float) -> float:
    """Seconds until the lock `name` lapses (a little more), at most `lock_seconds`."""
    try:
        left_ms = redis.pttl(name)
    except RedisError:
        return lock_seconds
    if not isinstance(left_ms, int) or left_ms < 0:  # gone (-2) or no expiry (-1)
        return min(lock_seconds, LOCK_RETRY_FLOOR_S)
    return min(lock_seconds, left_ms / 1000 + LOCK_RETRY_FLOOR_S)


@shared_task(name=ADVANCE_TASK, bind=True, ignore_result=True, max_retries=None)
def advance_position(self, position_id: str) -> dict[str, Any]:
    settings = settings_of(self.app)
    redis = client_for(settings.redis_url)
    name = key(settings, "position-lock", position_id)
    lock = redis.lock(name, timeout=settings.position_lock_seconds, blocking=False,
                      thread_local=False)
    token = holder_token()
    if not lock.acquire(token=token) and not (take_from_dead_holder(redis, name)
                                              and lock.acquire(token=token)):
        # Another worker is on it (or a dead one's lock has not lapsed yet): look again
        # when it would lapse (a live holder renews it, and the retry finds it busy again).
        raise self.retry(countdown=retry_after_lock(redis, name, settings.position_lock_seconds))
    try:
        done = advance(flow_context(settings), position_id, renew=lock.reacquire)
    except Blocked as blocked:
        wait = BLOCKED_BACKOFF[min(self.request.retries, len(BLOCKED_BACKOFF) - 1)]
        log.warning("position %s blocked (%s); again in %ss", position_id, blocked.reason, wait)
        raise self.retry(countdown=wait)
    finally:
        try:
            lock.release()
        except (LockError, RedisError):
            pass  # it lapsed: another worker may hold it now, and that is fine
    if done.state == "open":
        _arm_order_guards(self.app, settings, position_id)
    return {"position": done.position_id, "recorded": done.recorded, "state": done.state,
            "waiting": done.waiting}


def _arm_order_guards(app: Any, settings: Settings, position_id: str) -> None:
    """The order's guards, set now that the position is open (tasks/guard_rules.py)."""
    from tasks.alerts import raise_alert
    from tasks.guard_rules import arm_on_open

    desk = desk_for(settings)
    arm_on_open(desk, position_id, lambda alert: raise_alert(
        desk.db, settings, alert, lambda name, alert_id: app.send_task(name, args=[alert_id])))


@shared_task(name=RESUME_TASK, bind=True, ignore_result=True)
def resume_positions(self) -> int:
    """Hand every position with work left to a worker."""
    db = database(settings_of(self.app))
    # Pending ones, and those whose transactions a rollback took off the chain (a leg
    # confirmed before it: tasks/live_legs.py reconcile_confirmed brings it back).
    rolled_back = {purpose.partition("/")[0] for purpose in own_txs.rolled_back_purposes(db)}
    ids = sorted(set(store.pending_ids(db)) | {pid for pid in rolled_back if pid})
    for position_id in ids:
        advance_position.apply_async((position_id,), expires=600)
    return len(ids)
