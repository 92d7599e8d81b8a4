"""The follower against the node simulator over real sockets: TCP (node-to-node, headers
then block-fetch) and a Unix socket (node-to-client, whole blocks)."""
from __future__ import annotations

import asyncio
import logging

import pytest

from chain.address import NodeAddress
from chain.follower import (Breadcrumbs, Crumb, Follower, FollowerConfig, MemoryCursor,
                            Unreachable, thin)
from chain.points import ORIGIN, Point
from chain.simulator import Fault, Rollback, SimulatorConfig
from tests.support.chainlog import RecordingSink, effective_chain
from tests.support.simulator import (PREPROD_MAGIC, SimulatorThread, preprod_blocks,
                                     preview_blocks, unix_address)

pytestmark = pytest.mark.integration

FAST = {"CanAwait": 2.0, "Intersect": 2.0, "Busy": 2.0, "Streaming": 2.0, "Confirm": 2.0,
        "MustReply": 5.0}


def follow(address: NodeAddress, magic: int, limit: int, cursor=None, sink=None,
           start="origin", **kwargs) -> tuple[RecordingSink, MemoryCursor]:
    sink = sink or RecordingSink()
    cursor = cursor or MemoryCursor()
    config = FollowerConfig(address=address, magic=magic, start=start, limit=limit,
                            timeouts=FAST, backoff_initial_s=0.05, backoff_max_s=0.2, seed=1,
                            **kwargs)
    asyncio.run(asyncio.wait_for(Follower(config, sink, cursor).run(), 120))
    return sink, cursor


@pytest.fixture
def tcp():
    return NodeAddress("tcp", "127.0.0.1", 0)


def test_syncs_every_block_over_tcp(tcp):
    blocks = preprod_blocks()
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC), tcp)
    try:
        sink, cursor = follow(sim.address, PREPROD_MAGIC, limit=len(blocks))
    finally:
        sim.stop()
    assert sink.events[0] == ("backward", None, None)  # first, back to the intersection
    assert effective_chain(sink.events) == [b.point.hash.hex() for b in blocks]
    assert cursor.crumbs[0].point == blocks[-1].point


def test_syncs_conway_blocks_over_a_unix_socket(tmp_path):
    blocks = preview_blocks()
    sim = SimulatorThread(SimulatorConfig(blocks, 2), unix_address(tmp_path))
    try:
        sink, _ = follow(sim.address, 2, limit=len(blocks))
    finally:
        sim.stop()
    assert effective_chain(sink.events) == [b.point.hash.hex() for b in blocks]


def test_follows_rollbacks(tcp):
    blocks = preprod_blocks(60)
    rollbacks = [Rollback(10, 1), Rollback(20, 3), Rollback(59, 50)]
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, rollbacks=rollbacks), tcp)
    try:
        sink, cursor = follow(sim.address, PREPROD_MAGIC, limit=None,
                              stop_at=blocks[-1].point.hash)
    finally:
        sim.stop()
    # AFTER counts roll-forwards served on the connection, re-served blocks included:
    # the 10th is block 9 (back 1 to 8), the 20th block 18 (back 3 to 15), the 59th
    # block 54 (back 50 to 4). A rollback that arrives while an earlier one still waits
    # for delivery supersedes it when it goes deeper, so the sink may see fewer, never others.
    backwards = [e[2] for e in sink.events if e[0] == "backward"][1:]
    assert backwards[-1] == blocks[4].point.hash.hex()
    assert set(backwards) <= {blocks[i].point.hash.hex() for i in (8, 15, 4)}
    assert effective_chain(sink.events) == [b.point.hash.hex() for b in blocks]


def test_resumes_from_its_cursor_without_gap_or_duplicate(tcp):
    blocks = preprod_blocks(40)
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC), tcp)
    try:
        first, cursor = follow(sim.address, PREPROD_MAGIC, limit=15)
        second, _ = follow(sim.address, PREPROD_MAGIC, limit=25, cursor=cursor, start="tip")
    finally:
        sim.stop()
    # The second run starts with a rollback to where the first stopped, then carries on.
    assert second.events[0] == ("backward", blocks[14].point.slot, blocks[14].point.hash.hex())
    assert effective_chain(first.events + second.events) == [b.point.hash.hex() for b in blocks]


def test_starts_at_the_tip_or_a_given_point(tcp):
    blocks = preprod_blocks(30)
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, initial=20, interval_s=0.05),
                          tcp)
    try:
        at_tip, _ = follow(sim.address, PREPROD_MAGIC, limit=3, start="tip")
        at_point, _ = follow(sim.address, PREPROD_MAGIC, limit=2, start=blocks[4].point)
    finally:
        sim.stop()
    assert at_tip.events[0][0] == "backward" and at_tip.events[0][1] >= blocks[19].point.slot
    assert [e[2] for e in at_point.events] == [blocks[4].point.hash.hex(),
                                               blocks[5].point.hash.hex(),
                                               blocks[6].point.hash.hex()]


@pytest.mark.parametrize("mode", ["garbage", "wrong-magic", "refuse", "oversized", "agency",
                                  "stall"])
def test_a_bad_peer_is_one_log_line_and_a_reconnect(tcp, caplog, mode):
    blocks = preprod_blocks(12)
    fault = Fault(mode, after=5)
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, fault=fault), tcp)
    try:
        with caplog.at_level(logging.WARNING, logger="chain.follower"):
            sink, _ = follow(sim.address, PREPROD_MAGIC, limit=12)
    finally:
        sim.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "chain.follower"]
    assert len(warnings) == 1, warnings
    assert "reconnecting" in warnings[0]
    assert sim.simulator.connections == 2
    assert effective_chain(sink.events) == [b.point.hash.hex() for b in blocks]


