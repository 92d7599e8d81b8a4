"""The block pipeline with a real Redis, a real Celery worker (concurrency 2), the MongoDB
server and the node simulator. Whatever happens on the way — shuffled and duplicated
delivery, a worker killed mid-block, the follower killed mid-stream, rollbacks of 1, 3
and 50 blocks — the final MongoDB state equals, document by document, the reference
state of the surviving chain: a fold by the ledger rules written apart from the pipeline
(tests/support/reference.py)."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from chain.address import NodeAddress
from chain.simulator import Rollback, SimBlock, SimulatorConfig
from core.settings import PROJECT_ROOT, settings_from_mapping
from protocols.registry import unregister
from stack.processes import die_with_parent, wait_until
from store import chain_log, own_txs
from store import guards as guard_store
from store.indexes import ensure_indexes
from store.mongo import connect
from tasks.celery_app import make_celery
from protocols import demo as demo_venue
from tests.support.pipeline import (all_caught_up, expected_state, rollback_script, snapshot,
                                    watchers, write_log)
from tests.support.proctree import descendants
from tests.support.simulator import PREPROD_MAGIC, SimulatorThread, preprod_chain
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration

ROLLBACKS = [(39, 1), (69, 3), (109, 50)]  # (after block index, depth)


@pytest.fixture
def pipeline_env(test_env):
    return {**test_env, "CARDANO_NETWORK": "preprod", "WATCH_ADDRESSES": demo_venue.WALLET,
            "VENUE_MODULES": "protocols.demo", "WATCHER_LEASE_SECONDS": "2",
            "FOLLOWER_LEASE_SECONDS": "2"}


@pytest.fixture
def pipeline(pipeline_env, namespace, tmp_path, redis_client):
    settings = settings_from_mapping(pipeline_env)
    client = connect(settings.mongo_url)
    db = client[namespace]
    ensure_indexes(db)
    app = make_celery(settings)
    yield settings, db, app
    app.close()
    client.drop_database(db.name)
    client.close()


def start_worker(env, tmp_path, app, name="worker"):
    worker = WorkerProcess(env, tmp_path / f"{name}.log", concurrency=2)
    worker.wait_ready(app)
    return worker


def submitted_ids(blocks) -> list[str]:
    # Some real transactions of the chunk play "ours": seen, re-opened by the 50-block
    # rollback, and seen again.
    ids = [b.tx_ids[0].hex() for b in blocks if b.tx_count][:6]
    assert len(ids) == 6
    return ids


def wait_caught_up(db, app, names, timeout_s=180):
    def done() -> bool:
        if all_caught_up(db, names):
            return True
        app.send_task("watchers.catch_up")  # what the beat does every 30 s
        return False

    assert wait_until(done, timeout_s, interval_s=1.0), "the watchers did not catch up"


def test_shuffled_and_duplicated_delivery(pipeline, pipeline_env, tmp_path):
    settings, db, app = pipeline
    blocks = preprod_chain(140)
    ids = submitted_ids(blocks)
    for tx_id in ids:
        own_txs.record_submitted(db, tx_id, "test")
    ops = rollback_script(blocks, ROLLBACKS)
    names = sorted(watchers(settings))
    rng = random.Random(7)
    worker = start_worker(pipeline_env, tmp_path, app)
    try:
        seq = 0
        for start in range(0, len(ops), 12):
            chunk = ops[start:start + 12]
            seq_before = seq
            seq = write_log(db, chunk, first_seq=seq + 1)
            tasks = [(name, s) for name in names for s in range(seq_before + 1, seq + 1)]
            tasks += rng.sample(tasks, len(tasks) // 3)  # duplicates
            rng.shuffle(tasks)
            for name, s in tasks:
                app.send_task("watchers.apply", args=[name, s])
        wait_caught_up(db, app, names)
        # Applied blocks ran the guards (no beat here): their tick noted its run.
        assert wait_until(lambda: "tick" in guard_store.last_runs(db), 30), worker.log()
    finally:
        worker.stop()
    assert snapshot(db) == expected_state(settings, blocks, ids)
    seen = [d for d in snapshot(db)[own_txs.COLLECTION] if d["state"] == "seen"]
    assert len(seen) == 6
    assert_substantial(snapshot(db))


def test_worker_killed_mid_block(pipeline, pipeline_env, tmp_path):
    settings, db, app = pipeline
    blocks = preprod_chain(140)
    ops = rollback_script(blocks, ROLLBACKS)
    names = sorted(watchers(settings))
    rng = random.Random(11)
    write_log(db, ops)
    worker = start_worker(pipeline_env, tmp_path, app)
    kills = 0
    try:
        for name in names:
            app.send_task("watchers.apply", args=[name, len(ops)])
        for round_ in range(4):
            time.sleep(rng.uniform(0.2, 0.8))
            children = descendants(worker.process.pid)
            if round_ < 3 and children:  # a pool process dies in the middle of its work
                os.kill(rng.choice(sorted(children)), signal.SIGKILL)
                kills += 1
            else:  # the whole worker dies, and comes back
                worker.kill()
                worker = start_worker(pipeline_env, tmp_path, app, name="worker2")
                kills += 1
        wait_caught_up(db, app, names)
    finally:
        worker.stop()
    assert kills == 4
    assert snapshot(db) == expected_state(settings, blocks, [])
    assert_substantial(snapshot(db))


def test_follower_killed_mid_stream_with_rollbacks(pipeline, pipeline_env, tmp_path):
    settings, db, app = pipeline
    chain = preprod_chain(160)
    blocks = [SimBlock.of(b) for b in chain]
    sim = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC, initial=20, interval_s=0.05,
                                          rollbacks=[Rollback(40, 1), Rollback(70, 3),
                                                     Rollback(130, 50)]),
                          NodeAddress("tcp", "127.0.0.1", 0))
    env = {**os.environ, **pipeline_env, "CARDANO_NODE": str(sim.address),
           "FOLLOW_FROM": "origin"}
    worker = start_worker(pipeline_env, tmp_path, app)
    rng = random.Random(5)
    names = sorted(watchers(settings))
    follower = None
    try:
        for attempt in range(5):
            log = open(tmp_path / f"follower{attempt}.log", "wb")
            follower = subprocess.Popen([sys.executable, "-m", "dhl", "follow"], env=env,
                                        cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                        preexec_fn=die_with_parent)
            if attempt < 4:
                time.sleep(rng.uniform(1.0, 2.5))
                follower.send_signal(signal.SIGKILL)
                follower.wait(timeout=10)
        last = blocks[-1].point.hash.hex()

        def follower_at_tip() -> bool:
            doc = db["chain_cursor"].find_one({"_id": "follower"})
            return doc is not None and doc["hash"] == last

        assert wait_until(follower_at_tip, 120, 0.5), (tmp_path / "follower4.log").read_text()
        wait_caught_up(db, app, names)
    finally:
        if follower is not None and follower.poll() is None:
            follower.terminate()
            follower.wait(timeout=20)
        worker.stop()
        sim.stop()
    assert chain_log.last_seq(db) > len(blocks)  # rollbacks and restarts happened
    assert snapshot(db) == expected_state(settings, chain, [])
    assert_substantial(snapshot(db))


def assert_substantial(state) -> None:
    """The comparison means something: every watcher holds UTxOs, some of them spent."""
    docs = state["watcher_utxos"]
    assert {d["watcher"] for d in docs} == {"demo-script", "demo-policy", "wallets"}
    assert sum(1 for d in docs if d["spent_slot"] != -1) > 20
    assert any("datum" in d for d in docs)


def test_a_venue_api_timeout_is_retried_never_poison(pipeline, pipeline_env, tmp_path):
    """Errors are classed by type: a venue API that times out (TransientError) makes the
    task retry with backoff; the block is not poisoned, and once the API answers the
    watcher catches up to exactly the straight application."""
    settings, db, app = pipeline
    down = tmp_path / "venue-api-down"
    down.touch()
    env = {**pipeline_env, "VENUE_MODULES": "protocols.demo,tests.support.api_venue",
           "DEMO_VENUE_API_DOWN": str(down)}
    settings = settings_from_mapping(env)
    blocks = preprod_chain(120)
    write_log(db, [("forward", b) for b in blocks])
    worker = start_worker(env, tmp_path, app)
    try:
        app.send_task("watchers.apply", args=["demo-api", 1])
        assert wait_until(lambda: "VenueTimeout" in worker.log(), 60), worker.log()
        time.sleep(2.0)  # a few retries while the API is down
        from store import watcher_cursors

        cursor = watcher_cursors.read(db, "demo-api")
        assert cursor is not None and cursor.poisoned_seq is None
        assert cursor.seq < len(blocks)
        assert "POISON" not in worker.log()
        down.unlink()  # the API answers again
        wait_caught_up(db, app, sorted(watchers(settings)))
    finally:
        worker.stop()
    try:
        expected = expected_state(settings, blocks, [])
    finally:
        unregister("demo-api")  # the registry is per process: keep it out of other tests
    assert snapshot(db)["watcher_utxos"] == expected["watcher_utxos"]
    assert any(d["watcher"] == "demo-api" and "datum" in d for d in snapshot(db)["watcher_utxos"])
