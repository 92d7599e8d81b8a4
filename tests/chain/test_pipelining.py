"""Chain-sync pipelining: the state table with requests in flight, messages judged on
arrival, the follower's backlog, and the follower against the simulator and a scripted
node: the same chain as unpipelined, rollbacks in flight, disconnects, and a peer that
speaks out of turn whatever the client has in flight."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import pytest
from cbor2 import CBORTag

from chain.address import NodeAddress
from chain.errors import AgencyError, PeerError
from chain.follower import Announced, Backlog, Follower, FollowerConfig, MemoryCursor, Rewind
from chain.ledger import Block, HeaderView
from chain.miniprotocols import BLOCKFETCH, CHAINSYNC_N2N, HANDSHAKE, KEEPALIVE
from chain.miniprotocols.blockfetch import messages as bf
from chain.miniprotocols.blockfetch.client import BlockFetchClient
from chain.miniprotocols.blockfetch.server import blockfetch_server
from chain.miniprotocols.chainsync import messages as cs
from chain.miniprotocols.chainsync.client import ChainSyncClient
from chain.miniprotocols.chainsync.server import chainsync_server
from chain.miniprotocols.chainsync.states import spec as chainsync_spec
from chain.miniprotocols.handshake.server import serve_handshake
from chain.mux import Muxer, encode_segment
from chain.points import ORIGIN, Point, Tip
from chain.simulator import Fault, Rollback, SimBlock, SimulatorConfig
from chain.statemachine import Agency, StateMachine
from tests.chain.test_follower import FAST, follow
from tests.chain.test_mux import pair
from tests.support.chainlog import RecordingSink, effective_chain
from tests.support.simulator import (PREPROD_MAGIC, SimulatorThread, preprod_blocks,
                                     unix_address)

# --- the state table with requests in flight -------------------------------------------


def test_pipelined_requests_are_answered_in_order():
    client = StateMachine(chainsync_spec(False), Agency.CLIENT)
    for _ in range(3):
        client.sending(0)          # RequestNext x3, none answered yet
    assert client.unanswered == 3 and client.state.name == "CanAwait"
    client.receiving(2)            # RollForward: the first
    client.receiving(1)            # AwaitReply: the second waits...
    client.receiving(2)            # ...then its RollForward
    client.receiving(3)            # RollBackward: the third
    assert client.unanswered == 0 and client.state.name == "Idle"
    with pytest.raises(AgencyError, match="may not speak"):
        client.receiving(2)        # a fourth answer to three requests


def test_an_answer_its_exchange_does_not_allow_is_caught_with_requests_in_flight():
    client = StateMachine(chainsync_spec(False), Agency.CLIENT)
    for _ in range(3):
        client.sending(0)
    client.receiving(1)
    with pytest.raises(AgencyError, match="may not be received in state MustReply"):
        client.receiving(1)        # the first request told to wait twice
    client = StateMachine(chainsync_spec(False), Agency.CLIENT)
    client.sending(0)
    client.sending(0)
    with pytest.raises(AgencyError, match="may not be received in state CanAwait"):
        client.receiving(5)        # IntersectFound, never an answer to RequestNext


@pytest.mark.parametrize("msg_type", [4, 7], ids=["FindIntersect", "Done"])
def test_only_requestnext_may_be_pipelined(msg_type):
    client = StateMachine(chainsync_spec(False), Agency.CLIENT)
    client.sending(0)
    with pytest.raises(AgencyError, match="1 pipelined requests unanswered"):
        client.sending(msg_type)
    server = StateMachine(chainsync_spec(False), Agency.SERVER)
    server.receiving(0)
    with pytest.raises(AgencyError, match="1 pipelined requests unanswered"):
        server.receiving(msg_type)  # the server catches a client that does it


def test_the_server_takes_pipelined_requests_one_exchange_at_a_time():
    server = StateMachine(chainsync_spec(False), Agency.SERVER)
    for _ in range(3):
        server.receiving(0)        # three requests arrive before the first is answered
    server.sending(1)
    server.sending(2)              # first answered: the second's exchange starts
    assert server.state.name == "CanAwait" and server.unanswered == 2
    server.sending(2)
    server.sending(3)
    assert server.state.name == "Idle" and server.unanswered == 0
    with pytest.raises(AgencyError, match="agency is client"):
        server.sending(2)          # an answer nobody asked for


# --- the follower's backlog --------------------------------------------------------------

def announced(n: int) -> Announced:
    return Announced(HeaderView("babbage", 100 + n, n, bytes([n]) * 32, bytes([n - 1]) * 32))


def point(n: int) -> Point:
    return Point(100 + n, bytes([n]) * 32)


def kinds(backlog: Backlog) -> list[object]:
    return [i.header.height if isinstance(i, Announced) else ("back", i.point)
            for i in backlog.items]


def test_a_rollback_cuts_the_queued_announcements_after_its_point():
    backlog = Backlog()
    for n in range(1, 8):
        backlog.announce(announced(n))
    tip = Tip(point(7), 7)
    backlog.rewind(Rewind(point(3), tip))
    assert kinds(backlog) == [1, 2, 3, ("back", point(3))]
    assert backlog.headers == 3
    # A deeper rollback supersedes the queued one; a point not queued (delivered
    # already, or the intersection) abandons everything queued.
    backlog.announce(announced(4))
    backlog.rewind(Rewind(point(0), tip))
    assert kinds(backlog) == [("back", point(0))] and backlog.headers == 0


def test_a_rollback_during_a_fetch_leaves_only_what_is_at_or_before_its_point():
    backlog = Backlog()
    for n in range(1, 6):
        backlog.announce(announced(n))
    run = backlog.unrequested(50)  # asked for...
    for item in run:
        item.requested = True
    backlog.rewind(Rewind(point(2), Tip(point(5), 5)))  # ...when the rollback arrives
    backlog.announce(announced(3))  # the node's new third block
    assert backlog.queued(run) == run[:2]
    assert [a.header.height for a in backlog.unrequested(50)] == [3]  # not across the rollback
    backlog.attach(run, [object()] * 5)  # type: ignore[list-item]
    # Only blocks 1 and 2 may reach the sink; then the rollback; the new 3 waits for its block.
    assert [a.header.height for a in backlog.ready(50)] == [1, 2]
    backlog.take(2)
    assert kinds(backlog) == [("back", point(2)), 3] and backlog.headers == 1
    assert backlog.ready(50) == []


# --- messages judged on arrival (a scripted node on a real socket) ----------------------

def rollforward() -> bytes:
    return cs.RollForward([5, CBORTag(24, b"header")], Tip(ORIGIN, 0)).encode()


AWAIT = cs.AwaitReply().encode()


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def node_scenario(check: Callable[[ChainSyncClient, Muxer, Muxer], Awaitable[None]]) -> None:
    """A chain-sync client on a real socket; `check` writes the node's bytes raw."""
    async def scenario() -> None:
        client_mux, node_mux, server = await pair()
        for protocol in (CHAINSYNC_N2N, BLOCKFETCH):
            client_mux.channel(protocol)
        client_mux.start()
        chainsync = ChainSyncClient(client_mux.channel(CHAINSYNC_N2N), False,
                                    {"CanAwait": 5.0, "MustReply": 5.0})
        try:
            await check(chainsync, client_mux, node_mux)
        finally:
            await client_mux.close()
            await node_mux.close()
            server.close()

    asyncio.run(scenario())


