"""Benchmark: paper positions, open -> close, on Celery workers; and the pre-signing check.

Run: .venv/bin/python bench/positions.py [--positions K] [--unpaced-positions K]
                                         [--check-runs N] [--rounds R]

Measured in the same run:
1. Paper open -> close cycles per second on the Surf demo market, through the DexHunter
   and Surf API stubs (each in its own process, real HTTP on loopback): K positions,
   long STRIKE at 1.8x and short USDM at 2x alternating, 100 ADA each. Each is opened
   with tasks.position_orders.open_position, waited to `open`, closed with
   close_position, waited to `settled`:
   - in-process (the baseline): tasks.position_flow.advance called directly after each
     request, one position after the other, no Celery;
   - 1 and 2 Celery worker processes (`celery -A tasks worker --concurrency=1` each, on
     the `execution` queue): the requests' enqueue sends `execution.advance_position`;
     this process only makes the requests (a position is closed as soon as it is open
     and its worker has let go of it) and polls MongoDB.
   Each figure is K over the wall time from the first request to the last `settled`
   (the requests' own quoting included); worker start-up is not timed.
   Twice: with the DexHunter client as configured, which waits min_interval_s (0.25 s)
   between two requests of one client (each process has its own), so about eleven
   DexHunter calls a cycle set the pace; and with that wait taken off in this process
   and the workers (this bench only), which shows what the flow itself costs (an event
   is a read and a compare-and-set in MongoDB; about 56 events a cycle).
2. The pre-signing check (execution/check.py `check_cost`) per transaction, against
   `cbor2.loads` of the same bytes: on DexHunter's recorded build (fixtures
   dexhunter/swap-build.response.json, 20 ADA -> USDCx) and on a build the stub
   synthesises (100 ADA -> STRIKE for the paper wallet), each fetched through the
   DexHunter client and checked with the expectation the position flow gives it and
   the real DEX readers. Best of R rounds of N runs each.

It needs Redis on 127.0.0.1:6379 (or REDIS_URL) and FIXTURES_DIR (default
../shared/fixtures); it starts nx-27017 itself. Every run has its own MongoDB database
and Redis key namespace, dropped and deleted at the end, as are the processes it starts.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.settings import Settings, load_settings, settings_from_mapping  # noqa: E402
from core.units import ADA, Asset  # noqa: E402
from stack.processes import die_with_parent, free_port, port_open, wait_until  # noqa: E402
from stack.services import redis_answers, start_mongo  # noqa: E402

#: The SYNTHETIC Surf demo tokens (stubs/data/surf_demo.json): long STRIKE against ADA
#: debt, short USDM against ADA collateral.
STRIKE = "51515151515151515151515151515151515151515151515151515151535452494b45"
USDM = "555555555555555555555555555555555555555555555555555555555553444d"
POSTED = 100_000_000  # lovelace per position
#: What a position may end in besides the state waited for: the run is then wrong.
STUCK = ("failed", "refused", "cancelled", "liquidated")
WAIT_S = 600
NOW_AFTER_START = 45  # slots after a build's validity start: inside its window


@dataclass(frozen=True)
class Order:
    side: str
    token: str
    leverage: Decimal


ORDERS = (Order("long", STRIKE, Decimal("1.8")), Order("short", USDM, Decimal("2")))


def fixtures() -> Path:
    folder = load_settings().fixtures_dir
    needed = [folder / "dexhunter" / f"swap-build.{part}.json" for part in ("request", "response")]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise SystemExit(f"recorded fixtures not found: {', '.join(missing)} (set FIXTURES_DIR)")
    return folder


# --- the API stubs, each in its own process ---------------------------------------------------

def serve_stub(name: str, folder: Path, port: int,
               ready: "multiprocessing.synchronize.Event") -> None:
    die_with_parent()
    from stubs.dexhunter import make_handler as dexhunter_handler
    from stubs.server import StubServer
    from stubs.surf import make_handler as surf_handler

    handler = dexhunter_handler(folder) if name == "dexhunter" else \
        surf_handler(folder, mainnet=True)
    server = StubServer(handler, port=port)
    ready.set()
    server.serve_forever()


class Stubs:
    def __init__(self, folder: Path) -> None:
        self.ports: dict[str, int] = {}
        self.procs: list[multiprocessing.Process] = []
        for name in ("surf", "dexhunter"):
            port, ready = free_port(), multiprocessing.Event()
            proc = multiprocessing.Process(target=serve_stub, args=(name, folder, port, ready),
                                           daemon=True)
            proc.start()
            self.procs.append(proc)
            if not (ready.wait(30) and wait_until(lambda: port_open(port), 10)):
                self.stop()
                raise SystemExit(f"the {name} stub did not start")
            self.ports[name] = port

    def env(self) -> dict[str, str]:
        return {"SURF_API_URL": f"http://127.0.0.1:{self.ports['surf']}/api",
                "DEXHUNTER_API_URL": f"http://127.0.0.1:{self.ports['dexhunter']}"}

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.join(10)


# --- one run's database and key namespace ------------------------------------------------------

class Run:
    """A fresh MongoDB database and Redis key namespace with the Surf markets stored;
    `close()` drops the one and deletes every key of the other."""

    def __init__(self, base: dict[str, str], tmp: Path) -> None:
        self.namespace = f"bench_positions_{uuid.uuid4().hex[:8]}"
        self.env = {**base, "MONGO_DB": self.namespace, "REDIS_NAMESPACE": self.namespace,
                    "DATA_DIR": str(tmp / self.namespace)}
        self.settings = settings_from_mapping(self.env)
        from store.mongo import database
        from tasks.venues import refresh_all, venue_sources

        results = refresh_all(database(self.settings), venue_sources(self.settings),
                              self.settings)
        if results["surf"]["error"] is not None:
            self.close()
            raise SystemExit(f"the Surf stub's markets were not stored: {results['surf']}")

    def close(self) -> int:
        """Drop the database, delete the namespace's keys; how many keys are left."""
        from store.mongo import connect as mongo_connect
        from store.redis import connect as redis_connect

        client = mongo_connect(self.settings.mongo_url)
        client.drop_database(self.namespace)
        client.close()
        redis = redis_connect(self.settings.redis_url)
        try:
            keys = list(redis.scan_iter(match=f"*{self.namespace}*", count=1000))
            for start in range(0, len(keys), 500):
                redis.delete(*keys[start:start + 500])
            return len(list(redis.scan_iter(match=f"*{self.namespace}*", count=1000)))
        finally:
            redis.close()


