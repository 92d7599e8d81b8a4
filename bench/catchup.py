"""Benchmark: catching up from a distant relay (chain-sync pipelining + block-fetch overlap).

Run: .venv/bin/python bench/catchup.py [--latency-ms 50] [--rounds 2]

The node simulator (`dhl simulate`, its own process) serves the 864 recorded preprod
blocks over node-to-node TCP. The follower, in this process, syncs them all from
origin, connection and handshake included:
- direct: straight to the simulator on loopback (the baseline);
- via proxy: through a delay proxy (its own process) that holds every chunk for half
  the round trip in each direction, in order and without limiting throughput: a relay
  that far away;
- via proxy with pipeline depth 1 (one header per round trip, as before pipelining), on
  the first --unpipelined-blocks blocks only.
Twice: with the follower's real sink (indexer/sink.py: each block stored in MongoDB, the
block log appended under the writer lease, the cursor saved; on the embedded nx-27017
server this bench starts, a fresh database per run; pokes counted, not sent), which is
what catching up costs; and with a sink that does nothing, which shows the protocol
alone. Each figure is the best of --rounds runs. Target: via proxy, pipelined, with the
real sink, at least 0.5 of direct.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chain.address import NodeAddress  # noqa: E402
from chain.blockfile import read_blocks  # noqa: E402
from chain.follower import (PIPELINE_DEPTH, Follower, FollowerConfig,  # noqa: E402
                            MemoryCursor)
from chain.ledger import Block  # noqa: E402
from chain.points import Point, Tip  # noqa: E402
from core.settings import load_settings  # noqa: E402
from stack.processes import die_with_parent, free_port  # noqa: E402
from stack.services import start_mongo  # noqa: E402

PREPROD = 1
LOOPBACK = "127.0.0.1"


def chunk_path() -> Path:
    chunk = (load_settings().fixtures_dir / "cardano" / "segments" /
             "preprod-babbage-chunk01285" / "01285.chunk")
    if not chunk.exists():
        raise SystemExit(f"recorded fixtures not found at {chunk} (set FIXTURES_DIR)")
    return chunk


# --- the delay proxy ---------------------------------------------------------------------

async def _delayed_copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        delay_s: float) -> None:
    """Copy one direction, each chunk written `delay_s` after it was read: a fixed
    latency, in order, with as many chunks under way as the sender sends."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        try:
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay_s, data))
        except (ConnectionError, OSError):
            pass
        finally:  # the end, however it came: the writer side must not wait forever
            queue.put_nowait((loop.time() + delay_s, b""))

    reading = asyncio.create_task(read())
    try:
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(due - loop.time(), 0))
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()
        writer.close()


async def _proxy(listen_port: int, target_port: int, delay_s: float,
                 ready: "multiprocessing.synchronize.Event") -> None:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(LOOPBACK, target_port)
        await asyncio.gather(_delayed_copy(reader, up_writer, delay_s),
                             _delayed_copy(up_reader, writer, delay_s),
                             return_exceptions=True)

    server = await asyncio.start_server(on_connect, LOOPBACK, listen_port)
    ready.set()
    async with server:
        await server.serve_forever()


def run_proxy(listen_port: int, target_port: int, delay_s: float,
              ready: "multiprocessing.synchronize.Event") -> None:
    die_with_parent()
    asyncio.run(_proxy(listen_port, target_port, delay_s, ready))


# --- the follower ------------------------------------------------------------------------

class CountingSink:
    """Counts blocks and does nothing else: the protocol alone."""

    def __init__(self) -> None:
        self.blocks = 0

    def roll_forward(self, block: Block, tip: Tip) -> None:
        self.roll_forward_batch([block], tip)

    def roll_forward_batch(self, blocks: list[Block], tip: Tip) -> None:
        self.blocks += len(blocks)

    def roll_backward(self, point: Point, tip: Tip) -> None:
        pass


def null_parts() -> tuple[Any, Any, Callable[[], int]]:
    sink = CountingSink()
    return sink, MemoryCursor(), lambda: sink.blocks


def pipeline_parts(mongo_url: str) -> Callable[[], tuple[Any, Any, Callable[[], int]]]:
    """The follower's real sink and cursor on a fresh database of `mongo_url`."""
    from core.retry import Outage
    from indexer.log_writer import LogWriter
    from indexer.sink import FollowerStatus, LeasedCursor, PipelineSink
    from store import chain_log
    from store.indexes import ensure_indexes
    from store.mongo import connect

    client = connect(mongo_url)
    log = logging.getLogger("bench.catchup")

    def parts() -> tuple[Any, Any, Callable[[], int]]:
        db = client[f"bench_catchup_{uuid.uuid4().hex[:8]}"]
        ensure_indexes(db)
        mongo, broker = Outage("MongoDB", log), Outage("the broker", log)
        writer = LogWriter(db, "bench", 60.0, "simulator", mongo)
        writer.wait_for_lease()
        sink = PipelineSink(db, lambda watcher, seq, slot: None, ["wallets"], writer,
                            FollowerStatus("simulator", "bench"), mongo, broker)
        sink.start()
        return sink, LeasedCursor(db, writer, mongo), lambda: chain_log.last_seq(db) - 1

    return parts


def sync_rate(port: int, stop_at: bytes, count: int, depth: int,
              parts: Callable[[], tuple[Any, Any, Callable[[], int]]]) -> float:
    """Blocks/s for one follower syncing from origin to `stop_at` (connection included)."""
    sink, cursor, taken = parts()
    config = FollowerConfig(address=NodeAddress("tcp", LOOPBACK, port), magic=PREPROD,
                            start="origin", stop_at=stop_at, max_attempts=1,
                            keepalive_interval_s=None, pipeline_depth=depth)
    started = time.perf_counter()
    asyncio.run(asyncio.wait_for(Follower(config, sink, cursor).run(), 300))
    elapsed = time.perf_counter() - started
    if taken() != count:  # the real log also holds the first RollBackward(origin)
        raise SystemExit(f"the follower took {taken()} blocks, expected {count}")
    return count / elapsed


def best_rate(rounds: int, port: int, stop_at: bytes, count: int, depth: int,
              parts: Callable[[], tuple[Any, Any, Callable[[], int]]]) -> float:
    return max(sync_rate(port, stop_at, count, depth, parts) for _ in range(rounds))


def start_simulator(chunk: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dhl", "simulate", "--blocks", str(chunk), "--network",
         "preprod", "--listen", f"tcp://{LOOPBACK}:{port}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        preexec_fn=die_with_parent)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "listening on ..." once it accepts connections
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return proc, port


def start_proxy(target_port: int, delay_s: float) -> tuple[multiprocessing.Process, int]:
    port = free_port()
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=run_proxy, args=(port, target_port, delay_s, ready),
                                   daemon=True)
    proc.start()
    if not ready.wait(10):
        proc.kill()
        raise SystemExit("the delay proxy did not start")
    return proc, port


def measure(args: argparse.Namespace, blocks: list[Block], sim_port: int, proxy_port: int,
            parts: Callable[[], tuple[Any, Any, Callable[[], int]]]) -> tuple[float, float, float]:
    """(direct, via proxy, via proxy one request at a time) in blocks/s."""
    n, few = len(blocks), min(args.unpipelined_blocks, len(blocks))
    last, last_few = blocks[-1].hash, blocks[few - 1].hash
    direct = best_rate(args.rounds, sim_port, last, n, PIPELINE_DEPTH, parts)
    far = best_rate(args.rounds, proxy_port, last, n, PIPELINE_DEPTH, parts)
    far_one = best_rate(1, proxy_port, last_few, few, 1, parts)
    return direct, far, far_one


def report(label: str, n: int, few: int, rtt: str,
           figures: tuple[float, float, float], target: bool) -> None:
    direct, far, far_one = figures
    print(f"sink: {label}")
    print(f"  {'path':42} {'blocks':>6} {'blocks/s':>10} {'vs direct':>10}")
    for path, count, rate in ((f"direct, pipeline depth {PIPELINE_DEPTH}", n, direct),
                              (f"via proxy {rtt}, pipeline depth {PIPELINE_DEPTH}", n, far),
                              (f"via proxy {rtt}, pipeline depth 1", few, far_one)):
        print(f"  {path:42} {count:6d} {rate:10.1f} {rate / direct:10.3f}")
    ratio = far / direct
    verdict = (f"target >= 0.5: {'met' if ratio >= 0.5 else 'NOT MET'}" if target else
               "for information: with nothing to do per block, the round trip shows")
    print(f"  catch-up ratio {ratio:.2f} ({verdict}); pipelining: x{far / far_one:.0f} over "
          "depth 1 via the proxy")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=50.0, help="round trip added")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--unpipelined-blocks", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    chunk = chunk_path()
    blocks = read_blocks(chunk, PREPROD)
    simulator, sim_port = start_simulator(chunk)
    proxy, proxy_port = start_proxy(sim_port, args.latency_ms / 2000)
    mongo = start_mongo(Path(tempfile.mkdtemp(prefix="bench-catchup-")), in_memory=True)
    try:
        real = measure(args, blocks, sim_port, proxy_port, pipeline_parts(mongo.url))
        free = measure(args, blocks, sim_port, proxy_port, null_parts)
    finally:
        mongo.stop()
        proxy.kill()
        proxy.join(10)
        simulator.terminate()
        simulator.wait(10)
    n, few, rtt = len(blocks), min(args.unpipelined_blocks, len(blocks)), \
        f"+{args.latency_ms:g} ms RTT"
    print(f"{n} recorded preprod blocks from origin (connection included), node simulator "
          f"in its own process; best of {args.rounds}")
    report("the follower's own (blocks, block log and cursor in MongoDB, nx-27017)", n, few,
           rtt, real, target=True)
    report("does nothing (the protocol alone)", n, few, rtt, free, target=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