async def node_writes(node: Muxer, *messages: bytes, protocol: int = CHAINSYNC_N2N) -> None:
    """All of `messages` in one segment: the client gets them in one read."""
    node.writer.write(encode_segment(protocol, True, b"".join(messages)))
    await node.writer.drain()


@pytest.mark.parametrize("extra", [rollforward(), AWAIT], ids=["RollForward", "AwaitReply"])
def test_an_unsolicited_message_to_an_idle_client_is_caught_on_arrival(extra):
    async def check(chainsync, client, node):
        await chainsync.request()
        await node_writes(node, rollforward())
        assert isinstance(await chainsync.next_update(), cs.RollForward)
        # Idle now. The extra arrives while the client does nothing with chain-sync: it is
        # judged against Idle as it arrives, not against whatever state the client is in
        # when it next reads (by then a new request would make it look like an answer).
        await node_writes(node, extra)
        await until(lambda: client.error is not None)
        assert isinstance(client.error, AgencyError)
        assert "may not speak" in str(client.error)
        with pytest.raises(AgencyError):
            await chainsync.request()

    node_scenario(check)


def test_a_violation_on_chain_sync_fails_a_block_fetch_under_way():
    async def check(chainsync, client, node):
        blockfetch = BlockFetchClient(client.channel(BLOCKFETCH))
        fetching = asyncio.ensure_future(
            blockfetch.fetch(Point(1, bytes(32))))  # the node never answers it
        await node_writes(node, rollforward())  # and speaks on chain-sync out of turn
        with pytest.raises(AgencyError, match="may not speak"):
            await asyncio.wait_for(fetching, 5)

    node_scenario(check)


