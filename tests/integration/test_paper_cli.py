"""`dhl paper set-price|price` through the CLI's entry (`dhl.cli.main`) in this process, with
the environment it would get, against the real MongoDB server of the tests; tickers resolve
through the fake venue's stored markets (tests/support/fake_venue.py)."""
from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import pytest

from core.settings import settings_from_mapping
from core.units import ADA_TOKEN
from indexer.venue_state import refresh_markets
from stack.processes import free_port
from store import paper_prices
from store.codec import now_ms
from store.mongo import close_all, connect
from tests.support.cli import run_dhl
from tests.support.fake_venue import FakeLend, FakeLendApi, client_for, register_fakes, \
    unregister_fakes
from tests.support.markets import SNEK, market, option
from trading.paper_market import ORIGIN_MS, STEP_MS

pytestmark = pytest.mark.integration

NOT_INHERITED = ("MONGO_URL", "CARDANO_NETWORK", "VENUES", "VENUE_MODULES", "PAPER_SEED",
                 "PAPER_VOLATILITY", "PAPER_PRICES_CSV")
UNKNOWN_UNIT = "ab" * 28 + "4142"


@pytest.fixture(autouse=True)
def fakes_registered():
    register_fakes()
    yield
    unregister_fakes()


@pytest.fixture
def api():
    fake = FakeLendApi([market("fakelend", "FAKE-ADA", ADA_TOKEN, (option(SNEK, "0.6"),),
                               as_of_ms=now_ms())], [])
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def env(test_env, api):
    return {**test_env, "CARDANO_NETWORK": "preprod",
            "VENUE_MODULES": "tests.support.fake_venue_plugin", "VENUES": "fakelend",
            "FAKE_LEND_URL": api.server.url, "PAPER_SEED": "7", "PAPER_VOLATILITY": "0.01"}


@pytest.fixture
def db(env, namespace, api):
    """The test's database, with the fake venue's markets stored (SNEK is a ticker)."""
    settings = settings_from_mapping(env)
    client = connect(settings.mongo_url)
    database = client[namespace]
    source = FakeLend(settings)
    source.client = client_for(api.server.url)
    assert refresh_markets(database, source).stored == 1
    yield database
    client.drop_database(namespace)
    client.close()
    close_all()


def dhl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`dhl paper ARGS` through the CLI's entry, in this process (tests/support/cli.py)."""
    return run_dhl(["paper", *args], env, NOT_INHERITED)


