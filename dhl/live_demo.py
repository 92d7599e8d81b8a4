"""`dhl live-demo`: the live path, offline, in one command (docs/live.md).

It starts, on loopback only and under a Redis namespace and MongoDB database of its own:
an in-memory MongoDB server, a fresh test master key (a new mnemonic in a file only its
owner can read, never printed), `dhl sandbox` funding the demo user's managed account
and the demo pools (CSWAP for the DEX batcher, Surf's two pools for its batcher), the
DexHunter and Surf stubs building from the sandbox's UTxOs, `dhl follow` on the
sandbox's node-to-client socket and a Celery worker. Then it opens a live position
through the same functions as `dhl positions open --live`, prints every leg as it is
built, sent and confirmed from blocks, closes it, and ends with what the sandbox
accepted and refused. Everything it started is stopped, its namespace deleted; its logs
stay in DATA_DIR/live-demo.

`make run` stays in paper mode: this is the one command that shows the live path.
"""
from __future__ import annotations

import os
import secrets
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Mapping

from core.settings import Settings, settings_from_mapping
from stack.processes import LocalService, ServiceError, free_port, port_open, spawn, started, \
    wait_until
from stack.resolve import resolve_redis
from stack.services import start_api_stub, start_mongo, start_sandbox

#: Whose managed account trades (account 0 of the fresh master key).
DEMO_USER = "demo"
#: What the sandbox's first block pays the demo account (lovelace).
FUNDING = 1_000_000_000
#: The CSWAP pool the stub DEX batcher fills from, and the Surf demo pools' funding.
POOL_LOVELACE, POOL_TOKENS = 5_000_000_000, 20_000_000_000_000
SURF_POOL_LOVELACE, SURF_POOL_TOKENS = 5_000_000_000, 1_000_000_000_000
#: Blocks: one a second. Confirmed two deep (LIVE_CONFIRMATIONS).
BLOCK_SECONDS = 1
CONFIRMATIONS = 2
#: How long one position may take to open or to settle (s).
STAGE_TIMEOUT_S = 240


@dataclass(frozen=True)
class DemoPosition:
    side: str
    ticker: str  # a SYNTHETIC Surf demo token
    collateral_ada: int
    leverage: Decimal


#: A long on the ADA pool's collateral, a short on the USDM pool's asset.
POSITIONS = {"long": DemoPosition("long", "STRIKE", 100, Decimal("1.5")),
             "short": DemoPosition("short", "USDM", 100, Decimal("1.5"))}


def demo_tokens() -> dict[str, tuple[str, Decimal, int]]:
    """Ticker -> (unit, price in ADA, decimals) of the Surf demo tokens."""
    from stubs.dexhunter import surf_demo_tokens

    return {priced.ticker: (unit, priced.price, priced.decimals)
            for unit, priced in surf_demo_tokens().items()}


def write_master_key(path: Path) -> Path:
    """A fresh 24-word test mnemonic, readable by its owner only; never printed."""
    from mnemonic import Mnemonic

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(Mnemonic("english").to_mnemonic(secrets.token_bytes(32)))
    return path


def sandbox_args(address: str, http_port: int, block_seconds: float = BLOCK_SECONDS
                 ) -> list[str]:
    tokens = demo_tokens()
    strike, usdm = tokens["STRIKE"][0], tokens["USDM"][0]
    args = ["--network", "mainnet", "--fund", f"{address}:{FUNDING}",
            "--pool", f"{POOL_LOVELACE}:{strike}={POOL_TOKENS},{usdm}={POOL_TOKENS // 10}",
            "--surf-pool", f"{SURF_POOL_LOVELACE}:{usdm}={SURF_POOL_TOKENS}",
            "--block-seconds", str(block_seconds), "--http-port", str(http_port)]
    for unit, price, decimals in tokens.values():
        args += ["--price", f"{unit}={price}:{decimals}"]
    return args


def child_env(base: Mapping[str, str], **chosen: str) -> dict[str, str]:
    """What the demo's processes see: the operator's environment (no test switches), the
    demo's own services and namespace, and the live path's settings."""
    env = {k: v for k, v in base.items() if not k.startswith("TEST_")}
    env.update({"VENUES": "surf", "CARDANO_NETWORK": "mainnet", "FOLLOW_FROM": "origin",
                "LIVE_CONFIRMATIONS": str(CONFIRMATIONS), "PAPER_VOLATILITY": "0",
                "DEXHUNTER_MIN_INTERVAL_MS": "0", "PYTHONUNBUFFERED": "1",
                "PATH": os.pathsep.join([os.path.dirname(sys.executable),
                                         base.get("PATH", "")]),
                **chosen})
    return env