def request(i: int) -> Any:
    from tasks.position_orders import OpenRequest

    order = ORDERS[i % len(ORDERS)]
    return OpenRequest(order.side, Asset.from_unit(order.token), ADA, POSTED, order.leverage)


def opened(answer: dict[str, Any]) -> str:
    if not answer.get("ok") or "position" not in answer:
        raise SystemExit(f"a request was refused: {str(answer)[:2000]}")
    return str(answer["position"])


# --- in-process: the baseline ------------------------------------------------------------------

def in_process_rate(run: Run, k: int) -> float:
    from tasks.position_flow import advance
    from tasks.position_orders import close_position, open_position
    from tasks.positions import desk_for, flow_context

    desk, ctx = desk_for(run.settings), flow_context(run.settings)
    started = time.perf_counter()
    for i in range(k):
        pid = opened(open_position(desk, request(i), lambda _: None))
        expect(advance(ctx, pid).state, "open", desk, pid)
        close_position(desk, pid, Decimal(1), lambda _: None)
        expect(advance(ctx, pid).state, "settled", desk, pid)
    return k / (time.perf_counter() - started)


def expect(state: str, wanted: str, desk: Any, pid: str) -> None:
    if state != wanted:
        from store import positions as store
        from tasks.position_orders import describe

        view = describe(desk, store.read(desk.db, pid) or {}, detail=True)
        raise SystemExit(f"position {pid} is {state}, expected {wanted}: {str(view)[:3000]}")


# --- Celery workers ----------------------------------------------------------------------------

#: `celery` in a worker process, the DexHunter client's pacing first taken off when the
#: first argument says "unpaced" (the pool child inherits it through the fork).
CELERY = """import sys, dataclasses
if sys.argv[1] == "unpaced":
    import execution.dexhunter.api as api
    api.DEFAULT_POLICY = dataclasses.replace(api.DEFAULT_POLICY, min_interval_s=0)
from celery.__main__ import main
sys.argv = ["celery", *sys.argv[2:]]
main()
"""


