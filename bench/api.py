"""Benchmark: the trader's API and its live stream on the stack `make run` starts (issue 12,
point 8).

Run: .venv/bin/python bench/api.py [--seconds 5] [--clients 4] [--blocks 10]

Starts `dhl run` (paper mode: the embedded MongoDB, Redis, the stubs, the node
simulator replaying recorded preprod blocks one every 2 s, the follower, the workers,
the beat, gunicorn) in a temporary DATA_DIR; opens one paper long through the API and
stores 999 copies of it for 100 users, so 1,000 positions are stored and each user has
10. Then, from C client threads for S seconds each (the machine's two cores serve the
clients too):

- GET /health (the baseline: the web process's floor), GET /positions (a user's 10,
  each figured at the paper price), POST /plans (a 1.8x long: the venues ranked, the
  DexHunter stub asked for the swap — paced, as the real API's client is, by
  DEXHUNTER_MIN_INTERVAL_MS) — requests per second and the ratio to /health;
- the block-to-WebSocket latency: for each of N blocks the pipeline applies, the time
  from the watcher's apply (the `applied_ms` it publishes) to this client receiving the
  position re-marked at that block over /ws. Target: under 1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.api_keys import new_key  # noqa: E402
from core.settings import settings_from_mapping  # noqa: E402
from stack.processes import wait_until  # noqa: E402
from stack.runtime_env import read_runtime_env  # noqa: E402
from store import api_keys  # noqa: E402
from store.mongo import connect  # noqa: E402

STRIKE = "51515151515151515151515151515151515151515151515151515151535452494b45"
NOT_INHERITED = ("MONGO_URL", "MONGO_DB", "PORT", "FLOWER_PORT", "FLOWER_URL", "BIND_HOST",
                 "REDIS_NAMESPACE", "DATA_DIR", "CARDANO_NODE")
ORDER = {"side": "long", "asset": STRIKE, "collateral": "ADA", "amount": "100",
         "leverage": "1.8"}
USERS = 100
POSITIONS = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(method: str, url: str, key: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_stack(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update({"DATA_DIR": str(data_dir), "PORT": str(port), "FLOWER_PORT": str(free_port()),
                "API_RATE_PER_MINUTE": "1000000"})
    log = open(data_dir.parent / "stack.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "dhl", "run"], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def store_positions(runtime: dict[str, str], base: str) -> dict[str, str]:
    """One paper long opened through the API, copied to 1,000 positions of 100 users;
    each user's key."""
    db = connect(runtime["MONGO_URL"])[settings_from_mapping(runtime).mongo_db]
    keys = {}
    for n in range(USERS):
        key_id, kept, keys[f"bench-{n}"] = new_key()
        api_keys.add(db, key_id, f"bench-{n}", kept, 1)
    # The markets come in at the workers' first refresh: plan until one is eligible.
    assert wait_until(lambda: call("POST", base + "/plans", keys["bench-0"], ORDER)[1]["ok"],
                      120, 1.0), "no market eligible for the bench's long"
    status, placed = call("POST", base + "/orders", keys["bench-0"], ORDER)
    assert status == 201, (status, placed)
    position = placed["position"]
    assert wait_until(lambda: call("GET", f"{base}/positions/{position}", keys["bench-0"]
                                   )[1]["state"] == "open", 120, 0.5), "the long did not open"
    doc = db["positions"].find_one({"_id": position})
    copies = []
    for n in range(1, POSITIONS):
        copy = dict(doc)
        copy["_id"] = f"bench-{uuid.uuid4().hex[:16]}"
        copy["order"] = {**doc["order"], "user": f"bench-{n % USERS}"}
        copies.append(copy)
    db["positions"].insert_many(copies)
    assert db["positions"].count_documents({}) >= POSITIONS
    return keys


def rate(name: str, request: Callable[[], int], clients: int, seconds: float) -> float:
    """Requests per second from `clients` threads, each for `seconds`; all must be 2xx."""
    counts = [0] * clients
    failures: list[int] = []
    deadline = time.monotonic() + seconds

    def run(slot: int) -> None:
        while time.monotonic() < deadline:
            status = request()
            if status // 100 != 2:
                failures.append(status)
            counts[slot] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    per_s = sum(counts) / (time.monotonic() - started)
    assert not failures, f"{name}: {len(failures)} failed ({failures[:5]})"
    return per_s


def block_latencies(base: str, key: str, blocks: int, timeout_s: float) -> list[float]:
    from simple_websocket import Client

    ws = Client.connect("ws" + base[4:] + "/ws", headers={"Authorization": f"Bearer {key}"})
    seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < blocks and time.monotonic() < deadline:
            raw = ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            now_ms = time.time() * 1000
            if raw is None:
                break
            message = json.loads(raw)
            block = message.get("block") if message.get("type") == "position" else None
            if block and block.get("applied_ms") and block["height"] not in seen:
                seen[block["height"]] = now_ms - block["applied_ms"]
    finally:
        ws.close()
    return list(seen.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dhl-bench-api-") as tmp:
        data_dir = Path(tmp) / "data"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        stack = start_stack(data_dir, port)
        try:
            up = wait_until(lambda: call("GET", base + "/ready")[0] == 200, 180, 0.5)
            assert up, (Path(tmp) / "stack.log").read_text(errors="replace")[-3000:]
            runtime = read_runtime_env(data_dir)
            keys = store_positions(runtime, base)
            key = keys["bench-1"]
            listed = call("GET", base + "/positions", key)[1]["positions"]
            print(f"{POSITIONS} positions stored for {USERS} users; a user lists "
                  f"{len(listed)}; {args.clients} clients x {args.seconds:g} s each")
            health = rate("GET /health", lambda: call("GET", base + "/health")[0],
                          args.clients, args.seconds)
            positions = rate("GET /positions", lambda: call("GET", base + "/positions", key)[0],
                             args.clients, args.seconds)
            plans = rate("POST /plans", lambda: call("POST", base + "/plans", key, ORDER)[0],
                         args.clients, args.seconds)
            print(f"GET /health     {health:8.1f} req/s  (baseline)")
            print(f"GET /positions  {positions:8.1f} req/s  ratio {positions / health:.3f}")
            paced = settings_from_mapping(runtime).dexhunter_min_interval_ms
            print(f"POST /plans     {plans:8.1f} req/s  ratio {plans / health:.3f}  (each asks "
                  f"DexHunter for the swap: its client keeps {paced} ms between requests)")
            latencies = sorted(block_latencies(base, key, args.blocks, args.blocks * 4 + 20))
            assert latencies, "no block re-marked a position over /ws"
            p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
            print(f"block -> WebSocket over {len(latencies)} blocks: median "
                  f"{statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, max "
                  f"{latencies[-1]:.0f} ms (target < 1000 ms: "
                  f"{'met' if latencies[-1] < 1000 else 'NOT met'})")
        finally:
            stack.send_signal(signal.SIGINT)
            try:
                stack.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
                stack.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