@pytest.mark.parametrize("extra", [rollforward(), AWAIT], ids=["RollForward", "AwaitReply"])
def test_an_answer_beyond_the_requests_in_flight_is_caught(extra):
    async def check(chainsync, client, node):
        for _ in range(3):
            await chainsync.request()
        # Three answers (one of them told to wait first), then one nobody asked for.
        await node_writes(node, rollforward(), AWAIT, rollforward(), rollforward(), extra)
        await until(lambda: client.error is not None)
        assert "may not speak" in str(client.error)
        # What came before the violation is still handed over, in order; then the error.
        got = [type(await chainsync.next_update()).__name__ for _ in range(4)]
        assert got == ["RollForward", "AwaitReply", "RollForward", "RollForward"]
        with pytest.raises(AgencyError):
            await chainsync.next_update()

    node_scenario(check)


def test_a_second_await_reply_for_one_request_is_caught_with_more_in_flight():
    async def check(chainsync, client, node):
        for _ in range(5):
            await chainsync.request()
        await node_writes(node, rollforward(), AWAIT, AWAIT)
        await until(lambda: client.error is not None)
        assert "may not be received in state MustReply" in str(client.error)

    node_scenario(check)


def test_answers_interleaved_with_more_requests_are_legal():
    async def check(chainsync, client, node):
        await chainsync.request()
        await chainsync.request()
        await node_writes(node, rollforward())
        assert isinstance(await chainsync.next_update(), cs.RollForward)
        await chainsync.request()  # sent while the second is still unanswered
        await node_writes(node, AWAIT)
        await node_writes(node, rollforward(), rollforward())
        got = [type(await chainsync.next_update()).__name__ for _ in range(3)]
        assert got == ["AwaitReply", "RollForward", "RollForward"]
        assert chainsync.in_flight == 0 and client.error is None

    node_scenario(check)


# --- the follower against the simulator --------------------------------------------------

class ChainCheckingSink(RecordingSink):
    """Judges every call as it comes: a block must be the child of the sink's newest (no
    gap, no duplicate), a rollback must be to a point on the sink's chain."""

    def __init__(self, batches: bool = False, pause_s: float = 0.0) -> None:
        super().__init__()
        self.chain: list[bytes] = []
        self.pause_s = pause_s
        if batches:
            self.roll_forward_batch = self._batch

    def roll_forward(self, block: Block, tip: Tip) -> None:
        if self.chain:
            assert block.prev_hash == self.chain[-1], f"gap or repeat at {block.hash.hex()}"
        self.chain.append(block.hash)
        super().roll_forward(block, tip)

    def _batch(self, blocks: list[Block], tip: Tip) -> None:
        time.sleep(self.pause_s)  # a slow sink: announcements pile up behind it
        for block in blocks:
            self.roll_forward(block, tip)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        if point.hash is None:
            self.chain = []
        else:
            assert point.hash in self.chain, f"rollback to {point}, not on the sink's chain"
            del self.chain[self.chain.index(point.hash) + 1:]
        super().roll_backward(point, tip)


