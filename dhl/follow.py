"""`dhl follow`: the follower process of the Procfile.

Follows CARDANO_NODE from the breadcrumbs saved in MongoDB (or FOLLOW_FROM the first
time). Its sink stores each block, appends the event to the block log, pokes the
watchers' Celery tasks, and records the follower's heartbeat and lag for /ready.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime, timezone
from typing import Callable, TypeVar

from pymongo.database import Database
from pymongo.errors import PyMongoError

from chain.follower import Follower, FollowerConfig
from chain.ledger import Block
from chain.points import Point, Tip
from core.errors import ConfigError
from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit
from store import chain_log, heartbeats
from store.chain_cursor import MongoCursorStore
from store.mongo import database

log = logging.getLogger("dhl.follow")

HEARTBEAT_EVERY_S = 1.0
T = TypeVar("T")


STORE_RETRY_MAX_S = 30.0


def _until_stored(action: Callable[[], T], what: str) -> T:
    """MongoDB down is not a reason to skip a block: wait for it, loudly."""
    delay = 0.5
    while True:
        try:
            return action()
        except PyMongoError as error:
            log.warning("cannot %s (%s: %s); retrying in %.1fs", what, type(error).__name__,
                        error, delay)
            time.sleep(delay)
            delay = min(delay * 2, STORE_RETRY_MAX_S)


class LoggingHeartbeatSink:
    """Logs every roll forward and backward, and records the follower's lag to the tip."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._last_beat = 0.0
        self._rate_since = time.monotonic()
        self._blocks_since_beat = 0
        self._rate = 0.0

    def _beat(self, point: Point, height: int | None, tip: Tip, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < HEARTBEAT_EVERY_S:
            return
        self._last_beat = now
        if self._blocks_since_beat and now > self._rate_since:
            # The rate over the blocks since the last measure; a beat with no new block
            # (a rollback) keeps the last figure.
            self._rate = self._blocks_since_beat / (now - self._rate_since)
            self._rate_since, self._blocks_since_beat = now, 0
        rate = self._rate
        tip_slot = tip.point.slot or 0
        lag = max(tip_slot - (point.slot or 0), 0)  # one slot is one second since Shelley
        heartbeats.record(self.db, "follower", datetime.now(timezone.utc),
                          {"slot": point.slot, "height": height,
                           "hash": point.hash.hex() if point.hash else None,
                           "tip_slot": tip.point.slot, "tip_height": tip.block_no,
                           "lag_seconds": lag, "blocks_per_second": round(rate, 2)})

    def roll_forward(self, block: Block, tip: Tip) -> None:
        log.info("roll forward: %s block %d at slot %d, %d txs, %s", block.era, block.height,
                 block.slot, block.tx_count, block.hash.hex())
        at_tip = tip.point.hash == block.hash
        self._blocks_since_beat += 1
        self._beat(Point(block.slot, block.hash), block.height, tip, force=at_tip)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        log.info("roll backward to %s", point)
        self._beat(point, None, tip, force=True)

    def roll_forward_batch(self, blocks: list[Block], tip: Tip) -> None:
        for block in blocks:
            LoggingHeartbeatSink.roll_forward(self, block, tip)


class PipelineSink(LoggingHeartbeatSink):
    """Block store + block log + a poke per watcher: the start of the block pipeline."""

    def __init__(self, db: Database, poke: Callable[[str, int, int | None], object],
                 watchers: list[str]) -> None:
        super().__init__(db)
        self.poke = poke
        self.watchers = watchers
        self.seq = _until_stored(lambda: chain_log.last_seq(db), "read the block log")

    def _append(self, kind: str, slot: int, block_hash: str | None, height: int,
                txs: int | None = None) -> None:
        self.seq += 1
        seq = self.seq
        _until_stored(lambda: chain_log.append_event(self.db, seq, kind, slot, block_hash,
                                                     height, txs), "append to the block log")
        self._poke_all(seq, slot)

    def _poke_all(self, seq: int, slot: int) -> None:
        for watcher in self.watchers:
            try:
                self.poke(watcher, seq, slot)
            except Exception as error:  # the beat's catch-up pokes again
                log.warning("could not enqueue %s for event %d: %s", watcher, seq, error)

    def roll_forward(self, block: Block, tip: Tip) -> None:
        block_hash = block.hash.hex()
        _until_stored(lambda: chain_log.store_block(self.db, block_hash, block.slot,
                                                    block.height, block.era, block.raw),
                      "store the block")
        self._append("forward", block.slot, block_hash, block.height, block.tx_count)
        super().roll_forward(block, tip)

    def roll_forward_batch(self, blocks: list[Block], tip: Tip) -> None:
        """Blocks fetched as one range: stored, logged and poked in a few round trips."""
        stored = [chain_log.StoredBlock(b.hash.hex(), b.slot, b.height, b.era, b.raw,
                                        b.tx_count) for b in blocks]
        _until_stored(lambda: chain_log.store_blocks(self.db, stored), "store the blocks")
        first = self.seq + 1
        _until_stored(lambda: chain_log.append_forwards(self.db, first, stored),
                      "append to the block log")
        self.seq += len(stored)
        self._poke_all(self.seq, stored[-1].slot)
        super().roll_forward_batch(blocks, tip)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        height = 0
        if point.hash is not None:
            height = _until_stored(lambda: chain_log.block_height(self.db, point.hash.hex()),
                                   "read the block store") or 0
        self._append("backward", -1 if point.slot is None else point.slot,
                     None if point.hash is None else point.hash.hex(), height)
        super().roll_backward(point, tip)


def run_follower(settings: Settings) -> int:
    if settings.cardano_node is None:
        print("config error: CARDANO_NODE: expected tcp://host:port (a relay) or "
              "unix:///path/to/node.socket (own node) for the follower, got nothing", flush=True)
        return 2
    from tasks.chain import _watchers, poke

    try:
        watchers = sorted(_watchers())
    except ConfigError as error:
        print(f"config error: {error}", flush=True)
        return 2
    db = database(settings)
    config = FollowerConfig(address=settings.cardano_node, magic=settings.cardano_network.magic,
                            start=settings.follow_from)
    sink = PipelineSink(db, poke, watchers)
    follower = Follower(config, sink, MongoCursorStore(db))
    log.info("following %s on %s from %s", settings.cardano_node, settings.cardano_network,
             "the saved cursor" if follower.crumbs.crumbs else settings.follow_from)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, follower.stop)
        await follower.run()

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        log.info("stopped")
    return 0


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings)
    return run_follower(settings)
