"""The pipeline's first stage: what the follower does with each block it is handed.

`PipelineSink` stores each block, appends its event to the block log (numbered under the
block-log lease, indexer/log_writer.py), pokes every watcher's task, and keeps the
follower's heartbeat for /ready. MongoDB and Redis outages never stop it: a write waits
for MongoDB with backoff (no block is ever skipped), a poke that cannot reach the broker
is kept and sent again as soon as the broker answers, and each outage is logged once
when it starts and once when it ends.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Callable, TypeVar

from store.mongo import Database

from chain.follower import Crumb
from chain.ledger import Block
from chain.points import Point, Tip
from core.retry import Outage, until_done
from indexer.log_writer import LogWriter
from store import chain_log, heartbeats
from store.chain_cursor import MongoCursorStore
from store.transient import is_transient

log = logging.getLogger("dhl.follow")

HEARTBEAT_EVERY_S = 1.0
T = TypeVar("T")
Poke = Callable[[str, int, int | None], object]


class FollowerStatus:
    """What /ready shows of the follower: its node, whether it is connected, its last block."""

    def __init__(self, node: str, owner: str) -> None:
        self.node = node
        self.owner = owner
        self.connected = False
        self.point: Point | None = None
        self.height: int | None = None
        self.tip: Tip | None = None
        self.last_block_ms: int | None = None  # wall-clock time the last block came in
        self.rate = 0.0
        self.problem: str | None = None  # why the last connection failed

    def details(self) -> dict[str, object]:
        point, tip = self.point, self.tip
        slot = None if point is None else point.slot
        tip_slot = None if tip is None else tip.point.slot
        lag = max((tip_slot or 0) - (slot or 0), 0)  # one slot is one second since Shelley
        return {"node": self.node, "owner": self.owner, "connected": self.connected,
                "slot": slot, "height": self.height,
                "hash": point.hash.hex() if point is not None and point.hash else None,
                "tip_slot": tip_slot, "tip_height": None if tip is None else tip.block_no,
                "lag_seconds": lag, "blocks_per_second": round(self.rate, 2),
                "last_block_ms": self.last_block_ms, "problem": self.problem}


class PipelineSink:
    """Block store + block log + a poke per watcher + the follower's heartbeat."""

    def __init__(self, db: Database, poke: Poke, watchers: list[str], writer: LogWriter,
                 status: FollowerStatus, mongo: Outage, broker: Outage) -> None:
        self.db = db
        self.poke = poke
        self.watchers = watchers
        self.writer = writer
        self.status = status
        self.mongo = mongo
        self.broker = broker
        self.seq = 0
        self._pending_poke: tuple[int, int] | None = None
        self._poke_lock = threading.Lock()
        self._beat_lock = threading.Lock()
        self._last_beat = 0.0
        self._rate_since = time.monotonic()
        self._blocks_since_beat = 0

    def start(self) -> None:
        """Read where the log ends; only once this follower holds the lease."""
        self.seq = self._store(lambda: chain_log.last_seq(self.db), "read the block log")

    # -- writes ----------------------------------------------------------------------
    def _store(self, action: Callable[[], T], doing: str) -> T:
        def guarded() -> T:
            self.writer.check()  # LostLease is no outage: it stops the writes
            return action()
        return until_done(guarded, doing, self.mongo, is_transient, sleep=self.writer.sleep)

    def _append(self, kind: str, slot: int, block_hash: str | None, height: int) -> None:
        seq = self.seq + 1
        self._store(lambda: chain_log.append_event(self.db, seq, kind, slot, block_hash,
                                                   height), "append to the block log")
        self.seq = seq
        self._poke_all(seq, slot)

    def roll_forward(self, block: Block, tip: Tip) -> None:
        self.roll_forward_batch([block], tip)

    def roll_forward_batch(self, blocks: list[Block], tip: Tip) -> None:
        """Blocks fetched as one range: stored, logged and poked in a few round trips."""
        stored = [chain_log.StoredBlock(b.hash.hex(), b.slot, b.height, b.era, b.raw,
                                        b.tx_count) for b in blocks]
        self._store(lambda: chain_log.store_blocks(self.db, stored), "store the blocks")
        first = self.seq + 1
        self._store(lambda: chain_log.append_forwards(self.db, first, stored),
                    "append to the block log")
        self.seq += len(stored)
        self._poke_all(self.seq, stored[-1].slot)
        for block in blocks:
            log.info("roll forward: %s block %d at slot %d, %d txs, %s", block.era,
                     block.height, block.slot, block.tx_count, block.hash.hex())
        last = blocks[-1]
        self.status.connected, self.status.problem = True, None
        self.status.point, self.status.height, self.status.tip = (
            Point(last.slot, last.hash), last.height, tip)
        self.status.last_block_ms = int(time.time() * 1000)
        self._blocks_since_beat += len(blocks)
        self.beat(force=tip.point.hash == last.hash)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        height = 0
        if point.hash is not None:
            block_hash = point.hash.hex()
            height = self._store(lambda: chain_log.block_height(self.db, block_hash),
                                 "read the block store") or 0
        self._append("backward", -1 if point.slot is None else point.slot,
                     None if point.hash is None else point.hash.hex(), height)
        log.info("roll backward to %s", point)
        self.status.connected, self.status.problem = True, None
        self.status.point, self.status.height, self.status.tip = point, height, tip
        self.beat(force=True)

    def disconnected(self, problem: str) -> None:
        """The follower lost (or could not make) its connection to the node."""
        self.status.connected, self.status.problem = False, problem
        self.beat(force=True)

    # -- pokes -----------------------------------------------------------------------
    def _poke_all(self, seq: int, slot: int) -> None:
        with self._poke_lock:
            self._pending_poke = (seq, slot)
            if not self.broker.down:  # while it is down, the keeper probes once a round
                self._send_pending()

    def retry_pokes(self) -> None:
        """Called by the keeper thread: send what the broker missed as soon as it is back."""
        with self._poke_lock:
            if self._pending_poke is not None:
                self._send_pending()

    def _send_pending(self) -> None:
        assert self._pending_poke is not None
        seq, slot = self._pending_poke
        for watcher in self.watchers:
            try:
                self.poke(watcher, seq, slot)
            except Exception as error:  # broker down: keep the poke, probe again later
                self.broker.failed(error, f"enqueue the watchers' tasks (event {seq})")
                return
        self._pending_poke = None
        self.broker.succeeded()

    # -- heartbeat -------------------------------------------------------------------
    def beat(self, force: bool = False) -> None:
        """Record the follower's status for /ready; at most once a second unless forced.
        Best effort: a heartbeat missed during an outage is not worth waiting for."""
        with self._beat_lock:
            now = time.monotonic()
            if not force and now - self._last_beat < HEARTBEAT_EVERY_S:
                return
            self._last_beat = now
            if self._blocks_since_beat and now > self._rate_since:
                self.status.rate = self._blocks_since_beat / (now - self._rate_since)
                self._rate_since, self._blocks_since_beat = now, 0
            try:
                heartbeats.record(self.db, "follower", datetime.now(timezone.utc),
                                  self.status.details())
            except Exception as error:
                if not is_transient(error):
                    raise
                self.mongo.failed(error, "record the follower's heartbeat")
                return
            self.mongo.succeeded()


class LeasedCursor:
    """The follower's breadcrumbs in MongoDB: loaded through outages, saved only while
    this follower holds the block-log lease (a standby never moves the leader's cursor)."""

    def __init__(self, db: Database, writer: LogWriter, mongo: Outage) -> None:
        self.store = MongoCursorStore(db)
        self.writer = writer
        self.mongo = mongo

    def load(self) -> list[Crumb]:
        docs = until_done(self.store.load, "load the follower's cursor", self.mongo,
                          is_transient, sleep=self.writer.sleep)
        return [Crumb.from_json(d) for d in docs]

    def save(self, crumbs: list[Crumb]) -> None:
        docs = [c.to_json() for c in crumbs]

        def guarded() -> None:
            self.writer.check()
            self.store.save(docs)
        until_done(guarded, "save the follower's cursor", self.mongo, is_transient,
                   sleep=self.writer.sleep)