def hashes(blocks: list[SimBlock]) -> list[str]:
    return [b.point.hash.hex() for b in blocks]


def forwards_of(events: list[tuple[str, int | None, str | None]]) -> list[str | None]:
    return [e[2] for e in events if e[0] == "forward"]


@pytest.mark.integration
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_pipelined_sync_of_the_recorded_chain_equals_unpipelined(transport, tmp_path):
    blocks = preprod_blocks()
    runs = {}
    for depth in (1, 100):
        address = (NodeAddress("tcp", "127.0.0.1", 0) if transport == "tcp"
                   else unix_address(tmp_path))
        sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC), address)
        try:
            sink, cursor = follow(sim.address, PREPROD_MAGIC, limit=None,
                                  sink=ChainCheckingSink(batches=True),
                                  stop_at=blocks[-1].point.hash, pipeline_depth=depth)
        finally:
            sim.stop()
        runs[depth] = (sink.events, sim.simulator.most_in_flight)
        assert cursor.crumbs[0].point == blocks[-1].point
    assert runs[1][0] == runs[100][0]  # the same calls, in the same order
    assert forwards_of(runs[100][0]) == hashes(blocks)
    # And it did pipeline (how many wait at once at the simulator depends on timing).
    assert runs[1][1] == 1 and runs[100][1] > 1


ROLLBACKS = [Rollback(30, 1), Rollback(31, 2), Rollback(90, 40), Rollback(140, 60),
             Rollback(141, 1), Rollback(230, 150), Rollback(330, 7), Rollback(331, 300)]


@pytest.mark.integration
@pytest.mark.parametrize("sink_kind", ["one-by-one", "batches", "slow-batches"])
def test_rollbacks_with_many_requests_in_flight_give_the_served_chain(sink_kind):
    blocks = preprod_blocks(300)
    sink = ChainCheckingSink(batches=sink_kind != "one-by-one",
                             pause_s=0.01 if sink_kind == "slow-batches" else 0.0)
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, rollbacks=ROLLBACKS),
                          NodeAddress("tcp", "127.0.0.1", 0))
    try:
        _, cursor = follow(sim.address, PREPROD_MAGIC, limit=None, sink=sink,
                           stop_at=blocks[-1].point.hash)
    finally:
        sim.stop()
    assert sim.simulator.chain.pending_rollbacks == []  # every one was served
    # It did pipeline (depth 1 never has more than one waiting). How many wait at once
    # depends on how fast the simulator answers against the sink, so no more is asked.
    assert sim.simulator.most_in_flight > 1
    assert effective_chain(sink.events) == hashes(blocks)
    assert cursor.crumbs[0].point == blocks[-1].point


