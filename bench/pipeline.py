"""Benchmark: the block pipeline end to end, from the node simulator to MongoDB.

Run: .venv/bin/python bench/pipeline.py [--blocks N]

Measured in the same run, on the recorded preprod chunk (864 real blocks):
- ingest only: decoding the blocks in-process (what bench/ingest.py measures);
- straight: applying the chain to every watcher in one process, no Celery, no network;
- end to end with 1 and 2 worker processes: simulator -> `dhl follow` (N2N chain-sync +
  block-fetch) -> block log -> `watchers.apply` tasks on a real Celery worker -> MongoDB,
  timed until every watcher's cursor is at the last block;
- the Celery hop: what the end-to-end run costs per block beyond the straight one, and
  how many tasks ran per block (pokes are coalesced, so catching up costs a task per
  batch, not a task per block).
It needs Redis on 127.0.0.1:6379 (or REDIS_URL) and starts nx-27017 itself.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chain.address import NodeAddress  # noqa: E402
from chain.blockfile import read_blocks  # noqa: E402
from chain.ledger import decode_block  # noqa: E402
from chain.simulator import SimBlock, SimulatorConfig  # noqa: E402
from core.settings import load_settings, settings_from_mapping  # noqa: E402
from stack.processes import die_with_parent, wait_until  # noqa: E402
from stack.services import redis_answers, start_mongo  # noqa: E402
from store import chain_log, watcher_cursors  # noqa: E402
from store.indexes import ensure_indexes  # noqa: E402
from store.mongo import connect  # noqa: E402

PREPROD = 1
WALLET = ("addr_test1qq7rrku33z0d8gcp4xkwa4r0ze2ru2qznhma7twlmv3mj4gdefwpxl0d4a8ld3n56urgxxrc9"
          "tqnz6qd52wpdywwnt4qqegjsf")


def chunk_blocks(count: int):
    chunk = (load_settings().fixtures_dir / "cardano" / "segments" /
             "preprod-babbage-chunk01285" / "01285.chunk")
    if not chunk.exists():
        raise SystemExit(f"recorded fixtures not found at {chunk} (set FIXTURES_DIR)")
    return read_blocks(chunk, PREPROD)[:count]


def ingest_rate(blocks) -> float:
    raws = [b.wrapped for b in blocks]
    started = time.perf_counter()
    rounds = 0
    while time.perf_counter() - started < 2.0:
        for raw in raws:
            block = decode_block(raw)
            block.tx_ids  # noqa: B018
        rounds += 1
    return rounds * len(raws) / (time.perf_counter() - started)


def apply_straight(db, settings, blocks) -> None:
    """The baseline: the block log written in one go, each watcher applied in one process."""
    from indexer.apply import apply_pending
    from indexer.watchers import active_watchers

    ensure_indexes(db)
    stored = [chain_log.StoredBlock(b.hash.hex(), b.slot, b.height, b.era, b.raw, b.tx_count)
              for b in blocks]
    chain_log.store_blocks(db, stored)
    chain_log.append_forwards(db, 1, stored)
    for watcher in active_watchers(settings).values():
        while apply_pending(db, watcher, "bench", batch=10_000).more:
            pass


def straight_rate(env: dict[str, str], blocks) -> float:
    settings = settings_from_mapping(env)
    client = connect(settings.mongo_url)
    db = client[f"bench_straight_{uuid.uuid4().hex[:6]}"]
    started = time.perf_counter()
    apply_straight(db, settings, blocks)
    elapsed = time.perf_counter() - started
    client.drop_database(db.name)
    client.close()
    return len(blocks) / elapsed


def end_to_end(env: dict[str, str], blocks, workers: int, logs: Path) -> tuple[float, int]:
    from chain.simulator_thread import SimulatorThread

    namespace = f"bench_{uuid.uuid4().hex[:8]}"
    run_env = {**os.environ, **env, "MONGO_DB": namespace, "REDIS_NAMESPACE": namespace,
               "FOLLOW_FROM": "origin"}
    settings = settings_from_mapping(run_env)
    client = connect(settings.mongo_url)
    db = client[namespace]
    ensure_indexes(db)
    sim = SimulatorThread(SimulatorConfig([SimBlock.of(b) for b in blocks], PREPROD),
                          NodeAddress("tcp", "127.0.0.1", 0))
    run_env["CARDANO_NODE"] = str(sim.address)
    worker_log = logs / f"worker-{workers}.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--loglevel=INFO",
         f"--concurrency={workers}", "--queues=chain,watchers,execution,guards,notify",
         f"--hostname=bench-{namespace}@localhost", "--without-mingle", "--without-gossip"],
        env=run_env, cwd=ROOT, stdout=open(worker_log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=die_with_parent)
    time.sleep(3)  # the worker's start-up is not part of the pipeline's throughput
    started = time.perf_counter()
    follower = subprocess.Popen([sys.executable, "-m", "dhl", "follow"], env=run_env, cwd=ROOT,
                                stdout=open(logs / f"follower-{workers}.log", "wb"),
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    names = ["demo-policy", "demo-script", "own-txs", "wallets"]

    def done() -> bool:
        last = chain_log.last_seq(db)
        cursors = {c.watcher: c.seq for c in watcher_cursors.read_all(db)}
        return last >= len(blocks) + 1 and all(cursors.get(n) == last for n in names)

    finished = wait_until(done, timeout_s=600, interval_s=0.05)
    elapsed = time.perf_counter() - started
    for proc in (follower, worker):
        proc.terminate()
        proc.wait(timeout=30)
    sim.stop()
    tasks = worker_log.read_text(errors="replace").count("Task watchers.apply[")
    client.drop_database(namespace)
    client.close()
    if not finished:
        raise SystemExit(f"the pipeline did not finish; see {logs}")
    return len(blocks) / elapsed, tasks // 2  # each task logs "received" and "succeeded"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=864)
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_answers(redis_url):
        raise SystemExit(f"no Redis at {redis_url}")
    blocks = chunk_blocks(args.blocks)
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        mongo = start_mongo(logs / "mongo", in_memory=True)
        env = {"MONGO_URL": mongo.url, "REDIS_URL": redis_url, "CARDANO_NETWORK": "preprod",
               "WATCH_ADDRESSES": WALLET, "VENUE_MODULES": "protocols.demo"}
        try:
            ingest = ingest_rate(blocks)
            straight = straight_rate(env, blocks)
            one, tasks_one = end_to_end(env, blocks, 1, logs)
            two, tasks_two = end_to_end(env, blocks, 2, logs)
        finally:
            mongo.stop()
    n = len(blocks)
    print(f"{n} recorded preprod blocks, 4 watchers (2 demo venues, wallets, own txs)")
    print(f"{'path':34} {'blocks/s':>10} {'vs ingest':>10}")
    for label, rate in (("ingest only (decode + tx ids)", ingest),
                        ("straight apply, one process", straight),
                        ("end to end, 1 worker process", one),
                        ("end to end, 2 worker processes", two)):
        print(f"{label:34} {rate:10.1f} {rate / ingest:10.3f}")
    for label, rate, tasks in (("1 worker", one, tasks_one), ("2 workers", two, tasks_two)):
        hop_ms = max(1000 / rate - 1000 / straight, 0.0)
        print(f"celery hop, {label}: {hop_ms:.2f} ms per block beyond the straight apply; "
              f"{tasks} watchers.apply tasks for {n} blocks x 4 watchers "
              f"({tasks / (n * 4):.3f} tasks per block per watcher)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