def test_a_node_of_another_network_is_named_each_attempt_or_stops_a_one_shot_follower(
        tcp, caplog):
    from chain.errors import WrongNetwork

    sim = SimulatorThread(SimulatorConfig(preprod_blocks(3), PREPROD_MAGIC), tcp)
    try:
        with pytest.raises(WrongNetwork, match="is on preprod"):
            follow(sim.address, 2, limit=1, stop_on_wrong_network=True)
        assert sim.simulator.connections == 1  # at once: no retry
        # A long-running follower says it on each attempt, then gives up only if told to.
        with caplog.at_level(logging.WARNING, logger="chain.follower"):
            with pytest.raises(Unreachable):
                follow(sim.address, 2, limit=1, max_attempts=2)
    finally:
        sim.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "chain.follower"]
    assert warnings == [f"the node at {sim.address} is on preprod (magic 1), not preview "
                        "(magic 2); reconnecting in 0.1s"]


def test_unreachable_node_gives_up_after_its_attempts():
    from chain.follower import Unreachable
    from stack.processes import free_port

    address = NodeAddress("tcp", "127.0.0.1", free_port())
    with pytest.raises(Unreachable, match="gave up after 3 attempts"):
        follow(address, PREPROD_MAGIC, limit=1, max_attempts=3)


def test_breadcrumbs_keep_recent_points_dense_and_old_ones_sparse():
    crumbs = Breadcrumbs()
    for height in range(3000):
        crumbs.forward(Point(height, height.to_bytes(32, "big")), height)
    heights = [c.height for c in crumbs.crumbs]
    assert heights[:16] == list(range(2999, 2983, -1))
    assert len(heights) < 32 and min(heights) <= 2999 - 2048
    crumbs.backward(Point(2990, (2990).to_bytes(32, "big")))
    assert crumbs.crumbs[0].height == 2990
    crumbs.backward(ORIGIN)
    assert crumbs.points() == [ORIGIN]  # "at origin", not "never followed"
    crumbs.forward(Point(5, bytes(32)), 1)
    crumbs.backward(Point(3, bytes(31) + b"\x01"))  # a point thinned out or never seen
    assert crumbs.points()[0] == Point(3, bytes(31) + b"\x01")
    assert crumbs.points()[-1] == ORIGIN
    assert thin([]) == [] and thin([Crumb(ORIGIN, 0)]) == [Crumb(ORIGIN, 0)]


def test_a_follower_rolled_back_to_origin_resumes_there(tcp):
    # What a follower saves after a rollback to origin: it must resume at origin, not
    # take "no cursor" for a first start and jump to FOLLOW_FROM (here the tip).
    crumbs = Breadcrumbs()
    crumbs.backward(ORIGIN)
    cursor = MemoryCursor()
    cursor.save(crumbs.crumbs)
    blocks = preprod_blocks(10)
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC), tcp)
    try:
        sink, _ = follow(sim.address, PREPROD_MAGIC, limit=3, cursor=cursor, start="tip")
    finally:
        sim.stop()
    assert sink.events[0] == ("backward", None, None)
    assert effective_chain(sink.events) == [b.point.hash.hex() for b in blocks[:3]]


class BatchSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def roll_forward_batch(self, blocks, tip) -> None:
        self.batches.append(len(blocks))
        for block in blocks:
            self.roll_forward(block, tip)


def test_block_fetch_ranges_reach_a_batch_sink_whole_and_in_order(tcp):
    blocks = preprod_blocks(120)
    rollbacks = [Rollback(30, 3), Rollback(80, 50)]
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, rollbacks=rollbacks), tcp)
    try:
        sink, cursor = follow(sim.address, PREPROD_MAGIC, limit=None, sink=BatchSink(),
                              stop_at=blocks[-1].point.hash)
        limited, _ = follow(sim.address, PREPROD_MAGIC, limit=7, sink=BatchSink())
    finally:
        sim.stop()
    assert effective_chain(sink.events) == [b.point.hash.hex() for b in blocks]
    assert max(sink.batches) > 1 and len(sink.batches) < 20  # ranges, not block by block
    assert cursor.crumbs[0].point == blocks[-1].point
    assert sum(limited.batches) == 7  # a limit inside a range cuts it there


def test_a_bug_in_reading_a_message_fails_the_connection_at_once(tcp, monkeypatch):
    """Messages are read by the muxer's reader: an error there that is not the peer's
    (a decoder bug) must fail the connection, not leave the follower waiting forever."""
    from chain import statemachine
    from chain.follower import Unreachable

    sim = SimulatorThread(SimulatorConfig(preprod_blocks(20), PREPROD_MAGIC), tcp)
    real_init = statemachine.ProtocolPeer.__init__

    def buggy_client_decoder(self, channel, spec, role, decode, timeouts=None):
        if role is statemachine.Agency.CLIENT and spec.name == "chain-sync":
            def decode(obj):  # noqa: F811 - the bug under test
                raise RuntimeError("a decoder bug")
        real_init(self, channel, spec, role, decode, timeouts)

    monkeypatch.setattr(statemachine.ProtocolPeer, "__init__", buggy_client_decoder)
    try:
        with pytest.raises(Unreachable, match="DecodeError: chain-sync: RuntimeError"):
            follow(sim.address, PREPROD_MAGIC, limit=5, max_attempts=1)
    finally:
        sim.stop()
