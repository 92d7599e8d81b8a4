"""A paper desk for position tests: the Surf and DexHunter API stubs on loopback (real
HTTP), their markets stored in the test's MongoDB, and the desk and flow context that the
CLI and the workers build from the same settings."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from core.settings import Settings, settings_from_mapping
from stubs.dexhunter import make_handler as dexhunter_handler
from stubs.server import StubServer
from stubs.surf import make_handler as surf_handler
from tests.support.fixtures import fixtures_dir, require

#: The Surf demo pools (stubs/data/surf_demo.json, SYNTHETIC): long STRIKE against ADA
#: debt, short USDM against ADA collateral.
STRIKE = "51515151515151515151515151515151515151515151515151515151535452494b45"
USDM = "555555555555555555555555555555555555555555555555555555555553444d"


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
    from store.mongo import database
    from tasks.venues import refresh_all, venue_sources

    results = refresh_all(database(settings), venue_sources(settings), settings)
    assert results["surf"]["error"] is None, results
