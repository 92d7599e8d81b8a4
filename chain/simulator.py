"""A node simulator: serves recorded real blocks over the real Ouroboros protocols.

No Cardano node is reachable from the project's machines, so tests and the offline
demo run this instead: handshake, chain-sync (node-to-node headers or node-to-client
blocks), block-fetch, keep-alive and local tx-submission, over TCP or a Unix socket.
It can roll back at scripted points, release blocks over time like a live chain, and
misbehave in the ways a bad peer does (for tests).
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import cbor2
from cbor2 import CBORTag

from chain.address import NodeAddress
from chain.errors import ChainError, PeerError
from chain.ledger import Block
from chain.miniprotocols import (BLOCKFETCH, CHAINSYNC_N2C, CHAINSYNC_N2N, HANDSHAKE, KEEPALIVE,
                                 LOCAL_TX_SUBMISSION)
from chain.miniprotocols.blockfetch import messages as bf
from chain.miniprotocols.blockfetch.server import blockfetch_server
from chain.miniprotocols.chainsync import messages as cs
from chain.miniprotocols.chainsync.server import chainsync_server
from chain.miniprotocols.handshake.server import serve_handshake
from chain.miniprotocols.keepalive.server import serve_keepalive
from chain.miniprotocols.localtxsubmission.server import serve_local_tx_submission
from chain.mux import Muxer, encode_segment, split_message
from chain.points import ORIGIN, Point, Tip
from chain.statemachine import ProtocolPeer

log = logging.getLogger(__name__)

FAULTS = ("garbage", "wrong-magic", "refuse", "oversized", "agency", "agency-forward", "stall")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class SimBlock:
    point: Point
    height: int
    block_tag: int
    wrapped: bytes  # CBOR of [block_tag, block]
    n2n_header: Any  # the N2N chain-sync header wrapper, ready to encode

    @classmethod
    def of(cls, block: Block) -> "SimBlock":
        header = block.header_raw
        if block.block_tag <= 1:  # Byron: [0, [[kind, block size], #6.24(header)]]
            wrapper: Any = [0, [[block.block_tag, len(block.raw)], CBORTag(24, header)]]
        else:  # Shelley+: [HFC era index, #6.24(header)]
            wrapper = [block.block_tag - 1, CBORTag(24, header)]
        return cls(Point(block.slot, block.hash), block.height, block.block_tag, block.wrapped,
                   wrapper)


@dataclass(frozen=True)
class Rollback:
    after: int  # roll back once this many blocks have been served on a connection
    depth: int

    @classmethod
    def parse(cls, text: str) -> "Rollback":
        after, sep, depth = text.partition(":")
        if not sep or not after.isdigit() or not depth.isdigit() or int(after) < 1:
            raise ValueError(f"expected AFTER:DEPTH (e.g. 10:3), got {text!r}")
        return cls(int(after), int(depth))


@dataclass(frozen=True)
class Fault:
    mode: str
    after: int = 0  # misbehave once this many blocks have been served on the connection

    @classmethod
    def parse(cls, text: str) -> "Fault":
        mode, _, after = text.partition("@")
        if mode not in FAULTS or (after and not after.isdigit()):
            raise ValueError(f"expected one of {', '.join(FAULTS)}, optionally @N, got {text!r}")
        return cls(mode, int(after or 0))


@dataclass
class SimulatorConfig:
    blocks: list[SimBlock]
    magic: int
    rollbacks: list[Rollback] = field(default_factory=list)
    fault: Fault | None = None
    fault_connections: int = 1  # the first N connections misbehave, later ones do not
    initial: int | None = None  # blocks on the chain at start (None: all)
    interval_s: float | None = None  # then one more block every interval


class SimChain:
    """The simulated node's chain: a prefix of the recorded blocks that grows over time."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.blocks = config.blocks
        self.length = len(self.blocks) if config.initial is None else min(config.initial,
                                                                          len(self.blocks))
        self.changed = asyncio.Condition()
        self.pending_rollbacks = sorted(config.rollbacks, key=lambda r: r.after)
        self.submitted: list[tuple[int, bytes]] = []
        #: After each `truncate`, the index of the chain's new last block: every session
        #: that had gone further is owed a RollBackward there (the sandbox's rollbacks).
        self.truncations: list[int] = []

    def tip(self) -> Tip:
        if self.length == 0:
            return Tip(ORIGIN, 0)
        last = self.blocks[self.length - 1]
        return Tip(last.point, last.height)

    def index_of(self, point: Point) -> int | None:
        """-1 for origin; None when the point is not on the chain."""
        if point.is_origin:
            return -1
        for i in range(self.length - 1, -1, -1):
            if self.blocks[i].point == point:
                return i
        return None

    def catch_up_to(self, point: Point) -> int | None:
        """A client that saw further along the recording than the chain has grown (it
        followed an earlier run) finds the chain caught up to it: the recorded chain
        did grow that far."""
        for i in range(self.length, len(self.blocks)):
            if self.blocks[i].point == point:
                self.length = i + 1
                return i
        return None

    def point_at(self, index: int) -> Point:
        return ORIGIN if index < 0 else self.blocks[index].point

    def truncate(self, length: int) -> None:
        """Drop every block from `length` on, for good (a chain that forks, unlike a
        scripted rollback, which re-serves the same blocks). Call it holding `changed`,
        then notify: the sessions roll their clients back to the new tip."""
        del self.blocks[length:]
        self.length = min(self.length, length)
        self.truncations.append(length - 1)

    async def grow(self, interval_s: float) -> None:
        while self.length < len(self.blocks):
            await asyncio.sleep(interval_s)
            async with self.changed:
                self.length += 1
                self.changed.notify_all()

    def judge(self, era: int, tx: bytes) -> object | None:
        """Local tx-submission: None accepts the transaction, else the rejection reason.
        The recording's chain takes anything that is a CBOR array, and remembers it."""
        try:
            decoded = cbor2.loads(tx)
        except Exception:
            return [0, "the transaction is not valid CBOR"]
        if not isinstance(decoded, list):
            return [0, "a transaction is a CBOR array"]
        self.submitted.append((era, tx))
        return None

    async def background(self, config: SimulatorConfig) -> None:
        """What the chain does on its own while served: grow over time, if asked."""
        if config.interval_s:
            await self.grow(config.interval_s)

    def take_rollback(self, served: int) -> Rollback | None:
        if self.pending_rollbacks and self.pending_rollbacks[0].after == served:
            return self.pending_rollbacks.pop(0)
        return None


