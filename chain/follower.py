"""The follower: keeps up with a node's chain and hands every change to a sink, in order.

- It resumes from the points it persisted (breadcrumbs: the newest blocks densely,
  older ones sparsely, so a rollback deeper than the newest block still intersects).
- RollForward(block) and RollBackward(point) go to the sink it is given; over
  node-to-node it fetches each announced block with block-fetch and checks its hash.
- The cursor is saved only after the sink accepted a change. After a crash the node
  first rolls the follower back to the saved point, so the sink undoes whatever it
  accepted after it: no gap and no duplicate, whenever the crash happens.
- Any peer error (refusal, garbage, timeout, a block that does not decode) is one log
  line, then a reconnect with exponential backoff; the same block is asked for again,
  so nothing is ever skipped.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

from cbor2 import CBORTag

from chain.address import NodeAddress
from chain.client import NodeClient
from chain.errors import ChainError, DecodeError, IntersectNotFound, PeerError, WrongNetwork
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


class Sink(Protocol):
    def roll_forward(self, block: Block, tip: Tip) -> None: ...

    def roll_backward(self, point: Point, tip: Tip) -> None: ...

    # Optional: `roll_forward_batch(blocks, tip)` takes consecutive blocks at once (the
    # follower uses it for block-fetch ranges); without it they come one by one.


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
            if self._stopping:
                return
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

    async def _intersect(self, client: NodeClient) -> None:
        chainsync = client.chainsync
        if self.crumbs.crumbs:
            found, tip = await chainsync.find_intersect(self.crumbs.points())
            if found is None:
                raise IntersectNotFound(f"none of the {len(self.crumbs.crumbs)} saved points is "
                                        f"on the node's chain (its tip is {tip.point})")
            return
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

    async def _session(self, client: NodeClient) -> None:
        await self._intersect(client)
        # Node-to-node: headers announced but whose blocks are not fetched yet. While the
        # node is ahead, they are fetched as one range: one round trip per batch, not per
        # block. Nothing is delivered (or saved) before its block arrived, so a session
        # that breaks with headers pending loses nothing: they are asked for again.
        pending: list[HeaderView] = []
        while not self.finished:
            update = await client.chainsync.request_next()
            self.tip = update.tip
            if isinstance(update, cs.RollBackward):
                # Pending headers after the rollback point are on an abandoned fork.
                keep = update.point.slot if update.point.slot is not None else -1
                await self._deliver(client, [h for h in pending if h.slot <= keep])
                pending = []
                await asyncio.to_thread(self._accept_backward, update.point, update.tip)
            elif client.node_to_client:
                block = self._whole_block(update)
                await asyncio.to_thread(self._accept_forward, block, update.tip)
            else:
                header = decode_header(update.content)
                pending.append(header)
                wanted = (self.config.limit - self.forwards if self.config.limit is not None
                          else FETCH_BATCH)
                if (header.hash == update.tip.point.hash or len(pending) >= FETCH_BATCH
                        or len(pending) >= wanted):
                    await self._deliver(client, pending)
                    pending = []
        await client.chainsync.done()

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

    async def _deliver(self, client: NodeClient, headers: list[HeaderView]) -> None:
        """Fetch the blocks of `headers` as one range and hand them to the sink in order."""
        if not headers:
            return
        assert client.blockfetch is not None
        first, last = headers[0], headers[-1]
        fetched = [decode_block(raw, network_magic=self.config.magic) async for raw in
                   client.blockfetch.fetch_range(Point(first.slot, first.hash),
                                                 Point(last.slot, last.hash))]
        if [b.hash for b in fetched] != [h.hash for h in headers]:
            raise DecodeError(f"block-fetch sent {len(fetched)} blocks that are not the "
                              f"{len(headers)} announced headers")
        tip = self.tip
        assert tip is not None
        # A limit or stop point inside the range cuts it there.
        if self.config.limit is not None:
            fetched = fetched[:max(self.config.limit - self.forwards, 0)]
        if self.config.stop_at is not None:
            hashes = [b.hash for b in fetched]
            if self.config.stop_at in hashes:
                fetched = fetched[:hashes.index(self.config.stop_at) + 1]
        if not fetched:
            return
        if hasattr(self.sink, "roll_forward_batch"):
            await asyncio.to_thread(self._accept_forwards, fetched, tip)
        else:
            for block in fetched:
                await asyncio.to_thread(self._accept_forward, block, tip)

    def _accept_forwards(self, blocks: list[Block], tip: Tip) -> None:
        self.sink.roll_forward_batch(blocks, tip)  # type: ignore[attr-defined]
        for block in blocks:
            self.crumbs.forward(Point(block.slot, block.hash), block.height)
        self.forwards += len(blocks)
        self.cursor.save(self.crumbs.crumbs)