def start_process(name: str, argv: list[str], env: Mapping[str, str], log: Path,
                  ready: Callable[[], bool], timeout_s: float = 60) -> LocalService:
    process, offset = spawn(name, argv, log, env)
    seen: list[bool] = []

    def ready_once() -> bool:  # `started` asks twice; a busy worker may miss a ping
        if not seen and ready():
            seen.append(True)
        return bool(seen)

    return started(LocalService(name, "", process, log), ready_once, timeout_s, offset)


def run_live_demo(settings: Settings, environ: Mapping[str, str], sides: list[str],
                  out: Callable[[str], None] = lambda line: print(line, flush=True),
                  block_seconds: float = BLOCK_SECONDS) -> int:
    from store import accounts
    from store.indexes import ensure_indexes
    from store.mongo import connect
    from execution.custody import Custody

    from tasks.celeryconfig import QUEUES

    if not (settings.fixtures_dir / "dexhunter").is_dir():
        out(f"no recorded DexHunter bodies at {settings.fixtures_dir / 'dexhunter'}: the "
            f"DexHunter stub answers from them (set FIXTURES_DIR)")
        return 2
    home = settings.data_dir / "live-demo"
    namespace = f"dhl-live-demo-{secrets.token_hex(4)}"
    with ExitStack() as cleanup:
        redis_url = resolve_redis(settings, cleanup)
        mongo = start_mongo(home / "mongo", in_memory=True)
        cleanup.callback(mongo.stop)
        key = write_master_key(home / "master.key")
        base = {**environ, "REDIS_URL": redis_url, "MONGO_URL": mongo.url,
                "REDIS_NAMESPACE": namespace, "MONGO_DB": namespace.replace("-", "_"),
                "DATA_DIR": str(home / "data"), "MASTER_KEY_FILE": str(key)}
        demo_settings = settings_from_mapping(child_env(base))
        client = connect(mongo.url)
        cleanup.callback(client.close)
        db = client[demo_settings.mongo_db]
        ensure_indexes(db)
        account = accounts.account_of(db, DEMO_USER)
        address = Custody(key).wallet(account, "mainnet").address
        accounts.set_address(db, DEMO_USER, "mainnet", address)
        out(f"demo user {DEMO_USER!r}: managed account {account} of a fresh test master key "
            f"({key}, never printed), address {address}")

        http_port = free_port()
        sandbox = start_sandbox(home, home / "sandbox.sock", sandbox_args(address, http_port,
                                                                           block_seconds))
        cleanup.callback(sandbox.stop)
        chain_utxos = f"http://127.0.0.1:{http_port}"
        if not wait_until(lambda: port_open(http_port), 30):
            out("the sandbox's HTTP endpoint did not come up: see its log")
            return 1
        out(f"dhl sandbox: node-to-client at {sandbox.url}, a block every {block_seconds:g} s, "
            f"{FUNDING // 1_000_000} ADA to the demo account in its first block")
        stubs = {}
        for name in ("dexhunter", "surf"):
            stub = start_api_stub(name, settings.fixtures_dir, home, chain_utxos=chain_utxos)
            cleanup.callback(stub.stop)
            stubs[name] = stub.url
        env = child_env(base, CARDANO_NODE=sandbox.url,
                        DEXHUNTER_API_URL=stubs["dexhunter"], SURF_API_URL=stubs["surf"] + "/api")
        demo_settings = settings_from_mapping(env)
        cleanup.callback(_forget_namespace, redis_url, namespace)

        from tasks.venues import refresh_all, venue_sources

        refreshed = refresh_all(db, venue_sources(demo_settings), demo_settings)
        if (refreshed.get("surf") or {}).get("error"):
            out(f"Surf's markets could not be read from its stub: {refreshed['surf']['error']}")
            return 1
        follower = start_process("follower", [sys.executable, "-m", "dhl", "follow"], env,
                                 home / "follower.log", lambda: True)
        cleanup.callback(follower.stop)
        hostname = f"live-demo-{secrets.token_hex(3)}@localhost"
        worker = start_process(
            "worker", [sys.executable, "-m", "celery", "-A", "tasks", "worker",
                       "--loglevel=INFO", "--concurrency=2", f"--queues={','.join(QUEUES)}",
                       f"--hostname={hostname}"],
            env, home / "worker.log", lambda: _worker_answers(demo_settings, hostname))
        cleanup.callback(worker.stop)
        out("follower and worker up; logs in " + str(home))
        tokens = demo_tokens()
        ok = True
        for side in sides:
            ok = _one_position(demo_settings, POSITIONS[side], tokens, out) and ok
        stats = _sandbox_stats(chain_utxos)
        out(f"the sandbox accepted {len(stats['accepted'])} transactions of ours and "
            f"refused {len(stats['refused'])}; its batchers filled {len(stats['filled'])} "
            f"orders; tip at height {stats['tip']['height']}")
        for refusal in stats["refused"]:
            out(f"  refused {refusal['tx_id']}: {'; '.join(refusal['reasons'])}")
        return 0 if ok and not stats["refused"] else 1


