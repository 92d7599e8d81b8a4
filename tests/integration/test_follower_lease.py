"""One writer of the block log: followers against one database take turns under a lease.

Real processes (`dhl follow`), the node simulator on a real socket, the MongoDB server.
Whatever the followers go through — the writer killed mid-stream, a standby started
beside it, the MongoDB server killed and restarted — the block log, folded, is exactly
the chain the node served, numbered 1, 2, 3... with no gap and no duplicate.
"""
from __future__ import annotations

import os

import pytest

from chain.address import NodeAddress
from chain.simulator import Rollback, SimBlock, SimulatorConfig
from stack.processes import free_port, wait_until
from stack.services import start_mongo
from store import chain_log, writer_lease
from store.mongo import connect
from tests.support.chainlog import effective_chain
from tests.support.follower import FollowerProcess
from tests.support.simulator import PREPROD_MAGIC, SimulatorThread, preprod_chain

pytestmark = pytest.mark.integration

LEASE_S = 2


def served(count: int, **config):
    chain = preprod_chain(count)
    sim_config = SimulatorConfig([SimBlock.of(b) for b in chain], PREPROD_MAGIC, **config)
    return chain, sim_config


def served_chain(count: int):
    chain = preprod_chain(count)
    config = SimulatorConfig([SimBlock.of(b) for b in chain], PREPROD_MAGIC, initial=20,
                             interval_s=0.05, rollbacks=[Rollback(40, 1), Rollback(70, 3),
                                                         Rollback(110, 30)])
    return chain, SimulatorThread(config, NodeAddress("tcp", "127.0.0.1", 0))


def log_is_the_served_chain(db, chain) -> None:
    events = chain_log.events_after(db, 0, 100_000)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "gap or duplicate"
    folded = effective_chain([(e.kind, e.slot, e.hash) for e in events])
    assert folded == [b.hash.hex() for b in chain]


def at_tip(db, chain) -> bool:
    doc = db["chain_cursor"].find_one({"_id": "follower"})
    return doc is not None and doc["hash"] == chain[-1].hash.hex()


@pytest.fixture
def follower_env(test_env, redis_client):
    return {**os.environ, **test_env, "CARDANO_NETWORK": "preprod", "FOLLOW_FROM": "origin",
            "FOLLOWER_LEASE_SECONDS": str(LEASE_S)}


def test_a_standby_takes_over_when_the_writer_is_killed(follower_env, db, tmp_path):
    # 300 blocks, one per 50 ms after the first 20: the writer needs ~16 s to reach the
    # tip, so it is still mid-stream when killed even on a loaded machine (with 160 it
    # once reached the tip while the standby was still starting).
    chain, sim = served_chain(300)
    env = {**follower_env, "CARDANO_NODE": str(sim.address)}
    first = second = None
    try:
        first = FollowerProcess(env, tmp_path / "first.log")
        assert wait_until(lambda: first.said("block-log lease taken"), 30), \
            first.log_path.read_text()
        second = FollowerProcess(env, tmp_path / "second.log")
        assert wait_until(lambda: second.said("standby: the block log is written by"), 30), \
            second.log_path.read_text()
        assert wait_until(lambda: chain_log.last_seq(db) >= 30, 30)
        first.kill()  # mid-stream: the simulator is still announcing blocks
        assert not at_tip(db, chain)
        assert wait_until(lambda: second.said("block-log lease taken"), 30), \
            second.log_path.read_text()
        assert wait_until(lambda: at_tip(db, chain), 120), second.log_path.read_text()
        lease = writer_lease.read(db)
        assert lease is not None and lease.term == 2 and lease.owner.endswith(
            f":{second.process.pid}")
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
        sim.stop()
    log_is_the_served_chain(db, chain)


def test_replay_survives_mongodb_restarted_and_a_second_follower(follower_env, namespace,
                                                                 tmp_path):
    # A MongoDB server of this test's own, on disk, so it can be killed and restarted.
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port=port)
    chain, sim = served_chain(160)
    env = {**follower_env, "CARDANO_NODE": str(sim.address), "MONGO_URL": mongo.url}
    client = connect(mongo.url)
    db = client[namespace]
    first = second = None
    try:
        first = FollowerProcess(env, tmp_path / "first.log")
        assert wait_until(lambda: chain_log.last_seq(db) >= 20, 30), first.log_path.read_text()
        mongo.kill()
        assert wait_until(lambda: first.said("MongoDB is unreachable"), 30), \
            first.log_path.read_text()
        mongo = start_mongo(tmp_path / "mongo", port=port)
        assert wait_until(lambda: first.said("MongoDB is back"), 60), first.log_path.read_text()
        second = FollowerProcess(env, tmp_path / "second.log")
        assert wait_until(lambda: second.said("standby: the block log is written by"), 30), \
            second.log_path.read_text()
        assert wait_until(lambda: at_tip(db, chain), 120), first.log_path.read_text()
        assert first.running and second.running
        assert not second.said("block-log lease taken")
        log_is_the_served_chain(db, chain)
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
        sim.stop()
        client.close()
        mongo.stop()