class Session:
    """One client connection."""

    def __init__(self, chain: SimChain, config: SimulatorConfig, mux: Muxer,
                 node_to_client: bool, fault: Fault | None, name: str,
                 note_in_flight: Callable[[int], None] = lambda count: None) -> None:
        self.chain = chain
        self.config = config
        self.mux = mux
        self.n2c = node_to_client
        self.fault = fault
        self.name = name
        self.cursor = -1  # index of the last block this client has
        self.rollback_to: int | None = None  # a RollBackward owed to the client
        self.served = 0
        self.truncations_seen = len(chain.truncations)
        self.note_in_flight = note_in_flight

    async def run(self) -> None:
        mux = self.mux
        protocols = ((HANDSHAKE, CHAINSYNC_N2C, LOCAL_TX_SUBMISSION) if self.n2c
                     else (HANDSHAKE, CHAINSYNC_N2N, BLOCKFETCH, KEEPALIVE))
        for protocol in protocols:
            mux.channel(protocol)
        mux.start()
        mode = self.fault.mode if self.fault else None
        await serve_handshake(mux.channel(HANDSHAKE), self.config.magic, self.n2c,
                              refuse=mode == "refuse",
                              answer_magic=self.config.magic + 1 if mode == "wrong-magic"
                              else None)
        tasks = [asyncio.create_task(self.serve_chainsync())]
        if self.n2c:
            tasks.append(asyncio.create_task(serve_local_tx_submission(
                mux.channel(LOCAL_TX_SUBMISSION), self.judge_tx)))
        else:
            tasks.append(asyncio.create_task(self.serve_blockfetch()))
            tasks.append(asyncio.create_task(serve_keepalive(mux.channel(KEEPALIVE))))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()

    def judge_tx(self, era: int, tx: bytes) -> object | None:
        return self.chain.judge(era, tx)

    async def misbehave_now(self) -> str | None:
        """Carry out the connection's fault if it is due. Returns "stall" when the session
        must stop answering, "extra" or "repeat" when it must add to its answer messages
        nobody asked for."""
        if self.fault is None or self.served < self.fault.after:
            return None
        mode, self.fault = self.fault.mode, None
        protocol = CHAINSYNC_N2C if self.n2c else CHAINSYNC_N2N
        log.info("%s: misbehaving on purpose: %s", self.name, mode)
        if mode == "garbage":
            await self.mux._write(encode_segment(protocol, True, bytes([0xFF, 0xFE]) +
                                                 random.Random(7).randbytes(30)))
            return "stall"
        if mode == "oversized":
            size = 300_000  # above every chain-sync byte limit
            payload = b"\x5a" + size.to_bytes(4, "big") + bytes(size)
            for i in range(0, len(payload), 65535):
                await self.mux._write(encode_segment(protocol, True, payload[i:i + 65535]))
            return "stall"
        if mode == "agency":
            return "extra"
        if mode == "agency-forward":
            return "repeat"
        if mode == "stall":
            return "stall"
        return None

    async def serve_chainsync(self) -> None:
        channel = self.mux.channel(CHAINSYNC_N2C if self.n2c else CHAINSYNC_N2N)
        peer = chainsync_server(channel, self.n2c)
        while True:
            request = await peer.recv()
            if isinstance(request, cs.Done):
                return
            if isinstance(request, cs.FindIntersect):
                await peer.send(self.intersect(request.points))
                continue
            assert isinstance(request, cs.RequestNext)
            self.note_in_flight(peer.machine.unanswered)  # this one and those pipelined behind it
            action = await self.misbehave_now()
            if action == "stall":
                await asyncio.Event().wait()  # until the client hangs up
            reply = self.next_update()
            if reply is None:
                await peer.send(cs.AwaitReply())
                while reply is None:
                    async with self.chain.changed:
                        await self.chain.changed.wait()
                    reply = self.next_update()
            if action in ("extra", "repeat"):
                await self.send_with_unasked(peer, reply, action)
            else:
                await peer.send(reply)

    async def send_with_unasked(self, peer: ProtocolPeer, reply: cs.Message, action: str) -> None:
        """The answer, then in the same segment (so the client gets them at once, whatever
        the timing) messages nobody asked for. "extra": two AwaitReply: with nothing else
        requested the first is out of turn; with requests in flight the first passes for
        the next answer's and the second is one too many for it. "repeat": the answer
        again: out of turn, or in flight a RollForward that does not extend the chain."""
        peer.machine.sending(reply.TYPE)
        unasked = cbor2.dumps([1]) * 2 if action == "extra" else reply.encode()
        for piece in split_message(reply.encode() + unasked):
            await self.mux._write(encode_segment(peer.channel.protocol, True, piece))

    def intersect(self, points: list[Point]) -> cs.Message:
        for point in points:
            index = self.chain.index_of(point)
            if index is None:
                index = self.chain.catch_up_to(point)
            if index is not None:
                self.cursor = index
                self.rollback_to = index  # a node first rolls the client back to the intersection
                self.truncations_seen = len(self.chain.truncations)  # found on today's chain
                return cs.IntersectFound(point, self.chain.tip())
        return cs.IntersectNotFound(self.chain.tip())

    def next_update(self) -> cs.Message | None:
        chain = self.chain
        self.note_truncations()
        if self.rollback_to is not None:
            self.cursor, self.rollback_to = self.rollback_to, None
            return cs.RollBackward(chain.point_at(self.cursor), chain.tip())
        if self.cursor + 1 >= chain.length:
            return None
        self.cursor += 1
        self.served += 1
        block = chain.blocks[self.cursor]
        rollback = chain.take_rollback(self.served)
        if rollback is not None:
            self.rollback_to = max(self.cursor - rollback.depth, -1)
            log.info("%s: rolling back %d blocks after block %d", self.name, rollback.depth,
                     self.cursor)
        content = CBORTag(24, block.wrapped) if self.n2c else block.n2n_header
        return cs.RollForward(content, chain.tip())

    def note_truncations(self) -> None:
        """The chain dropped blocks since we last looked: a client that had any of them
        is owed a RollBackward to the lowest point kept since (the blocks that replaced
        them are new to it)."""
        truncations = self.chain.truncations
        if len(truncations) == self.truncations_seen:
            return
        lowest = min(truncations[self.truncations_seen:])
        self.truncations_seen = len(truncations)
        if self.rollback_to is not None:
            self.rollback_to = min(self.rollback_to, lowest)
        elif self.cursor > lowest:
            self.rollback_to = lowest

    async def serve_blockfetch(self) -> None:
        peer = blockfetch_server(self.mux.channel(BLOCKFETCH))
        while True:
            request = await peer.recv()
            if isinstance(request, bf.ClientDone):
                return
            assert isinstance(request, bf.RequestRange)
            first = self.chain.index_of(request.start)
            last = self.chain.index_of(request.end)
            if first is None or last is None or first < 0 or last < first:
                await peer.send(bf.NoBlocks())
                continue
            await peer.send(bf.StartBatch())
            for index in range(first, last + 1):
                await peer.send(bf.Block(self.chain.blocks[index].wrapped))
            await peer.send(bf.BatchDone())


