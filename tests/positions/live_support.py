"""A live stack for the live path's tests: `dhl sandbox` (a real process, its chain over
a Unix socket, its UTxOs over loopback HTTP), the DexHunter and Surf stubs building from
the sandbox's UTxOs (real HTTP), a `dhl follow` process following the sandbox over
node-to-client, and real Celery workers on the test Redis and MongoDB, all under a
namespace of their own. Managed accounts of a test master key are funded by the
sandbox's first block, so the pipeline indexes them like any wallet."""
from __future__ import annotations

import json
import os
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from execution.custody import Custody
from stack.processes import free_port, wait_until
from store import accounts
from store.mongo import connect
from stubs.dexhunter import make_handler as dexhunter_handler
from stubs.server import StubServer
from stubs.surf import make_handler as surf_handler
from tests.positions.support import NOT_INHERITED, STRIKE, USDM, Paper, paper_desk, \
    store_markets
from tests.support.fixtures import fixtures_dir, require
from tests.support.follower import FollowerProcess
from tests.support.sandbox import dhl_sandbox

#: The hardware wallets' public test mnemonic: a test key, known to everyone.
TEST_MNEMONIC = "all all all all all all all all all all all all"
#: What each user's account holds at the start (lovelace).
FUNDING = 400_000_000
#: The CSWAP pool's reserves and the Surf pool's.
POOL = f"5000000000:{STRIKE}=20000000000000,{USDM}=2000000000000"
SURF_POOL = f"5000000000:{USDM}=1000000000000"
#: The stubs' SYNTHETIC prices (stubs/dexhunter.py), for the stub DEX batcher.
PRICES = (f"{STRIKE}=0.5:6", f"{USDM}=2.2:6")


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


@dataclass
class LiveStack:
    paper: Paper
    sandbox_url: str  # the sandbox's loopback HTTP endpoint
    users: dict[str, str]  # user -> managed address
    lines: list[str]  # what `dhl sandbox` printed
    follower: FollowerProcess
    key_file: Path
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


def key_file(tmp: Path) -> Path:
    path = tmp / "master.key"
    path.write_text(TEST_MNEMONIC)
    os.chmod(path, 0o600)
    return path


@contextmanager
def live_stack(mongo_url: str, redis_url: str, tmp: Path, users: tuple[str, ...],
               wallets: tuple[str, ...] = (), block_seconds: float = 1.0
               ) -> Iterator[LiveStack]:
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
                 "--block-seconds", str(block_seconds), "--http-port", str(port)]
        for price in PRICES:
            args += ["--price", price]
        lines = stack.enter_context(dhl_sandbox(socket, *args, env={"MASTER_KEY_FILE": str(master)}))
        assert wait_until(lambda: any(line.startswith("listening") for line in lines), 30,
                          interval_s=0.1), lines
        store_markets(paper.settings)  # Surf's pools, from the sandbox's chain
        follower_env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        follower = FollowerProcess({**follower_env, **env}, tmp / "follower.log")
        stack.callback(follower.stop)
        yield LiveStack(paper, sandbox_url, addresses, lines, follower, master)