@pytest.mark.integration
def test_disconnected_mid_pipeline_it_resumes_without_gap_or_duplicate(caplog):
    blocks = preprod_blocks()
    # Each of the first three connections breaks 150 blocks in, with requests in flight.
    config = SimulatorConfig(blocks, PREPROD_MAGIC, rollbacks=[Rollback(100, 20)],
                             fault=Fault("garbage", after=150), fault_connections=3)
    sim = SimulatorThread(config, NodeAddress("tcp", "127.0.0.1", 0))
    sink = ChainCheckingSink(batches=True)
    try:
        with caplog.at_level(logging.WARNING, logger="chain.follower"):
            follow(sim.address, PREPROD_MAGIC, limit=None, sink=sink,
                   stop_at=blocks[-1].point.hash)
    finally:
        sim.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "chain.follower"]
    assert len(warnings) == 3 and sim.simulator.connections == 4
    assert sim.simulator.most_in_flight > 1
    assert effective_chain(sink.events) == hashes(blocks)


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["agency", "agency-forward"])
@pytest.mark.parametrize("when", ["idle", "in-flight"])
def test_unsolicited_chain_sync_messages_are_one_log_line_and_a_reconnect(caplog, mode, when):
    blocks = preprod_blocks(30)
    # With at most 10 in flight and no more than the node has blocks, the client has
    # nothing in flight once the answer with the last block arrives; 5 blocks in, it
    # has requests for the next ones in flight.
    after = 29 if when == "idle" else 5
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, fault=Fault(mode, after)),
                          NodeAddress("tcp", "127.0.0.1", 0))
    sink = ChainCheckingSink(batches=True)
    try:
        with caplog.at_level(logging.WARNING, logger="chain.follower"):
            follow(sim.address, PREPROD_MAGIC, limit=None, sink=sink,
                   stop_at=blocks[-1].point.hash, pipeline_depth=10)
    finally:
        sim.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "chain.follower"]
    assert len(warnings) == 1, warnings
    out_of_turn = "AgencyError: chain-sync: peer sent message type {} in state Idle, where " \
                  "it may not speak"
    expected = {("idle", "agency"): [out_of_turn.format(1)],
                ("idle", "agency-forward"): [out_of_turn.format(2)],
                ("in-flight", "agency"): ["AgencyError: chain-sync: message type 1 may not "
                                          "be received in state MustReply"],
                # In flight the repeat passes for the next answer. Whichever comes first
                # catches it: the follower reading it (not the child of the block before),
                # or the node's last answer, now one too many, arriving with none in flight.
                ("in-flight", "agency-forward"): ["ProtocolViolation: chain-sync: the node "
                                                  "announced block", out_of_turn.format(2)],
                }[(when, mode)]
    assert any(e in warnings[0] for e in expected), warnings[0]
    assert "reconnecting" in warnings[0]
    assert sim.simulator.connections == 2
    assert effective_chain(sink.events) == hashes(blocks)


# --- a rollback while blocks are being fetched (a scripted node) -------------------------

async def scripted_node(blocks: list[SimBlock], answers: list[cs.Message],
                        release_at: int) -> tuple[asyncio.AbstractServer, list[asyncio.Task]]:
    """A node that answers chain-sync requests from `answers`, in order, and holds every
    block-fetch answer until request number `release_at` has arrived."""
    tasks: list[asyncio.Task] = []
    index = {b.point: i for i, b in enumerate(blocks)}

    async def serve_chainsync(mux: Muxer, release: asyncio.Event) -> None:
        peer = chainsync_server(mux.channel(CHAINSYNC_N2N), False)
        assert isinstance(await peer.recv(), cs.FindIntersect)
        await peer.send(cs.IntersectFound(ORIGIN, tip_of(blocks)))
        requests = 0
        while True:
            await peer.recv()
            requests += 1
            if requests >= release_at:
                release.set()
            if requests <= len(answers):
                await peer.send(answers[requests - 1])

    async def serve_blockfetch(mux: Muxer, release: asyncio.Event) -> None:
        peer = blockfetch_server(mux.channel(BLOCKFETCH))
        while True:
            request = await peer.recv()
            assert isinstance(request, bf.RequestRange)
            await release.wait()
            await peer.send(bf.StartBatch())
            for i in range(index[request.start], index[request.end] + 1):
                await peer.send(bf.Block(blocks[i].wrapped))
            await peer.send(bf.BatchDone())

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mux = Muxer(reader, writer, initiator=False)
        for protocol in (HANDSHAKE, CHAINSYNC_N2N, BLOCKFETCH, KEEPALIVE):
            mux.channel(protocol)
        mux.start()
        release = asyncio.Event()
        try:
            await serve_handshake(mux.channel(HANDSHAKE), PREPROD_MAGIC, False)
            served = [asyncio.ensure_future(serve_chainsync(mux, release)),
                      asyncio.ensure_future(serve_blockfetch(mux, release))]
            tasks.extend(served)
            await asyncio.wait(served, return_when=asyncio.FIRST_COMPLETED)
        except PeerError:
            pass
        finally:
            await mux.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    return server, tasks