class Simulator:
    def __init__(self, config: SimulatorConfig, chain: SimChain | None = None) -> None:
        """`chain`: another chain to serve than the recording's (the sandbox's)."""
        if not config.blocks:
            raise ValueError("the simulator needs at least one block")
        self.config = config
        self.chain = chain if chain is not None else SimChain(config)
        self.connections = 0
        self.most_in_flight = 0  # the most RequestNext a client had waiting here at once
        self._server: asyncio.Server | None = None
        self._grower: asyncio.Task[None] | None = None
        self._sessions: set[asyncio.Task[Any]] = set()

    async def start(self, address: NodeAddress) -> None:
        if address.scheme == "tcp" and address.host not in LOOPBACK_HOSTS:
            raise ChainError(f"the simulator listens on loopback only, not {address.host}")
        n2c = address.node_to_client

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            number = self.connections
            fault = self.config.fault if number <= self.config.fault_connections else None
            name = f"connection {number}"
            mux = Muxer(reader, writer, initiator=False)
            session = asyncio.current_task()
            assert session is not None
            self._sessions.add(session)
            try:
                await Session(self.chain, self.config, mux, n2c, fault, name,
                              self._note_in_flight).run()
            except PeerError as error:
                log.info("%s ended: %s", name, error)
            except asyncio.CancelledError:
                pass  # `stop` ends the sessions still open: nothing to report
            except Exception:
                log.exception("%s failed", name)
            finally:
                self._sessions.discard(session)
                await mux.close()

        if n2c:
            if os.path.exists(address.path):
                os.unlink(address.path)  # a stale socket from an earlier run
            self._server = await asyncio.start_unix_server(on_connect, address.path)
        else:
            self._server = await asyncio.start_server(on_connect, address.host, address.port)
        self._grower = asyncio.create_task(self.chain.background(self.config))

    def _note_in_flight(self, count: int) -> None:
        self.most_in_flight = max(self.most_in_flight, count)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._grower is not None:
            self._grower.cancel()
        if self._server is not None:
            self._server.close()
            # Sessions whose client is still connected would outlive the loop: end them.
            sessions = list(self._sessions)
            for session in sessions:
                session.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)
            await self._server.wait_closed()


async def serve_forever(config: SimulatorConfig, address: NodeAddress,
                        ready: asyncio.Event | None = None,
                        chain: SimChain | None = None) -> None:
    simulator = Simulator(config, chain)
    await simulator.start(address)
    shown = str(address) if address.scheme == "unix" else f"tcp://{address.host}:{simulator.port}"
    tip = simulator.chain.tip()
    log.info("simulating a node at %s: %d blocks, tip %s (height %d)", shown,
             len(config.blocks), tip.point, tip.block_no)
    print(f"listening on {shown} ({len(config.blocks)} blocks, tip {tip.point})", flush=True)
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