def _one_position(settings: Settings, demo: DemoPosition,
                  tokens: Mapping[str, tuple[str, Decimal, int]],
                  out: Callable[[str], None]) -> bool:
    from tasks.celery_app import make_celery
    from tasks.positions import ADVANCE_TASK, desk_for

    desk = desk_for(settings)
    app = make_celery(settings)
    try:
        return _open_and_close(desk, demo, tokens, out,
                               lambda pid: app.send_task(ADVANCE_TASK, args=[pid]))
    finally:
        app.close()


def _open_and_close(desk: Any, demo: DemoPosition,
                    tokens: Mapping[str, tuple[str, Decimal, int]],
                    out: Callable[[str], None], enqueue: Callable[[str], Any]) -> bool:
    from core.units import ADA, Asset
    from tasks.position_orders import OpenRequest, close_position, describe, open_position
    from store import positions as store

    request = OpenRequest(demo.side, Asset.from_unit(tokens[demo.ticker][0]), ADA,
                          demo.collateral_ada * 1_000_000, demo.leverage, "surf",
                          live=True, user=DEMO_USER)
    answer = open_position(desk, request, enqueue)
    if not answer.get("ok"):
        out(f"{demo.side} {demo.ticker}: refused: {answer}")
        return False
    pid = str(answer["position"])
    out(f"\n{demo.side} {demo.ticker}, {demo.collateral_ada} ADA at {demo.leverage}x, live: "
        f"position {pid}")
    shown: dict[str, str] = {}

    def watch(state: str) -> bool:
        def there() -> bool:
            doc = store.read(desk.db, pid) or {}
            view = describe(desk, doc, detail=True)
            for leg in view.get("legs", []):
                line = f"{leg['state']}" + (f" {leg['tx_id']}" if leg.get("tx_id") else "")
                if "confirmations" in leg and leg["state"] == "confirmed":
                    line += f" ({leg['confirmations']} deep"
                    line += f", filled by {leg['fill_tx']})" if leg.get("fill_tx") else ")"
                if shown.get(leg["leg"]) != line:
                    shown[leg["leg"]] = line
                    out(f"  {leg['leg']:<18} {line}")
            return bool(doc.get("state") in (state, "failed", "refused"))

        wait_until(there, STAGE_TIMEOUT_S, interval_s=0.5)
        doc = store.read(desk.db, pid) or {}
        if doc.get("state") != state:
            out(f"  not {state} after {STAGE_TIMEOUT_S} s: {doc.get('state')}, "
                f"{doc.get('waiting') or (doc.get('blocked') or {}).get('reason', '')}")
            return False
        out(f"  {state}")
        return True

    if not watch("open"):
        return False
    closed = close_position(desk, pid, Decimal(1), enqueue)
    if not closed.get("ok"):
        out(f"  close refused: {closed}")
        return False
    ok = watch("settled")
    if ok:
        view = describe(desk, store.read(desk.db, pid) or {})
        out(f"  realised PnL {view['realised_pnl']} lovelace, fees {view['fees_paid']}")
    return ok


def _worker_answers(settings: Settings, hostname: str) -> bool:
    from tasks.celery_app import make_celery

    app = make_celery(settings)
    try:
        return bool(app.control.ping(destination=[hostname], timeout=1.0))
    finally:
        app.close()


def _sandbox_stats(base: str) -> dict[str, Any]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/sandbox/stats", timeout=10) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def _forget_namespace(redis_url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"*{namespace}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])
    finally:
        client.close()


def main_args(side: str) -> list[str]:
    return ["long", "short"] if side == "both" else [side]


def cmd_live_demo(settings: Settings, side: str, block_seconds: float = BLOCK_SECONDS) -> int:
    print("dhl live-demo: the live path against a local sandbox chain, offline", flush=True)
    started_at = time.monotonic()
    try:
        code = run_live_demo(settings, os.environ, main_args(side),
                             block_seconds=block_seconds)
    except ServiceError as error:
        print(f"dhl live-demo: {error}", file=sys.stderr, flush=True)
        code = 1
    print(f"dhl live-demo: {'done' if code == 0 else 'FAILED'} in "
          f"{time.monotonic() - started_at:.0f} s", flush=True)
    return code