def tip_of(blocks: list[SimBlock]) -> Tip:
    return Tip(blocks[-1].point, blocks[-1].height)


@pytest.mark.integration
@pytest.mark.parametrize("back_to", [5, 0, None], ids=["block-5", "block-0", "origin"])
def test_blocks_abandoned_while_being_fetched_never_reach_the_sink(back_to):
    blocks = preprod_blocks(30)
    tip = tip_of(blocks)
    point = ORIGIN if back_to is None else blocks[back_to].point
    # RollBackward to the intersection, blocks 0..19, a rollback, then the rest again.
    answers: list[cs.Message] = [cs.RollBackward(ORIGIN, tip)]
    answers += [cs.RollForward(b.n2n_header, tip) for b in blocks[:20]]
    answers.append(cs.RollBackward(point, tip))
    resume = 0 if back_to is None else back_to + 1
    answers += [cs.RollForward(b.n2n_header, tip) for b in blocks[resume:]]
    depth = 4
    # With 4 in flight, request number len(answers before the rollback) + 1 + 4 goes out
    # only once the follower took the rollback: block-fetch answers wait for it.
    release_at = 22 + depth

    async def scenario() -> ChainCheckingSink:
        server, tasks = await scripted_node(blocks, answers, release_at)
        port = server.sockets[0].getsockname()[1]
        sink = ChainCheckingSink(batches=True)
        config = FollowerConfig(address=NodeAddress("tcp", "127.0.0.1", port),
                                magic=PREPROD_MAGIC, start="origin",
                                stop_at=blocks[-1].point.hash, timeouts=FAST,
                                pipeline_depth=depth, max_attempts=1)
        try:
            await asyncio.wait_for(Follower(config, sink, MemoryCursor()).run(), 30)
        finally:
            server.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return sink

    sink = asyncio.run(scenario())
    kept = [] if back_to is None else hashes(blocks[:back_to + 1])
    expected = ([("backward", None)] + [("forward", h) for h in kept]
                + [("backward", point.hash.hex() if point.hash else None)]
                + [("forward", h) for h in hashes(blocks[resume:])])
    assert [(e[0], e[2]) for e in sink.events] == expected


@pytest.mark.integration
@pytest.mark.parametrize("announced_blocks", [[0, 1, 1], [0, 2]], ids=["repeat", "gap"])
def test_a_header_that_is_not_the_child_of_the_one_before_is_a_violation(announced_blocks):
    from chain.follower import Unreachable

    blocks = preprod_blocks(5)
    tip = tip_of(blocks)
    answers: list[cs.Message] = [cs.RollBackward(ORIGIN, tip)]
    answers += [cs.RollForward(blocks[i].n2n_header, tip) for i in announced_blocks]

    async def scenario() -> ChainCheckingSink:
        server, tasks = await scripted_node(blocks, answers, release_at=1)
        port = server.sockets[0].getsockname()[1]
        sink = ChainCheckingSink(batches=True)
        config = FollowerConfig(address=NodeAddress("tcp", "127.0.0.1", port),
                                magic=PREPROD_MAGIC, start="origin", timeouts=FAST,
                                max_attempts=1)
        try:
            with pytest.raises(Unreachable, match="ProtocolViolation: .* is not the block "
                                                  "before it"):
                await asyncio.wait_for(Follower(config, sink, MemoryCursor()).run(), 30)
        finally:
            server.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return sink

    sink = asyncio.run(scenario())
    assert set(forwards_of(sink.events)) <= set(hashes(blocks[:2]))  # never past the break
