"""`dhl follow`: the follower process of the Procfile.

Follows CARDANO_NODE from the breadcrumbs saved in MongoDB (or FOLLOW_FROM the first
time) and hands each block to its sink. Today the sink logs each change and records
the follower's heartbeat and lag for /ready; the block pipeline replaces it with the
sink that enqueues one Celery task per block.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime, timezone

from pymongo.database import Database

from chain.follower import Follower, FollowerConfig
from chain.ledger import Block
from chain.points import Point, Tip
from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit
from store import heartbeats
from store.chain_cursor import MongoCursorStore
from store.mongo import database

log = logging.getLogger("dhl.follow")

HEARTBEAT_EVERY_S = 1.0


class LoggingHeartbeatSink:
    """Logs every roll forward and backward, and records the follower's lag to the tip."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._last_beat = 0.0

    def _beat(self, point: Point, height: int | None, tip: Tip, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < HEARTBEAT_EVERY_S:
            return
        self._last_beat = now
        tip_slot = tip.point.slot or 0
        lag = max(tip_slot - (point.slot or 0), 0)  # one slot is one second since Shelley
        heartbeats.record(self.db, "follower", datetime.now(timezone.utc),
                          {"slot": point.slot, "height": height,
                           "hash": point.hash.hex() if point.hash else None,
                           "tip_slot": tip.point.slot, "tip_height": tip.block_no,
                           "lag_seconds": lag})

    def roll_forward(self, block: Block, tip: Tip) -> None:
        log.info("roll forward: %s block %d at slot %d, %d txs, %s", block.era, block.height,
                 block.slot, block.tx_count, block.hash.hex())
        at_tip = tip.point.hash == block.hash
        self._beat(Point(block.slot, block.hash), block.height, tip, force=at_tip)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        log.info("roll backward to %s", point)
        self._beat(point, None, tip, force=True)


def run_follower(settings: Settings) -> int:
    if settings.cardano_node is None:
        print("config error: CARDANO_NODE: expected tcp://host:port (a relay) or "
              "unix:///path/to/node.socket (own node) for the follower, got nothing", flush=True)
        return 2
    db = database(settings)
    config = FollowerConfig(address=settings.cardano_node, magic=settings.cardano_network.magic,
                            start=settings.follow_from)
    follower = Follower(config, LoggingHeartbeatSink(db), MongoCursorStore(db))
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
