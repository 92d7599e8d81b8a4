"""A paper desk for position tests: the Surf and DexHunter API stubs on loopback (real
HTTP), their markets stored in the test's MongoDB, and the desk and flow context that the
CLI and the workers build from the same settings; `paper_desk`, a namespace of its own
with a Celery app and workers, over any set of stubs."""
from __future__ import annotations

import json
import subprocess
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Protocol

import redis as redis_lib
from celery import Celery

from core.settings import Settings, settings_from_mapping
from stack.processes import wait_until
from store import mongo as store_mongo
from store import positions as store
from stubs.dexhunter import make_handler as dexhunter_handler
from stubs.server import StubServer
from stubs.surf import make_handler as surf_handler
from tasks.celery_app import make_celery
from tasks.position_orders import Desk, describe
from tasks.positions import ADVANCE_TASK, desk_for
from tests.conftest import NAMESPACE_PREFIX, _namespaces, delete_keys, keys_of
from tests.support.cli import run_dhl
from tests.support.fixtures import fixtures_dir, require
from tests.support.worker import WorkerProcess

#: The Surf demo pools (stubs/data/surf_demo.json, SYNTHETIC): long STRIKE against ADA
#: debt, short USDM against ADA collateral.
STRIKE = "51515151515151515151515151515151515151515151515151515151535452494b45"
USDM = "555555555555555555555555555555555555555555555555555555555553444d"

#: What a `dhl` run by a test must not take from the environment of the test run.
NOT_INHERITED = ("MONGO_URL", "MONGO_DB", "REDIS_URL", "REDIS_NAMESPACE", "DATA_DIR",
                 "CARDANO_NETWORK", "VENUES", "VENUE_MODULES", "DEXHUNTER_API_URL",
                 "DEXHUNTER_PARTNER_ID", "SURF_API_URL", "LIQWID_API_URL", "PAPER_SEED",
                 "PAPER_VOLATILITY", "PAPER_PRICES_CSV", "POSITION_LOCK_SECONDS",
                 "TEST_EXIT_AFTER_EVENTS", "CARDANO_NODE", "MASTER_KEY_FILE", "FOLLOW_FROM",
                 "LIVE_CONFIRMATIONS", "TEST_EXIT_AFTER_SUBMIT")


@dataclass
class Stubs:
    surf: StubServer
    dexhunter: StubServer

    def env(self) -> dict[str, str]:
        return {"SURF_API_URL": self.surf.url + "/api", "DEXHUNTER_API_URL": self.dexhunter.url,
                "VENUES": "surf", "PAPER_VOLATILITY": "0", "DEXHUNTER_MIN_INTERVAL_MS": "0",
                "POSITION_LOCK_SECONDS": "2"}


def start_stubs(stack: ExitStack) -> Stubs:
    fixtures = require(fixtures_dir() / "dexhunter", "DexHunter recordings").parent
    surf = stack.enter_context(StubServer(surf_handler(fixtures, mainnet=True)))
    dexhunter = stack.enter_context(StubServer(dexhunter_handler(fixtures)))
    return Stubs(surf, dexhunter)


def paper_settings(test_env: dict[str, str], stubs: Stubs, **extra: str) -> Settings:
    return settings_from_mapping({**test_env, **stubs.env(), **extra})


def store_markets(settings: Settings) -> None:
    """Every venue of VENUES refreshed from its stub, without an error."""
    from store.mongo import database
    from tasks.venues import refresh_all, venue_sources

    results = refresh_all(database(settings), venue_sources(settings), settings)
    for venue in settings.venues:
        if venue in results:
            assert results[venue]["error"] is None, results


class StubSet(Protocol):
    """The stubs a desk runs against: their settings (URLs, VENUES)."""

    def env(self) -> dict[str, str]: ...


# --- a paper desk: its own MongoDB database and Redis namespace ---------------------------

@dataclass
class Paper:
    env: dict[str, str]
    settings: Settings
    stubs: Any
    app: Celery
    tmp: Path

    @property
    def desk(self) -> Desk:
        return desk_for(self.settings)

    def doc(self, position_id: str) -> dict[str, Any]:
        found = store.read(self.desk.db, position_id)
        assert found is not None, position_id
        return found

    def view(self, position_id: str) -> dict[str, Any]:
        return describe(self.desk, self.doc(position_id), detail=True)

    def enqueue(self, position_id: str) -> None:
        self.app.send_task(ADVANCE_TASK, args=[position_id])

    def wait_state(self, position_id: str, state: str, timeout_s: float,
                   worker: WorkerProcess | None = None) -> dict[str, Any]:
        def there() -> bool:
            return bool(self.doc(position_id)["state"] == state)

        if not wait_until(there, timeout_s, interval_s=0.2):
            view = self.view(position_id)
            raise AssertionError(f"{position_id} is {view['state']}, not {state}, after "
                                 f"{timeout_s}s: {json.dumps(view, indent=1)[-3000:]}\n"
                                 f"{worker.log() if worker else ''}")
        return self.view(position_id)

    def worker(self, stack: ExitStack, name: str, concurrency: int = 2,
               queues: tuple[str, ...] | None = None, **extra: str) -> WorkerProcess:
        proc = WorkerProcess({**self.env, **extra}, self.tmp / f"{name}.log", concurrency,
                             *((queues,) if queues else ()))
        stack.callback(proc.stop)
        proc.wait_ready(self.app)
        return proc


@contextmanager
def paper_desk(mongo_url: str, redis_url: str, tmp: Path, stubs: Any, *,
               markets: bool = True) -> Iterator[Paper]:
    """A namespace of its own (registered with tests/conftest.py, so leftovers are found
    and deleted), the Surf markets stored, and a Celery app to send tasks with."""
    namespace = f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:12]}"
    _namespaces.add(namespace)
    env = {"MONGO_URL": mongo_url, "MONGO_DB": namespace, "REDIS_URL": redis_url,
           "REDIS_NAMESPACE": namespace, "DATA_DIR": str(tmp / "data"), "LOG_LEVEL": "INFO",
           "LIQWID_API_URL": "http://127.0.0.1:9/graphql", **stubs.env()}
    settings = paper_settings(env, stubs)
    if markets:  # else the caller stores them once the venues' stubs can answer
        store_markets(settings)
    app = make_celery(settings)
    try:
        yield Paper(env, settings, stubs, app, tmp)
    finally:
        app.close()
        client = store_mongo.connect(mongo_url)
        client.drop_database(namespace)
        client.close()
        keys = redis_lib.Redis.from_url(redis_url)
        delete_keys(keys, keys_of(keys, {namespace}))
        keys.close()





def dhl(paper: Paper, *args: str) -> subprocess.CompletedProcess[str]:
    """`dhl positions ARGS` for the desk's settings, nothing else from the environment."""
    return run_dhl(["positions", *args], paper.env, NOT_INHERITED)


def one_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, (result.stdout, result.stderr)
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer
