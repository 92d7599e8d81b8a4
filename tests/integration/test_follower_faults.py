"""The follower through faults: a node that is not there, a broker that goes away.

/ready says whether the follower is connected, to which node, and how old its last block
is, never trusting a heartbeat an earlier run left; a Redis outage is one log line when
it starts and one when it ends, and the watchers are poked as soon as it is back.
"""
from __future__ import annotations

import os
import time

import pytest
import redis as redis_lib

from app import create_app
from chain.address import NodeAddress
from core.settings import settings_from_mapping
from stack.processes import free_port, wait_until
from stack.services import start_redis
from store import chain_log
from tests.integration.test_follower_lease import served
from tests.support.follower import FollowerProcess
from tests.support.simulator import SimulatorThread

pytestmark = pytest.mark.integration


@pytest.fixture
def stack_env(test_env, redis_client):
    return {**test_env, "CARDANO_NETWORK": "preprod", "FOLLOW_FROM": "origin",
            "FOLLOWER_LEASE_SECONDS": "2", "REQUIRE_FOLLOWER": "true"}


@pytest.fixture
def follower_env(stack_env):
    return {**os.environ, **stack_env}


def follower_check(client) -> tuple[int, dict]:
    response = client.get("/ready")
    return response.status_code, response.get_json()["checks"]["follower"]


def test_ready_tells_whether_the_follower_is_connected_and_alive(stack_env, follower_env,
                                                                 tmp_path, db):
    port = free_port()
    node = f"tcp://127.0.0.1:{port}"
    env = {**follower_env, "CARDANO_NODE": node}
    app = create_app(settings_from_mapping({**stack_env, "CARDANO_NODE": node}))
    client = app.test_client()
    follower = FollowerProcess(env, tmp_path / "follower.log")
    sim = None
    try:
        # Nothing listens there: the follower runs, but /ready must not say it is fine.
        assert wait_until(lambda: follower_check(client)[1]["detail"].startswith(
            f"not connected to {node}"), 30), follower.log_path.read_text()
        assert follower_check(client)[0] == 503
        chain, config = served(30, initial=30)
        sim = SimulatorThread(config, NodeAddress("tcp", "127.0.0.1", port))
        assert wait_until(lambda: follower_check(client)[0] == 200, 60), \
            follower.log_path.read_text()
        status, check = follower_check(client)
        assert check["detail"].startswith(f"connected to {node}")
        assert check["info"]["connected"] is True and check["info"]["node"] == node
        assert check["info"]["last_block_seconds_ago"] < 30
        # A follower that is gone leaves its last heartbeat behind: it must not count.
        follower.kill()
        assert wait_until(lambda: follower_check(client)[0] == 503, 30)
        assert "last heartbeat" in follower_check(client)[1]["detail"]
    finally:
        follower.stop()
        if sim is not None:
            sim.stop()
        app.extensions["dhl"].close()


def test_a_redis_outage_is_logged_once_and_the_watchers_are_poked_when_it_is_back(
        follower_env, namespace, tmp_path, db):
    broker = start_redis(tmp_path / "redis", persist=False)
    port = broker.port
    chain, config = served(60, initial=10, interval_s=0.1)
    sim = SimulatorThread(config, NodeAddress("tcp", "127.0.0.1", 0))
    env = {**follower_env, "CARDANO_NODE": str(sim.address), "REDIS_URL": broker.url}
    follower = FollowerProcess(env, tmp_path / "follower.log")
    queue = f"{namespace}:watchers"
    try:
        assert wait_until(lambda: chain_log.last_seq(db) >= 15, 30), \
            follower.log_path.read_text()
        broker.stop()
        # Blocks keep coming while the broker is away: they are stored all the same.
        assert wait_until(lambda: chain_log.last_seq(db) >= 45, 30)
        assert wait_until(lambda: (db["chain_cursor"].find_one({"_id": "follower"}) or {})
                          .get("hash") == chain[-1].hash.hex(), 60)
        time.sleep(1.0)  # the served chain is done: no block will poke after this
        broker = start_redis(tmp_path / "redis", port=port, persist=False)
        fresh = redis_lib.Redis.from_url(broker.url)
        # Only the follower's own re-poke can put work on the queue of a fresh Redis.
        assert wait_until(lambda: fresh.llen(queue) > 0, 15), follower.log_path.read_text()
        assert wait_until(lambda: follower.said("is back after"), 10)
        text = follower.log_path.read_text()
        assert text.count("the Celery broker (Redis) is unreachable") == 1, text
        assert text.count("the Celery broker (Redis) is back after") == 1, text
        assert follower.running
        fresh.close()
    finally:
        follower.stop()
        sim.stop()
        broker.stop()
