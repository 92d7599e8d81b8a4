"""The follower: keeps up with a node's chain and hands every change to a sink, in order.

- It resumes from the points it persisted (breadcrumbs: the newest blocks densely,
  older ones sparsely, so a rollback deeper than the newest block still intersects).
- RollForward(block) and RollBackward(point) go to the sink it is given; over
  node-to-node it fetches each announced block with block-fetch and checks its hash.
- Chain-sync is pipelined: while the node is ahead, up to `pipeline_depth` requests are
  in flight, and one task fetches and delivers the announced blocks while another keeps
  the requests coming. A rollback cuts the announced blocks it abandons before they
  reach the sink, even those already being fetched.
- The cursor is saved only after the sink accepted a change. After a crash the node
  first rolls the follower back to the saved point, so the sink undoes whatever it
  accepted after it: no gap and no duplicate, whenever the crash happens.
- Any peer error (refusal, garbage, timeout, a message out of turn, a block that does
  not decode or does not extend the chain) is one log line, then a reconnect with
  exponential backoff; the same block is asked for again, so nothing is ever skipped.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from cbor2 import CBORTag

from chain.address import NodeAddress
from chain.client import NodeClient
from chain.errors import (ChainError, DecodeError, IntersectNotFound, PeerError,
                          ProtocolViolation, WrongNetwork)
from chain.ledger import Block, HeaderView, LedgerError, decode_block, decode_header
from chain.miniprotocols.blockfetch.client import BlockNotAvailable
from chain.miniprotocols.chainsync import messages as cs
from chain.points import ORIGIN, Point, Tip

log = logging.getLogger(__name__)

#: Blocks deeper than this are final on Cardano (the security parameter k).
SECURITY_PARAM_K = 2160
DENSE_CRUMBS = 16
#: Blocks fetched in one block-fetch range while the node is ahead of us.
FETCH_BATCH = 50
#: Chain-sync requests kept in flight while the node is ahead: a round trip to a relay
#: 50 ms away then brings up to 300 headers, not one (the Haskell node's high mark is 300
#: too). bench/catchup.py: at 100 the follower reached 0.44 of its loopback speed through
#: a 50 ms relay, at 300 about 0.6.
PIPELINE_DEPTH = 300
#: Block-fetch ranges in flight at once, fetched ahead of the sink: the round trip and
#: the sink's work overlap instead of taking turns.
FETCH_AHEAD = 8  # 8 x 50 blocks per round trip: ahead of 300 headers
#: Announced blocks not yet handed to the sink beyond which no more are requested, so a
#: slow sink does not let headers pile up.
MAX_AHEAD = 1000


class Sink(Protocol):
    def roll_forward(self, block: Block, tip: Tip) -> None: ...

    def roll_backward(self, point: Point, tip: Tip) -> None: ...

    # Optional: `roll_forward_batch(blocks, tip)` takes consecutive blocks at once (the
    # follower uses it for block-fetch ranges); without it they come one by one.
    # Optional: `disconnected(problem)` hears of every lost or failed connection.


class CursorStore(Protocol):
    def load(self) -> list["Crumb"]: ...

    def save(self, crumbs: list["Crumb"]) -> None: ...


@dataclass(frozen=True)
class Crumb:
    point: Point
    height: int

    def to_json(self) -> dict[str, Any]:
        return {"slot": self.point.slot, "hash": self.point.hash.hex() if self.point.hash
                else None, "height": self.height}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Crumb":
        if obj["hash"] is None:
            return cls(ORIGIN, 0)
        return cls(Point(int(obj["slot"]), bytes.fromhex(obj["hash"])), int(obj["height"]))


def thin(crumbs: list[Crumb]) -> list[Crumb]:
    """Pure: keep the newest blocks densely and about two per doubling of depth, up to 2k.

    A crumb at depth d in [2^j, 2^(j+1)) is kept when its height is a multiple of
    2^(j-1). Heights are absolute, so a crumb kept at one depth was kept at every
    smaller depth too: the sparse crumbs age gracefully instead of being replaced.
    `crumbs` is newest first; so is the result.
    """
    if not crumbs:
        return []
    top = crumbs[0].height
    kept: list[Crumb] = []
    for crumb in crumbs:
        depth = top - crumb.height
        if depth > SECURITY_PARAM_K * 2:
            break
        if depth < DENSE_CRUMBS or crumb.height % (1 << (depth.bit_length() - 2)) == 0:
            kept.append(crumb)
    return kept


class Breadcrumbs:
    """The follower's recent points: what it offers the node to intersect on."""

    def __init__(self, crumbs: list[Crumb] | None = None) -> None:
        self.crumbs = list(crumbs or [])

    def forward(self, point: Point, height: int) -> None:
        self.crumbs = thin([Crumb(point, height)] + self.crumbs)

    def backward(self, point: Point) -> None:
        """Drop every crumb after `point` (a rollback). Back at origin, the crumbs say so:
        an empty list would mean "never followed" and start from FOLLOW_FROM instead."""
        if point.is_origin:
            self.crumbs = [Crumb(ORIGIN, 0)]
            return
        kept = [c for c in self.crumbs
                if c.point.slot is None or c.point.slot <= point.slot]  # type: ignore[operator]
        if not kept or kept[0].point != point:
            # The point itself may have been thinned out; it is where we are now.
            height = kept[0].height if kept else 0
            kept.insert(0, Crumb(point, height))
        self.crumbs = kept

    def points(self) -> list[Point]:
        return [c.point for c in self.crumbs]