@contextmanager
def pacing(paced: bool) -> Iterator[None]:
    """This process's DexHunter clients made while it lasts: as configured, or without
    the pause between two requests (`min_interval_s` 0)."""
    import execution.dexhunter.api as api

    default = api.DEFAULT_POLICY
    if not paced:
        api.DEFAULT_POLICY = replace(default, min_interval_s=0)
    try:
        yield
    finally:
        api.DEFAULT_POLICY = default


class Worker:
    """`celery -A tasks worker` on the execution queue in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path, paced: bool) -> None:
        self.hostname = f"bench-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-c", CELERY, "paced" if paced else "unpaced", "-A", "tasks",
             "worker", "--loglevel=INFO", "--concurrency=1", "--queues=execution",
             f"--hostname={self.hostname}", "--without-mingle", "--without-gossip"],
            env={**os.environ, **env}, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)

    def answers(self, app: Any) -> bool:
        if self.process.poll() is not None:
            raise SystemExit(f"a worker exited early; see {self.log_path}")
        return bool(app.control.ping(destination=[self.hostname], timeout=0.5))

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the pool child too
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        self.process.wait(timeout=20)
        self._log.close()

    def retries(self) -> int:
        return self.log_path.read_text(errors="replace").count(" retry: Retry in ")


def worker_rate(run: Run, k: int, workers: int, logs: Path,
                paced: bool) -> tuple[float, int]:
    """Cycles per second with `workers` worker processes, and how many task retries
    (a busy lock, a blocked step) their logs show."""
    from store.redis import connect as redis_connect, key
    from tasks.celery_app import make_celery
    from tasks.position_orders import close_position, open_position
    from tasks.positions import ADVANCE_TASK, desk_for

    app = make_celery(run.settings)
    procs = [Worker(run.env, logs / f"worker-{workers}-{n}.log", paced)
             for n in range(workers)]
    redis = redis_connect(run.settings.redis_url)
    try:
        for proc in procs:
            if not wait_until(lambda: proc.answers(app), 60, interval_s=0.2):
                raise SystemExit(f"a worker did not answer within 60s; see {proc.log_path}")
        desk = desk_for(run.settings)

        def enqueue(pid: str) -> None:
            app.send_task(ADVANCE_TASK, args=[pid])

        def free(pid: str) -> bool:  # its worker is done with it: closing now asks no retry
            return not redis.exists(key(run.settings, "position-lock", pid))

        started = time.perf_counter()
        ids = [opened(open_position(desk, request(i), enqueue)) for i in range(k)]
        to_close = list(ids)

        def close_the_open() -> bool:
            states = states_of(desk, ids, "open")
            for pid in [p for p in to_close if states.get(p) == "open" and free(p)]:
                close_position(desk, pid, Decimal(1), enqueue)
                to_close.remove(pid)
            return not to_close

        waited(close_the_open, "open", desk, ids)
        waited(lambda: set(states_of(desk, ids, "settled").values()) == {"settled"},
               "settled", desk, ids)
        rate = k / (time.perf_counter() - started)
    finally:
        for proc in procs:
            proc.stop()
        redis.close()
        app.close()
    return rate, sum(proc.retries() for proc in procs)


def states_of(desk: Any, ids: list[str], wanted: str) -> dict[str, str]:
    from store import positions as store

    rows = desk.db[store.COLLECTION].find({"_id": {"$in": ids}}, {"state": 1})
    states = {str(r["_id"]): str(r["state"]) for r in rows}
    stuck = {p: s for p, s in states.items() if s in STUCK and s != wanted}
    if stuck:
        pid, state = next(iter(stuck.items()))
        expect(state, wanted, desk, pid)
    return states


def waited(done: Callable[[], bool], what: str, desk: Any, ids: list[str]) -> None:
    failures: list[BaseException] = []

    def check() -> bool:
        try:
            return done()
        except SystemExit as error:  # wait_until swallows exceptions: keep this one
            failures.append(error)
            return True

    if not wait_until(check, WAIT_S, interval_s=0.02) or failures:
        if failures:
            raise failures[0]
        raise SystemExit(f"not every position was {what} within {WAIT_S}s")


# --- the pre-signing check ---------------------------------------------------------------------

def check_figures(settings: Settings, folder: Path, n: int,
                  rounds: int) -> list[tuple[str, int, float, float, bool]]:
    """(build, bytes, s per check, s per cbor2.loads, the check passed) per build."""
    import json

    from execution.check import check_cost, check_transaction
    from execution.dex.reader import DEXHUNTER_DEXES, dex_readers
    from execution.order_reader import blacklisted_dexes
    from tasks.positions import dexhunter_for

    api, readers = dexhunter_for(settings), dex_readers()
    blacklist = blacklisted_dexes(DEXHUNTER_DEXES, readers)
    recorded = json.loads((folder / "dexhunter" / "swap-build.request.json").read_text())
    recorded_cbor = bytes.fromhex(json.loads(
        (folder / "dexhunter" / "swap-build.response.json").read_text())["cbor"])
    builds = (("recorded (LIVE, 20 ADA -> USDCx)", recorded["buyer_address"], ADA,
               Asset.from_unit(recorded["token_out"]), int(recorded["amount_in"]) * 1_000_000,
               Decimal(repr(recorded["slippage"]))),
              ("synthesised by the stub (100 ADA -> STRIKE)", settings.paper_wallet_address,
               ADA, Asset.from_unit(STRIKE), POSTED, settings.swap_slippage_percent))
    figures = []
    for label, owner, sell, buy, amount, slippage in builds:
        built = api.build(owner, sell, buy, amount, slippage, blacklisted_dexes=blacklist)
        if label.startswith("recorded") and built.tx_cbor != recorded_cbor:
            raise SystemExit("the DexHunter stub did not answer the recorded build byte for byte")
        expected = flow_expectation(built, owner, sell, buy, amount, settings)
        now = validity_start(built.tx_cbor) + NOW_AFTER_START
        result = check_transaction(built.tx_cbor, expected, readers=readers, now_slot=now,
                                   network="mainnet")
        costs = [check_cost(built.tx_cbor, n, expected, readers=readers, now_slot=now)
                 for _ in range(rounds)]
        figures.append((label, len(built.tx_cbor), min(c[0] for c in costs),
                        min(c[1] for c in costs), result.ok))
    return figures


def flow_expectation(built: Any, owner: str, sell: Asset, buy: Asset, amount: int,
                     settings: Settings) -> Any:
    """What tasks/position_flow.py expects of a swap build (its `_build_swap`)."""
    from execution.addresses import key_hashes
    from execution.expectation import Expectation, ExpectedOrder
    from protocols.model import Intent, Transfer
    from tasks.position_flow import FEE_CAP

    fees, floor = built.quote.fees, built.quote.total_output
    intent = Intent(action="swap", venue="dexhunter", market=f"{sell.unit}/{buy.unit}",
                    wallet=owner, leaves=(Transfer("order", sell, amount),),
                    comes_back=(Transfer(owner, buy, floor),),
                    fees=tuple(Transfer(party, ADA, fees.partner + fees.dexhunter)
                               for party in settings.dexhunter_fee_addresses),
                    settles="batched")
    return Expectation(intent=intent, ours=frozenset({owner}), fee_cap=FEE_CAP,
                       signers=key_hashes({owner}),
                       order=ExpectedOrder(want=buy, min_receive=floor,
                                           dexes=frozenset(built.quote.dexes) or None,
                                           max_batcher_fee=fees.batcher))


def validity_start(tx_cbor: bytes) -> int:
    from chain.ledger import decode_transaction

    return decode_transaction(tx_cbor).validity_start or 0


# --- main --------------------------------------------------------------------------------------

Rates = dict[str, float]


def cycle_rates(base: dict[str, str], logs: Path, k: int, paced: bool,
                leftover: list[int]) -> tuple[Rates, dict[str, int]]:
    """Cycles/s in-process and with 1 and 2 workers, and the workers' task retries."""
    rates: Rates = {}
    retries: dict[str, int] = {}
    for label in ("in-process", "1", "2"):
        with pacing(paced):
            run = Run(base, logs)
            try:
                if label == "in-process":
                    rates[label] = in_process_rate(run, k)
                else:
                    rates[label], retries[label] = worker_rate(run, k, int(label), logs, paced)
            finally:
                leftover.append(run.close())
    return rates, retries


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--positions", type=int, default=4,
                        help="K positions per run, DexHunter client paced as configured")
    parser.add_argument("--unpaced-positions", type=int, default=10,
                        help="K positions per run, DexHunter client unpaced")
    parser.add_argument("--check-runs", type=int, default=1000, help="N checks per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the check's cost")
    args = parser.parse_args()
    folder = fixtures()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if not redis_answers(redis_url):
        raise SystemExit(f"no Redis at {redis_url}")
    leftover: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-positions-") as tmp:
        logs = Path(tmp)
        mongo = start_mongo(logs / "mongo", in_memory=True)
        stubs: Stubs | None = None
        try:
            stubs = Stubs(folder)
            base = {"MONGO_URL": mongo.url, "REDIS_URL": redis_url, "FIXTURES_DIR": str(folder),
                    **stubs.env(), "VENUES": "surf", "CARDANO_NETWORK": "mainnet",
                    "PAPER_VOLATILITY": "0", "POSITION_LOCK_SECONDS": "2",
                    "LIQWID_API_URL": "http://127.0.0.1:9/graphql"}
            cycles = [(paced, k, *cycle_rates(base, logs, k, paced, leftover))
                      for paced, k in ((True, args.positions), (False, args.unpaced_positions))]
            checks = check_figures(settings_from_mapping(base), folder, args.check_runs,
                                   args.rounds)
        finally:
            if stubs is not None:
                stubs.stop()
            mongo.stop()
    print(f"paper open -> close cycles (long STRIKE 1.8x / short USDM 2x alternating, "
          f"{POSTED // 1_000_000} ADA each), Surf demo market, DexHunter and Surf stubs in "
          f"their own processes, nx-27017, Redis; {os.cpu_count()} CPUs")
    for paced, k, rates, retries in cycles:
        report_cycles(paced, k, rates, retries)
    print(f"Redis keys left after cleanup: {sum(leftover)}; databases dropped: {len(leftover)}")
    report_checks(checks, args)
    return 0


def report_cycles(paced: bool, k: int, rates: Rates, retries: dict[str, int]) -> None:
    from execution.dexhunter.api import DEFAULT_POLICY

    how = (f"paced as configured ({DEFAULT_POLICY.min_interval_s:g} s between two requests "
           f"of one client)") if paced else "unpaced (min_interval_s 0, this bench only)"
    print(f"{k} positions per run, DexHunter client {how}")
    print(f"  {'path':44} {'cycles/s':>9} {'ms/cycle':>9} {'vs in-process':>14}")
    base = rates["in-process"]
    for label, name in (("in-process", "in-process (position_flow.advance, no Celery)"),
                        ("1", "Celery, 1 worker process"), ("2", "Celery, 2 worker processes")):
        rate = rates[label]
        print(f"  {name:44} {rate:9.2f} {1000 / rate:9.1f} {rate / base:14.3f}")
    print(f"  ratio 2 workers / 1 worker: {rates['2'] / rates['1']:.3f}; task retries in the "
          f"workers' logs: {retries['1']} (1 worker), {retries['2']} (2 workers)")


def report_checks(checks: list[tuple[str, int, float, float, bool]],
                  args: argparse.Namespace) -> None:
    print(f"pre-signing check (execution/check.py check_cost: the flow's expectation, the real "
          f"DEX readers) per transaction, best of {args.rounds} x {args.check_runs}")
    print(f"  {'build':44} {'bytes':>6} {'check µs':>9} {'loads µs':>9} {'ratio':>7} "
          f"{'passes':>6}")
    for label, size, check, loads, ok in checks:
        print(f"  {label:44} {size:6d} {check * 1e6:9.1f} {loads * 1e6:9.1f} "
              f"{check / loads:7.1f} {'yes' if ok else 'NO':>6}")


if __name__ == "__main__":
    raise SystemExit(main())