def one(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    return json.loads(line)


def refused(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    return line


def test_price_follows_the_seeded_walk_and_is_the_same_each_time(env, db):
    at = str(ORIGIN_MS + 1234 * STEP_MS)
    first = one(dhl(env, "price", "SNEK", "--at", at))
    assert first["token"] == SNEK.asset.unit and first["ticker"] == "SNEK"
    assert first["source"] == "walk" and first["at_ms"] == int(at)
    assert Decimal(first["price"]) > 0
    assert one(dhl(env, "price", SNEK.asset.unit.upper(), "--at", at)) == first
    other = one(dhl({**env, "PAPER_SEED": "8"}, "price", "snek", "--at", at))
    assert other["price"] != first["price"]


def test_set_price_moves_the_market_from_its_time_on(env, db):
    at = ORIGIN_MS + 5000 * STEP_MS
    before = one(dhl(env, "price", "SNEK", "--at", str(at - 1)))
    done = one(dhl(env, "set-price", "SNEK", "0.0042", "--at", "2026-01-02T03:46:40Z"))
    assert done == {"token": SNEK.asset.unit, "ticker": "SNEK", "from_ms": at,
                    "price": "0.0042"}
    assert paper_prices.prices(db, SNEK.asset.unit) == [(at, Decimal("0.0042"))]
    assert db["paper_prices"].find_one({})["price"] == "0.0042"  # stored as a string
    assert one(dhl(env, "price", "SNEK", "--at", str(at))) == {
        "token": SNEK.asset.unit, "ticker": "SNEK", "at_ms": at, "price": "0.0042",
        "source": "set"}
    assert one(dhl(env, "price", "SNEK", "--at", str(at - 1))) == before
    # the walk goes on from it; with no volatility it holds
    walked = one(dhl(env, "price", "SNEK", "--at", str(at + 10 * STEP_MS)))
    assert walked["source"] == "set" and walked["price"] != "0.0042"
    held = one(dhl({**env, "PAPER_VOLATILITY": "0"}, "price", "SNEK", "--at",
                   str(at + 10 * STEP_MS)))
    assert held["price"] == "0.0042"
    # set again at the same time: replaced, not added
    one(dhl(env, "set-price", "SNEK", "0.005", "--at", str(at)))
    assert paper_prices.prices(db, SNEK.asset.unit) == [(at, Decimal("0.005"))]


def test_set_price_without_a_time_holds_from_now(env, db):
    start = now_ms()
    done = one(dhl(env, "set-price", UNKNOWN_UNIT, "12.5"))
    assert done["ticker"] is None and start <= done["from_ms"] <= now_ms()
    now = one(dhl({**env, "PAPER_VOLATILITY": "0"}, "price", UNKNOWN_UNIT))
    assert now["price"] == "12.5" and now["source"] == "set"


def test_a_csv_path_is_read_and_a_bad_one_refused_with_its_line(env, db, tmp_path):
    good = tmp_path / "prices.csv"
    good.write_text(f"token,time,price\n{SNEK.asset.unit},2026-01-01T00:00:00Z,0.003\n")
    csv_env = {**env, "PAPER_PRICES_CSV": str(good)}
    priced = one(dhl(csv_env, "price", "SNEK", "--at", str(ORIGIN_MS + 10**9)))
    assert priced["price"] == "0.003" and priced["source"] == "csv"
    assert "CSV starts" in refused(dhl(csv_env, "price", "SNEK", "--at", str(ORIGIN_MS - 1)))
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{SNEK.asset.unit},2026-01-01T00:00:00Z,0.003\n\n"
                   f"{SNEK.asset.unit},2026-01-01T00:01:00Z,-3\n")
    line = refused(dhl({**env, "PAPER_PRICES_CSV": str(bad)}, "price", "SNEK"))
    assert line.startswith("dhl paper price: PAPER_PRICES_CSV") and "line 3: " in line


@pytest.mark.parametrize("args, why", [
    (("set-price", "SNEK", "0"), "above 0"),
    (("set-price", "SNEK", "-1"), "above 0"),
    (("set-price", "SNEK", "lots"), "not a price"),
    (("set-price", "SNEK", "Infinity"), "above 0"),
    (("set-price", "ADA", "1"), "unit of account"),
    (("set-price", "NOPE", "1"), "unknown token 'NOPE'"),
    (("set-price", "SNEK", "1", "--at", "soon"), "--at: not a time"),
    (("price", "SNEK", "--at", "2026-01-01T00:00:00"), "needs its zone"),
    (("price", "abcd", "--at", "1"), "unknown token"),
    (("set-price", "SNEK", "1", "--at", "9" * 20), "must be under"),
    (("set-price", "SNEK", "1", "--at", "-5"), "not be before 1970"),
])
def test_bad_input_is_one_line_and_exit_2(env, db, args, why):
    line = refused(dhl(env, *args))
    assert line.startswith(f"dhl paper {args[0]}: ") and why in line, line
    assert db["paper_prices"].count_documents({}) == 0


def test_a_bad_setting_is_exit_2_and_mongodb_down_exit_1(env, db):
    line = refused(dhl({**env, "PAPER_VOLATILITY": "0.5"}, "price", "SNEK"))
    assert "PAPER_VOLATILITY" in line
    down = {**env, "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"}
    assert "does not answer" in refused(dhl(down, "set-price", "SNEK", "1"), code=1)


def test_the_store_keeps_every_tokens_prices_in_time_order_and_refuses_bad_ones(db):
    paper_prices.set_price(db, UNKNOWN_UNIT.upper(), 2000, Decimal("2"), set_ms=5)
    paper_prices.set_price(db, UNKNOWN_UNIT, 1000, Decimal("1.50"), set_ms=5)
    paper_prices.set_price(db, SNEK.asset.unit, 0, Decimal("0.003"), set_ms=5)
    assert paper_prices.all_prices(db) == {
        UNKNOWN_UNIT: [(1000, Decimal("1.50")), (2000, Decimal("2"))],
        SNEK.asset.unit: [(0, Decimal("0.003"))]}
    assert db["paper_prices"].find_one({"_id": f"{UNKNOWN_UNIT}:{1000:020d}"}) == {
        "_id": f"{UNKNOWN_UNIT}:{1000:020d}", "token": UNKNOWN_UNIT, "from_ms": 1000,
        "price": "1.50", "set_ms": 5}
    for at, price in ((-1, Decimal(1)), (1, Decimal(0)), (1, Decimal("NaN"))):
        with pytest.raises(ValueError):
            paper_prices.set_price(db, SNEK.asset.unit, at, price)
    with pytest.raises(ValueError):
        paper_prices.set_price(db, SNEK.asset.unit, 1, 1.5)  # type: ignore[arg-type]
    assert db["paper_prices"].count_documents({}) == 3