class MemoryCursor:
    def __init__(self) -> None:
        self.crumbs: list[Crumb] = []

    def load(self) -> list[Crumb]:
        return list(self.crumbs)

    def save(self, crumbs: list[Crumb]) -> None:
        self.crumbs = list(crumbs)


class FileCursor:
    """Breadcrumbs in a JSON file, replaced atomically (write, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Crumb]:
        if not self.path.exists():
            return []
        return [Crumb.from_json(c) for c in json.loads(self.path.read_text())]

    def save(self, crumbs: list[Crumb]) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w") as out:
            json.dump([c.to_json() for c in crumbs], out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


def start_from(text: str) -> str | Point:
    """FOLLOW_FROM or `--from` (checked by the settings) as FollowerConfig takes it:
    "origin", "tip" or a point."""
    return text if text in ("origin", "tip") else Point.parse(text)


@dataclass
class FollowerConfig:
    address: NodeAddress
    magic: int
    start: str | Point = "tip"  # "origin", "tip" or a point: where to start with no cursor
    limit: int | None = None  # stop after this many roll-forwards (None: follow forever)
    stop_at: bytes | None = None  # stop once the block with this hash is applied
    max_attempts: int | None = None  # give up after this many failed connections in a row
    #: Raise WrongNetwork at the first connection to a node of another network, instead
    #: of retrying (for one-shot tools; a long-running follower keeps trying).
    stop_on_wrong_network: bool = False
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    timeouts: Mapping[str, float | None] | None = None
    keepalive_interval_s: float | None = 20.0
    seed: int | None = None  # for the backoff jitter in tests
    pipeline_depth: int = PIPELINE_DEPTH  # chain-sync requests in flight at most (1: none ahead)


class Unreachable(ChainError):
    """The node could not be reached within the allowed attempts."""


class Follower:
    def __init__(self, config: FollowerConfig, sink: Sink, cursor: CursorStore) -> None:
        self.config = config
        self.sink = sink
        self.cursor = cursor
        self.crumbs = Breadcrumbs(cursor.load())
        self.forwards = 0
        self.tip: Tip | None = None
        self._random = random.Random(config.seed)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        if self._stopping:
            return True
        if self.config.limit is not None and self.forwards >= self.config.limit:
            return True
        crumbs = self.crumbs.crumbs
        return (self.config.stop_at is not None and bool(crumbs)
                and crumbs[0].point.hash == self.config.stop_at)

    def stop(self) -> None:
        """Stop following (from a signal handler on the loop): no reconnect after this."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()

    async def run(self) -> None:
        """Follow until the limit (or forever).

        Raises Unreachable after `max_attempts` attempts in a row that got nowhere
        (no connection, a refused handshake, or a session that ended before a block).
        """
        self._task = asyncio.current_task()
        failures = 0
        delay = self.config.backoff_initial_s
        while not self.finished:
            before = self.forwards
            try:
                client = await NodeClient.connect(
                    self.config.address, self.config.magic, timeouts=self.config.timeouts,
                    keepalive_interval_s=self.config.keepalive_interval_s)
            except WrongNetwork as error:
                if self.config.stop_on_wrong_network:
                    raise
                problem = str(error)  # names the node and both networks already
            except PeerError as error:
                problem = f"cannot reach the node at {self.config.address}: {error}"
            else:
                try:
                    await self._session(client)
                    continue
                except (PeerError, LedgerError, BlockNotAvailable) as error:
                    problem = (f"dropped the connection to {self.config.address}: "
                               f"{type(error).__name__}: {error}")
                finally:
                    await client.close()
            if self._stopping or self.finished:
                return  # a connection that broke after the last wanted block is no news
            disconnected = getattr(self.sink, "disconnected", None)
            if disconnected is not None:
                try:
                    await asyncio.to_thread(disconnected, problem)
                except Exception:  # only a notification: never a reason to stop following
                    log.exception("the sink failed to take note of the disconnection")
            if self.forwards > before:
                failures, delay = 0, self.config.backoff_initial_s
            failures += 1
            if self.config.max_attempts is not None and failures >= self.config.max_attempts:
                raise Unreachable(f"{problem} (gave up after {failures} attempts)")
            log.warning("%s; reconnecting in %.1fs", problem, delay)
            await asyncio.sleep(delay)
            delay = self._next_delay(delay)

    def _next_delay(self, delay: float) -> float:
        jitter = 1 + self._random.random() * 0.25
        return min(delay * 2 * jitter, self.config.backoff_max_s)

    async def _intersect(self, client: NodeClient) -> "_Head":
        chainsync = client.chainsync
        if self.crumbs.crumbs:
            found, tip = await chainsync.find_intersect(self.crumbs.points())
            if found is None:
                raise IntersectNotFound(f"none of the {len(self.crumbs.crumbs)} saved points is "
                                        f"on the node's chain (its tip is {tip.point})")
            self.tip = tip
            return _Head(found, self._height_of(found))
        start = self.config.start
        if start == "origin":
            start_point = ORIGIN
        elif start == "tip":
            _, tip = await chainsync.find_intersect([ORIGIN])
            start_point = tip.point
        else:
            assert isinstance(start, Point)
            start_point = start
        found, tip = await chainsync.find_intersect([start_point])
        if found is None:
            raise IntersectNotFound(f"{start_point} is not on the node's chain (its tip is "
                                    f"{tip.point})")
        self.tip = tip
        return _Head(found, self._height_of(found))

    async def _session(self, client: NodeClient) -> None:
        head = await self._intersect(client)
        # Chain-sync keeps its requests in flight and queues what the node announces;
        # over node-to-node a fetcher gets the announced blocks in ranges, ahead of
        # delivery, which hands them to the sink in order. Nothing is delivered (or
        # saved) before its block arrived, so a session that breaks with blocks
        # announced loses nothing: they are asked for again.
        backlog = Backlog()
        jobs = [self._sync(client, backlog, head), self._deliver_all(backlog)]
        if not client.node_to_client:
            jobs.append(self._fetch_ahead(client, backlog))
        tasks = [asyncio.create_task(job) for job in jobs]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if task in done and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # Finished. Done is only legal with nothing in flight; otherwise closing will do.
        if client.chainsync.in_flight == 0:
            await client.chainsync.done()

    async def _sync(self, client: NodeClient, backlog: "Backlog", head: "_Head") -> None:
        """Keep chain-sync requests in flight and queue the answers, in order, for delivery."""
        chainsync = client.chainsync
        while True:
            wanted = self._wanted(head, backlog)
            while chainsync.in_flight < wanted:
                await chainsync.request()
            if chainsync.in_flight == 0:
                await backlog.changed()  # the sink is far behind: wait until it takes some
                continue
            update = await chainsync.next_update()
            if isinstance(update, cs.AwaitReply):
                head.at_tip = True  # drain: no more requests until this one is answered
                continue
            self.tip = update.tip
            if isinstance(update, cs.RollBackward):
                backlog.rewind(Rewind(update.point, update.tip))
                head = _Head(update.point, self._height_of(update.point, backlog),
                             at_tip=update.point == update.tip.point)
                continue
            item = self._announced(client, update)
            head.check_parent_of(item.header)
            backlog.announce(item)
            head = _Head(Point(item.header.slot, item.header.hash), item.header.height,
                         at_tip=item.header.hash == update.tip.point.hash)

    def _wanted(self, head: "_Head", backlog: "Backlog") -> int:
        """How many requests to have in flight: while the node is ahead, as many as it has
        blocks we have not asked for, up to the depth; one at its tip, where each answer
        may wait for the next block; fewer when the sink lags far behind."""
        room = MAX_AHEAD - backlog.headers
        if head.at_tip:
            return min(1, room)
        depth = self.config.pipeline_depth
        if head.height is not None and self.tip is not None:
            depth = min(depth, max(1, self.tip.block_no - head.height))
        return min(depth, room)

    def _height_of(self, point: Point, backlog: "Backlog | None" = None) -> int | None:
        """The height of a point we know of (announced, delivered, the tip), else None."""
        if backlog is not None:
            header = backlog.header_at(point)
            if header is not None:
                return header.height
        for crumb in self.crumbs.crumbs:
            if crumb.point == point and not point.is_origin:
                return crumb.height
        if self.tip is not None and self.tip.point == point and not point.is_origin:
            return self.tip.block_no
        return None

    def _announced(self, client: NodeClient, update: cs.RollForward) -> "Announced":
        if client.node_to_client:
            block = self._whole_block(update)
            return Announced(block.header, block)
        return Announced(decode_header(update.content))

    async def _deliver_all(self, backlog: "Backlog") -> None:
        """Hand the backlog to the sink in order, as its blocks arrive, until finished."""
        while not self.finished:
            if backlog.items and isinstance(backlog.items[0], Rewind):
                rewind = backlog.pop_rewind()
                await self._in_thread(self._accept_backward, rewind.point, rewind.tip)
                continue
            run = backlog.ready(FETCH_BATCH)
            if not run:
                await backlog.changed()  # announced, fetched or cut
                continue
            backlog.take(len(run))
            blocks = self._up_to_goal([a.block for a in run if a.block is not None])
            if not blocks:
                continue
            tip = self.tip
            assert tip is not None
            if hasattr(self.sink, "roll_forward_batch"):
                await self._in_thread(self._accept_forwards, blocks, tip)
            else:
                for block in blocks:
                    await self._in_thread(self._accept_forward, block, tip)

    async def _fetch_ahead(self, client: NodeClient, backlog: "Backlog") -> None:
        """Node-to-node: fetch the announced blocks as block-fetch ranges of up to
        FETCH_BATCH, with up to FETCH_AHEAD ranges in flight, each checked against its
        headers. A rollback may cut a range while it is on its way: its blocks then go
        to announcements no longer queued, and are dropped with them."""
        blockfetch = client.blockfetch
        assert blockfetch is not None
        ranges: deque[list[Announced]] = deque()
        while True:
            while len(ranges) < FETCH_AHEAD:
                run = backlog.unrequested(FETCH_BATCH)
                if not run:
                    break
                for item in run:
                    item.requested = True
                ranges.append(run)
                first, last = run[0].header, run[-1].header
                await blockfetch.request_range(Point(first.slot, first.hash),
                                               Point(last.slot, last.hash))
            if not ranges:
                await backlog.changed()
                continue
            run = ranges.popleft()
            try:
                raws = await blockfetch.receive_range()
            except BlockNotAvailable:
                kept = backlog.queued(run)
                if len(kept) == len(run):
                    raise
                for item in kept:  # a rollback cut the rest: ask again for what it kept
                    item.requested = False
                continue
            blocks = [decode_block(raw, network_magic=self.config.magic) for raw in raws]
            if [b.hash for b in blocks] != [a.header.hash for a in run]:
                raise DecodeError(f"block-fetch sent {len(blocks)} blocks that are not the "
                                  f"{len(run)} announced headers")
            backlog.attach(run, blocks)

    def _up_to_goal(self, blocks: list[Block]) -> list[Block]:
        """A limit or stop point inside a run of blocks cuts it there."""
        if self.config.limit is not None:
            blocks = blocks[:max(self.config.limit - self.forwards, 0)]
        if self.config.stop_at is not None:
            hashes = [b.hash for b in blocks]
            if self.config.stop_at in hashes:
                blocks = blocks[:hashes.index(self.config.stop_at) + 1]
        return blocks

    @staticmethod
    async def _in_thread(call: Callable[..., None], *args: Any) -> None:
        """Run a sink call off the event loop. Cancelled, it still waits for the call to
        return: a sink call must never overlap the next session's."""
        running = asyncio.ensure_future(asyncio.to_thread(call, *args))
        try:
            await asyncio.shield(running)
        except asyncio.CancelledError:
            await asyncio.wait({running})
            if not running.cancelled():
                running.exception()  # the session is over; its error is not news
            raise

    def _accept_forward(self, block: Block, tip: Tip) -> None:
        self.sink.roll_forward(block, tip)
        self.crumbs.forward(Point(block.slot, block.hash), block.height)
        self.forwards += 1
        # Only now, with the sink done, does the cursor move.
        self.cursor.save(self.crumbs.crumbs)

    def _accept_backward(self, point: Point, tip: Tip) -> None:
        self.sink.roll_backward(point, tip)
        self.crumbs.backward(point)
        self.cursor.save(self.crumbs.crumbs)

    def _whole_block(self, update: cs.RollForward) -> Block:
        content = update.content
        if not (isinstance(content, CBORTag) and content.tag == 24
                and isinstance(content.value, bytes)):
            raise DecodeError("node-to-client RollForward must carry #6.24(bytes)")
        return decode_block(content.value, network_magic=self.config.magic)

    def _accept_forwards(self, blocks: list[Block], tip: Tip) -> None:
        self.sink.roll_forward_batch(blocks, tip)  # type: ignore[attr-defined]
        for block in blocks:
            self.crumbs.forward(Point(block.slot, block.hash), block.height)
        self.forwards += len(blocks)
        self.cursor.save(self.crumbs.crumbs)


