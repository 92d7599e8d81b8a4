"""`dhl sandbox --paper-prices`: the stub batcher's prices are the paper market's (the
operator-set price in the test's MongoDB) and its decimals DexHunter's token endpoint's
(the stub over HTTP); a token it cannot price gets None, so its orders wait."""
from __future__ import annotations

from decimal import Decimal

import pytest

from core.settings import settings_from_mapping
from dhl.sandbox_commands import PaperFeed
from store import paper_prices
from stubs.dexhunter import make_handler
from stubs.server import StubServer
from tests.support.fixtures import fixtures_dir, require

pytestmark = pytest.mark.integration

DJED = "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344"


def test_the_batcher_prices_at_the_paper_market(test_env, db) -> None:  # type: ignore[no-untyped-def]
    fixtures = require(fixtures_dir() / "dexhunter", "DexHunter recordings").parent
    with StubServer(make_handler(fixtures)) as dexhunter:
        settings = settings_from_mapping({**test_env, "DEXHUNTER_API_URL": dexhunter.url,
                                          "DEXHUNTER_MIN_INTERVAL_MS": "0"})
        paper_prices.set_price(db, DJED, 1_000, Decimal("5.5"))
        feed = PaperFeed(settings, now_ms=lambda: 2_000)
        assert feed.price(DJED) == Decimal("5.5")
        assert feed.decimals(DJED) == 6
        assert feed.price("ab" * 28 + "00") is None  # never priced: its orders wait
        assert feed.decimals("ab" * 28 + "00") is None  # DexHunter does not know it
