"""A live stack for the live path's tests: `dhl sandbox` (a real process, its chain over
a Unix socket, its UTxOs over loopback HTTP), the DexHunter and Surf stubs building from
the sandbox's UTxOs (real HTTP, served from threads of the test so a test can tamper
with a build), a `dhl follow` process following the sandbox over node-to-client, and
real Celery workers on the test Redis and MongoDB, all under a namespace of their own.
Managed accounts of a test master key are funded by the sandbox's first block, so the
pipeline indexes them like any wallet.

The sandbox forges a block only when asked (`--block-seconds 0`): the test's `Forger`
asks every BLOCK_SECONDS, and a test that needs the chain still (a transaction left to
expire in the mempool, a block to roll back) holds it."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from execution.custody import Custody
from stack.processes import free_port, wait_until
from store import accounts, own_txs
from store.mongo import connect
from stubs.dexhunter import make_handler as dexhunter_handler
from stubs.server import StubServer
from stubs.surf import make_handler as surf_handler
from tests.positions.support import NOT_INHERITED, STRIKE, USDM, Paper, paper_desk, \
    store_markets
from tests.support.fixtures import fixtures_dir, require
from tests.support.follower import FollowerProcess
from tests.support.sandbox import dhl_sandbox

#: Where the tests' master key comes from: a fixed seed, so every run derives the same
#: test key (24 words, all different, so a log line holding a few of them is found).
MNEMONIC_SEED = b"dh-leverage live tests: a test key, never funded for real"


def master_mnemonic() -> str:
    from mnemonic import Mnemonic

    return str(Mnemonic("english").to_mnemonic(hashlib.sha256(MNEMONIC_SEED).digest()))

#: What each user's account holds at the start (lovelace).
FUNDING = 400_000_000
#: The CSWAP pool's reserves and the Surf pool's.
POOL = f"5000000000:{STRIKE}=20000000000000,{USDM}=2000000000000"
SURF_POOL = f"5000000000:{USDM}=1000000000000"
#: The stubs' SYNTHETIC prices (stubs/dexhunter.py), for the stub DEX batcher.
PRICES = (f"{STRIKE}=0.5:6", f"{USDM}=2.2:6")
#: How often the test's forger asks the sandbox for a block (s).
BLOCK_SECONDS = 0.5


@dataclass
class LiveStubs:
    dexhunter: StubServer
    surf: StubServer
    node: str

    def env(self) -> dict[str, str]:
        return {"SURF_API_URL": self.surf.url + "/api", "DEXHUNTER_API_URL": self.dexhunter.url,
                "VENUES": "surf", "PAPER_VOLATILITY": "0", "DEXHUNTER_MIN_INTERVAL_MS": "0",
                "POSITION_LOCK_SECONDS": "3", "CARDANO_NETWORK": "mainnet",
                "CARDANO_NODE": self.node, "FOLLOW_FROM": "origin",
                "LIVE_CONFIRMATIONS": "2"}


class Forger:
    """Asks the sandbox for a block every `interval_s`, from a thread of the test, unless
    held: once `held()` is entered no forge is under way or will start until it exits."""

    def __init__(self, forge: Callable[[], object], interval_s: float) -> None:
        self.forge, self.interval_s = forge, interval_s
        self._turn = threading.Lock()  # held while forging, and while held by a test
        self._stop = threading.Event()
        self.errors: list[str] = []
        self._thread = threading.Thread(target=self._run, name="forger", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with self._turn:
                try:
                    self.forge()
                except Exception as error:  # shown by the tests that wait on blocks
                    self.errors.append(repr(error))

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._turn:
            yield

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@dataclass
class LiveStack:
    paper: Paper
    sandbox_url: str  # the sandbox's loopback HTTP endpoint
    users: dict[str, str]  # user -> managed address
    lines: list[str]  # what `dhl sandbox` printed
    follower: FollowerProcess
    key_file: Path
    forger: Forger
    tmp: Path  # every process's log is here
    extra: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.sandbox_url}/sandbox/stats", timeout=10) as answer:
            found: dict[str, Any] = json.loads(answer.read())
        return found

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.sandbox_url}{path}", method="POST",
                                         data=json.dumps(body or {}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            found: dict[str, Any] = json.loads(answer.read())
        return found


    def forge(self) -> dict[str, Any]:
        """One block now (hold the forger first to be sure it is the only one)."""
        return self.post("/sandbox/forge")

    def rollback(self, depth: int, *, requeue: bool) -> dict[str, Any]:
        return self.post("/sandbox/rollback", {"depth": depth, "requeue": requeue})


def key_file(tmp: Path) -> Path:
    path = tmp / "master.key"
    path.write_text(master_mnemonic())
    os.chmod(path, 0o600)
    return path


@contextmanager
def live_stack(mongo_url: str, redis_url: str, tmp: Path, users: tuple[str, ...],
               wallets: tuple[str, ...] = ()) -> Iterator[LiveStack]:
    """Everything of the live path, started in order: the users' accounts (so the
    sandbox can fund them and the pipeline watch them), the sandbox, the stubs on its
    UTxOs, the desk's namespace and markets, the follower. Workers are the test's."""
    fixtures = require(fixtures_dir() / "dexhunter", "DexHunter recordings").parent
    master = key_file(tmp)
    socket = tmp / "sandbox.sock"
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        dexhunter = stack.enter_context(StubServer(dexhunter_handler(fixtures, sandbox_url)))
        surf = stack.enter_context(StubServer(surf_handler(fixtures, mainnet=True,
                                                           chain_utxos=sandbox_url)))
        stubs = LiveStubs(dexhunter, surf, f"unix://{socket}")
        paper = stack.enter_context(paper_desk(mongo_url, redis_url, tmp, stubs, markets=False))
        env = {**paper.env, "MASTER_KEY_FILE": str(master)}
        paper.env.update(env)
        custody = Custody(master)
        addresses: dict[str, str] = {}
        db = connect(mongo_url)[paper.settings.mongo_db]
        for user in users:
            account = accounts.account_of(db, user)
            addresses[user] = custody.wallet(account, "mainnet").address
            accounts.set_address(db, user, "mainnet", addresses[user])
        for wallet in wallets:  # traders' own wallets (wallet signing), watched the same way
            accounts.watch_wallet(db, wallet)
        funded = [*addresses.values(), *wallets]
        args = [arg for address in funded for arg in ("--fund", f"{address}:{FUNDING}")]
        args += ["--pool", POOL, "--surf-pool", SURF_POOL, "--network", "mainnet",
                 "--block-seconds", "0", "--http-port", str(port)]
        for price in PRICES:
            args += ["--price", price]
        lines = stack.enter_context(dhl_sandbox(socket, *args, log=tmp / "sandbox.log"))
        assert wait_until(lambda: any(line.startswith("listening") for line in lines), 30,
                          interval_s=0.1), lines
        store_markets(paper.settings)  # Surf's pools, from the sandbox's chain
        follower_env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        follower = FollowerProcess({**follower_env, **env}, tmp / "follower.log")
        stack.callback(follower.stop)
        live = LiveStack(paper, sandbox_url, addresses, lines, follower, master,
                         Forger(lambda: live.post("/sandbox/forge"), BLOCK_SECONDS), tmp)
        stack.callback(live.forger.stop)
        yield live


# --- what every live run must show -----------------------------------------------------

def leg_txs(view: dict[str, Any]) -> list[str]:
    return [leg["tx_id"] for leg in view["legs"] if leg["state"] == "confirmed"]


def assert_confirmed_from_chain(stack: LiveStack, view: dict[str, Any]) -> None:
    """Every leg confirmed, each by its own transaction, at least LIVE_CONFIRMATIONS
    deep; each swap and Surf order booked with what its fill paid on chain."""
    doc = stack.paper.doc(view["position"])
    legs = [leg for leg in view["legs"] if leg["state"] != "failed"]
    assert legs and all(leg["state"] == "confirmed" for leg in legs), view["legs"]
    for leg in legs:
        work = doc["work"][leg["leg"]]
        assert work["confirmations"] >= 2, (leg, work)
        if "order_ref" in work:  # filled by a batcher: booked from the fill
            settled = own_txs.settlement(stack.paper.desk.db, leg["tx_id"])
            assert settled is not None and settled["tx_id"] == work["fill_tx"], leg
            unit = leg["asset_out"]
            paid = settled["paid"].get(unit, 0)
            if unit == "lovelace":
                paid -= int(work["deposit"])
            if leg["kind"] == "repay":  # the release: the loan's collateral, no more
                assert leg["actual"]["amount_out"] == min(paid, leg["amount_out"]), leg
            else:
                assert leg["actual"]["amount_out"] == paid, (leg, settled)