@dataclass
class _Head:
    """Where the node's answers have brought this session: the last block announced (or
    the point rolled back to), its height when known, and whether the node said it has
    nothing newer."""

    point: Point
    height: int | None
    at_tip: bool = False

    def check_parent_of(self, header: HeaderView) -> None:
        """A RollForward must announce the child of the block before: anything else (a
        repeat, a gap) is a node that broke chain-sync, whatever was in flight."""
        if self.point.hash is not None and header.prev_hash != self.point.hash:
            parent = header.prev_hash.hex()[:16] if header.prev_hash else "none"
            raise ProtocolViolation(
                f"chain-sync: the node announced block {header.hash.hex()[:16]} (slot "
                f"{header.slot}) whose parent {parent} is not the block before it, "
                f"{self.point.hash.hex()[:16]} (slot {self.point.slot})")


@dataclass(eq=False)
class Announced:
    """A block chain-sync announced: its header, and the block once it is here (over
    node-to-client it comes with the announcement)."""

    header: HeaderView
    block: Block | None = None
    requested: bool = False  # its block-fetch range has been asked for


@dataclass
class Rewind:
    """A RollBackward, queued behind the announcements before it."""

    point: Point
    tip: Tip


class Backlog:
    """What chain-sync announced and the sink has not taken yet, in the node's order.

    Chain-sync appends, the fetcher attaches blocks, delivery takes from the front. A
    rollback cuts what it abandons at once, even announcements whose blocks are on
    their way: only what is still queued when its block arrives reaches the sink.
    """

    def __init__(self) -> None:
        self.items: deque[Announced | Rewind] = deque()
        self.headers = 0  # announcements queued
        self._changed = asyncio.Event()

    def announce(self, item: Announced) -> None:
        self.items.append(item)
        self.headers += 1
        self._changed.set()

    def rewind(self, rewind: Rewind) -> None:
        """Drop everything queued after the rollback point, then queue the rollback. When
        the point is not queued it is at or before all that is (delivered already, or the
        intersection): everything queued is abandoned."""
        keep = 0
        for index in range(len(self.items) - 1, -1, -1):
            item = self.items[index]
            if isinstance(item, Announced) and item.header.hash == rewind.point.hash:
                keep = index + 1
                break
        while len(self.items) > keep:
            if isinstance(self.items.pop(), Announced):
                self.headers -= 1
        self.items.append(rewind)
        self._changed.set()

    def header_at(self, point: Point) -> HeaderView | None:
        for item in self.items:
            if isinstance(item, Announced) and item.header.hash == point.hash:
                return item.header
        return None

    def unrequested(self, limit: int) -> list[Announced]:
        """The first run of consecutive announcements whose blocks nobody asked for yet, up
        to `limit` (never across a rollback: a range is one chain)."""
        run: list[Announced] = []
        for item in self.items:
            if isinstance(item, Announced) and item.block is None and not item.requested:
                run.append(item)
                if len(run) == limit:
                    break
            elif run:
                break
        return run

    def queued(self, run: list[Announced]) -> list[Announced]:
        """Those of `run` still queued (a rollback may have cut some)."""
        ids = {id(item) for item in self.items}
        return [item for item in run if id(item) in ids]

    def attach(self, run: list[Announced], blocks: list[Block]) -> None:
        for item, block in zip(run, blocks):
            item.block = block
        self._changed.set()

    def ready(self, limit: int) -> list[Announced]:
        """The announcements at the front whose blocks are here, up to `limit`."""
        run: list[Announced] = []
        for item in self.items:
            if not isinstance(item, Announced) or item.block is None or len(run) == limit:
                break
            run.append(item)
        return run

    def take(self, count: int) -> None:
        for _ in range(count):
            self.items.popleft()
        self.headers -= count
        self._changed.set()

    def pop_rewind(self) -> Rewind:
        rewind = self.items.popleft()
        assert isinstance(rewind, Rewind)
        self._changed.set()
        return rewind

    async def changed(self) -> None:
        """Until the next change (something queued, fetched, cut or taken)."""
        self._changed.clear()
        await self._changed.wait()
