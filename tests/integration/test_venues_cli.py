"""`dhl venues list|markets|quote|loans|read` as operators and scripts run them, with the
fake venues of tests/support/fake_venue.py registered through VENUE_MODULES, their API
on a loopback stub, and the real MongoDB server. Each command runs through the CLI's
own entry (`dhl.cli.main`) in this process with the environment it would get, which
saves a Python start per command; one test runs the real `python -m dhl` subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cbor2
import pytest

from core.settings import PROJECT_ROOT, settings_from_mapping
from core.units import ADA_TOKEN
from indexer.venue_state import refresh_markets
from protocols.demo import POLICY as DEMO_POLICY
from stack.processes import free_port
from store import venue_markets
from store.codec import now_ms
from store.mongo import close_all, connect
from tests.support.cli import run_dhl
from tests.support.crafted import output
from tests.support.fake_venue import (BAD_DATUM, FakeLend, FakeLendApi, client_for,
                                      register_fakes, unregister_fakes)
from tests.support.fixtures import cardano, fixtures_dir
from tests.support.markets import DJED, SNEK, market, option

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def fakes_registered():
    """The fakes are in this process's registry for this module's tests only."""
    register_fakes()
    yield
    unregister_fakes()

LIQWID_TX = "protocols/liqwid/txs/tx_1c280d01_marketparams_update.hex"
LIQWID_ENVELOPE = "protocols/liqwid/txs/tx_1c280d01_marketparams_update.textenvelope.json"
LIQWID_TX_ID = "1c280d01277784ce94c2fb14a5c97c96f80c08d0d812da4ecbd1d78397d03dab"

#: Every venue `dhl venues` knows here: the fakes and the project's own (on or off).
REGISTERED = "fakelend, fakeoff, levvy, liqwid, surf"


def the_markets(as_of_ms: int):
    return [
        market("fakelend", "FAKE-ADA", ADA_TOKEN, (option(SNEK, "0.6", "0.7", "0.1"),),
               apr="0.05", liquidity=10**15, batcher=2_000_000, as_of_ms=as_of_ms),
        market("fakelend", "FAKE-ADA-DEAR", ADA_TOKEN, (option(SNEK, "0.8"),), apr="0.4",
               liquidity=10**15, as_of_ms=as_of_ms, fixed=True),
        market("fakelend", "FAKE-SNEK", SNEK, (option(ADA_TOKEN, "0.7"),), apr="0.1",
               liquidity=10**12, min_size=1000, as_of_ms=as_of_ms),
        market("fakelend", "FAKE-DJED-OLD", DJED, (option(ADA_TOKEN, "0.7"),),
               as_of_ms=as_of_ms - 3600 * 1000),
    ]


@pytest.fixture
def api():
    fake = FakeLendApi(the_markets(now_ms()),
                       [{"owner": "ab" * 28, "amount": "12.5", "debt": 12_500_000},
                        {"owner": "cd" * 28, "amount": "1", "debt": 1_000_000}])
    fake.server.start()
    yield fake
    fake.server.stop()


@pytest.fixture
def env(test_env, api):
    return {**test_env, "CARDANO_NETWORK": "preprod", "VENUE_MODULES": "tests.support.fake_venue_plugin",
            "VENUES": "fakelend", "FAKE_LEND_URL": api.server.url}


@pytest.fixture
def stored(env, namespace, api):
    """The beat's snapshot of the fake venue, in the test's database."""
    settings = settings_from_mapping(env)
    client = connect(settings.mongo_url)
    db = client[namespace]
    source = FakeLend(settings)
    source.client = client_for(api.server.url)
    assert refresh_markets(db, source).stored == 4
    yield db
    client.drop_database(namespace)
    client.close()
    close_all()


NOT_INHERITED = ("MONGO_URL", "CARDANO_NETWORK", "VENUES", "VENUE_MODULES")


def dhl_subprocess(env: dict[str, str], *args: str,
                   timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return subprocess.run([sys.executable, "-m", "dhl", "venues", *args], cwd=PROJECT_ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def dhl(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`dhl venues ARGS` through the CLI's entry, in this process (tests/support/cli.py)."""
    return run_dhl(["venues", *args], env, NOT_INHERITED)


def lines(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1, result.stderr
    return errors[0]


# --- list -------------------------------------------------------------------------------

def test_list_says_which_venues_are_on_and_why_not(env):
    result = dhl_subprocess(env, "list", "--json")  # the real entry point, once
    assert result.returncode == 0, result.stderr
    rows = {r["venue"]: r for r in lines(result)}
    assert rows["fakelend"]["enabled"] and rows["fakelend"]["reason"] is None
    assert rows["fakelend"]["watches"] == ("2 token policies (market_params 1, pool 1) on "
                                           "preprod")
    assert rows["fakeoff"] == {"venue": "fakeoff", "enabled": False,
                               "reason": "not in VENUES (fakelend)", "experimental": True,
                               "network": "preprod",
                               "watches": "nothing on preprod: its scripts on preprod are not "
                                          "public; set FAKE_OFF_CONFIG (never set)"}
    both = {r["venue"]: r for r in lines(dhl({**env, "VENUES": "fakelend,fakeoff"}, "list",
                                               "--json"))}
    assert both["fakeoff"]["reason"].startswith("its scripts on preprod are not public")
    text = dhl(env, "list")
    assert text.returncode == 0
    assert "fakeoff    off [experimental] (not in VENUES (fakelend))" in text.stdout


# --- markets ------------------------------------------------------------------------------

def test_markets_from_the_store_as_json_lines(env, stored):
    result = dhl(env, "markets", "--json")
    assert result.returncode == 0, result.stderr
    assert "stored API snapshots merged with chain state" in result.stderr
    rows = {r["market"]: r for r in lines(result)}
    assert set(rows) == {"FAKE-ADA", "FAKE-ADA-DEAR", "FAKE-SNEK", "FAKE-DJED-OLD"}
    ada = rows["FAKE-ADA"]
    assert ada["borrow_apr"] == "0.05" and ada["available_liquidity"] == 10**15
    assert ada["fees"]["batcher_lovelace"] == 2_000_000
    assert ada["collaterals"][0] == {"unit": SNEK.asset.unit, "ticker": "SNEK", "decimals": 0,
                                     "max_ltv": "0.6", "liquidation_threshold": "0.7",
                                     "liquidation_penalty": "0.1", "held_as": None,
                                     "venue_id": "", "oracle_price": None}
    assert ada["stale"] is False and ada["source"] == "api"
    assert rows["FAKE-DJED-OLD"]["stale"] is True and rows["FAKE-DJED-OLD"]["age_s"] >= 3600
    assert rows["FAKE-SNEK"]["min_size"] == 1000


def test_markets_table_marks_stale_ones(env, stored):
    result = dhl(env, "markets", "--venue", "fakelend")
    assert result.returncode == 0, result.stderr
    table = result.stdout.splitlines()
    assert table[0].split()[:3] == ["venue", "market", "borrow"]
    old = next(line for line in table if "FAKE-DJED-OLD" in line)
    assert old.rstrip().endswith("STALE") and "api 60m" in old
    ada = next(line for line in table if line.split()[1] == "FAKE-ADA")
    assert "SNEK ltv 0.6 thr 0.7 pen 0.1" in ada and "5%" in ada and "1000000000" in ada
    assert "batcher 2 ADA" in ada and "STALE" not in ada
    dear = next(line for line in table if "FAKE-ADA-DEAR" in line)
    assert "(fixed rate)" in dear


def test_markets_fall_back_to_the_apis_when_mongodb_does_not_answer(env):
    down = {**env, "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"}
    result = dhl(down, "markets", "--json")
    assert result.returncode == 0, result.stderr
    assert "does not answer: fetching from the venues' APIs now" in result.stderr
    assert {r["market"] for r in lines(result)} == {"FAKE-ADA", "FAKE-ADA-DEAR", "FAKE-SNEK",
                                                    "FAKE-DJED-OLD"}


def test_markets_live_reports_a_failing_api(env, stored, api):
    result = dhl({**env, "FAKE_LEND_URL": f"http://127.0.0.1:{free_port()}"}, "markets",
                 "--live", "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "--live: fetching from the venues' APIs now" in result.stderr
    assert "fakelend: markets not fetched (VenueUnavailable" in result.stderr


@pytest.mark.parametrize("venue, message", [
    ("nowhere", f"no venue named 'nowhere' (registered: {REGISTERED})"),
    ("fakeoff", "venue fakeoff is off: not in VENUES (fakelend)"),
])
def test_markets_of_an_unknown_or_off_venue_is_refused(env, venue, message):
    result = dhl(env, "markets", "--venue", venue)
    assert result.returncode == 2 and result.stdout == ""
    assert one_line(result) == f"dhl venues markets: {message}"


# --- quote -----------------------------------------------------------------------------------

def test_quote_ranks_the_markets_with_reasons(env, stored):
    result = dhl(env, "quote", "--side", "long", "--asset", "snek", "--size", "1000",
                 "--leverage", "2", "--days", "30", "--json")
    assert result.returncode == 0, result.stderr
    rows = lines(result)
    assert [r["market"] for r in rows[:2]] == ["FAKE-ADA", "FAKE-ADA-DEAR"]
    best = rows[0]
    assert best["chosen"] and best["debt"] == 500_000_000 and best["rank"] == 1
    assert best["cost_lovelace"]["batcher"] == "4000000"
    assert not rows[1]["chosen"] and rows[1]["eligible"]
    assert any("fixed when the loan opens" in n for n in rows[1]["notes"])
    rejected = {r["market"]: r for r in rows if not r["eligible"]}
    assert {c["code"] for c in rejected["FAKE-DJED-OLD"]["reasons"]} == {"pair", "stale"}

    # By unit; at 3x (LTV 2/3) FAKE-ADA's max LTV of 0.6 no longer allows it.
    text = dhl(env, "quote", "--side", "long", "--asset", SNEK.asset.unit, "--size", "1000",
               "--leverage", "3")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert out.startswith("long SNEK: 1000 ADA notional at 3x for 30 days: debt 666.666667 ADA")
    assert "  1 * fakelend/FAKE-ADA-DEAR: cost " in out
    assert "  2 - fakelend/FAKE-ADA: cost " in out
    assert "rejected: max LTV 0.6 of SNEK allows at most 2.5x; 3x needs LTV 0.666667" in out


def test_quote_a_short_needs_a_price_and_sizes_the_debt_in_tokens(env, stored):
    result = dhl(env, "quote", "--side", "short", "--asset", "SNEK", "--size", "100",
                 "--leverage", "3", "--price", "0.002", "--json")
    assert result.returncode == 0, result.stderr
    best = lines(result)[0]
    assert best["market"] == "FAKE-SNEK" and best["chosen"]
    assert best["debt"] == 33_334  # 66.67 ADA at 0.002 ADA per SNEK, rounded up


@pytest.mark.parametrize("args, message", [
    (["--side", "sideways"], "--side must be long or short, got 'sideways'"),
    (["--leverage", "1"], "--leverage must be above 1, got 1"),
    (["--leverage", "x"], "--leverage must be a number, got 'x'"),
    (["--size", "0"], "--size must be above 0 ADA, got 0"),
    (["--size", "-3"], "--size must be above 0 ADA, got -3"),
    (["--size", "0.0000001"], "--size: 0.0000001 has more than 6 decimals"),
    (["--side", "short"], "a short needs --price (ADA per whole token) to size its debt in "
                          "tokens"),
    (["--asset", "NOPE"], "unknown token 'NOPE': not a ticker or unit of any market "
                          "(tickers: ADA, DJED, SNEK)"),
    (["--venue", "nowhere"], f"no venue named 'nowhere' (registered: {REGISTERED})"),
])
def test_bad_quote_input_is_one_line_and_exit_2(env, stored, args, message):
    base = {"--side": "long", "--asset": "SNEK", "--size": "100", "--leverage": "2"}
    given = dict(zip(args[::2], args[1::2]))
    argv = [x for k, v in {**base, **given}.items() for x in (k, v)]
    result = dhl(env, "quote", *argv)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == f"dhl venues quote: {message}"


def test_bad_arguments_are_refused_before_anything_is_fetched(env, api):
    started = time.monotonic()
    result = dhl({**env, "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"},
                 "quote",
                 "--side", "long", "--asset", "SNEK", "--size", "0", "--leverage", "2")
    assert result.returncode == 2 and one_line(result).endswith("--size must be above 0 ADA, "
                                                                "got 0")
    assert api.server.requests == [] and time.monotonic() - started < 30


# --- loans ---------------------------------------------------------------------------------

def test_loans_one_json_line_each(env):
    result = dhl(env, "loans", "--venue", "fakelend")
    assert result.returncode == 0, result.stderr
    assert lines(result) == [{"owner": "ab" * 28, "amount": "12.5", "debt": 12_500_000},
                             {"owner": "cd" * 28, "amount": "1", "debt": 1_000_000}]
    mine = dhl(env, "loans", "--venue", "fakelend", "--owner", "cd" * 28)
    assert [r["owner"] for r in lines(mine)] == ["cd" * 28]


def test_loans_of_a_venue_without_a_loans_api_or_unknown(env):
    result = dhl(env, "loans", "--venue", "fakeoff")
    assert result.returncode == 1 and one_line(result) == ("dhl venues loans: fakeoff: has no "
                                                           "loans API")
    unknown = dhl(env, "loans", "--venue", "nowhere")
    assert unknown.returncode == 2
    assert one_line(unknown).startswith("dhl venues loans: no venue named 'nowhere'")


# --- read ------------------------------------------------------------------------------------

def test_read_a_transaction_file_an_envelope_and_a_block_file(env, tmp_path):
    base = fixtures_dir()
    not_chain = tmp_path / "notes.txt"
    not_chain.write_text("hello, not CBOR\n")
    result = dhl(env, "read", "--network", "mainnet", str(base / LIQWID_TX), str(not_chain),
                 str(base / LIQWID_ENVELOPE))
    assert result.returncode == 2
    error = one_line(result)
    assert error.startswith(f"dhl venues read: {not_chain}: neither a block nor a transaction")
    rows = lines(result)
    records = [r for r in rows if "datum" in r]
    events = [r for r in rows if "tx" in r]
    # Each of the two files: the MarketParams output, then the event.
    assert [r["ref"] for r in records] == [f"{LIQWID_TX_ID}#0"] * 2
    assert records[0] == {"venue": "fakelend", "kind": "market_params", "market": None,
                          "ref": f"{LIQWID_TX_ID}#0",
                          "datum": {"lovelace": 5154760, "datum": records[0]["datum"]["datum"]}}
    assert [e["kind"] for e in events] == ["market_state_updated"] * 2
    assert rows == [records[0], events[0], records[1], events[1]]

    chunk = dhl(env, "read", "--network", "preprod", str(cardano(
        "segments/preprod-babbage-chunk01285/01285.chunk")))
    assert chunk.returncode == 0, chunk.stderr
    pools = [r for r in lines(chunk) if r.get("kind") == "pool"]
    spends = [r for r in lines(chunk) if r.get("kind") == "market_state_updated"
              and r["details"]["spent"]]
    assert pools and spends
    # A spend names a pool output read earlier in the same file.
    assert spends[0]["refs"][0] in {p["ref"] for p in pools}


def test_read_reports_a_datum_layout_it_does_not_know_and_goes_on(env, tmp_path):
    address = bytes([0x70]) + bytes(28)  # a testnet script address
    body = {0: [[bytes(32), 0]], 2: 200_000, 1: [
        output(address, 2_000_000, {DEMO_POLICY: {b"": 1}}, inline=BAD_DATUM + b"x"),
        output(address, 3_000_000, {DEMO_POLICY: {b"": 1}}, inline=b"\xd8\x79\x80")]}
    path = Path(tmp_path) / "tx.cbor"
    path.write_bytes(cbor2.dumps([body, {}, True, None]))  # binary, not hex
    result = dhl(env, "read", "--network", "preprod", str(path))
    assert result.returncode == 1
    assert "#0: fakelend: " in one_line(result) and "datum layout unknown" in result.stderr
    refs = [r["ref"] for r in lines(result) if "datum" in r]
    assert len(refs) == 1 and refs[0].endswith("#1")


def test_snapshot_fixture_is_what_the_cli_reads(stored):
    # Guard for the tests above: the store holds the fake venue's four markets.
    assert len(venue_markets.read_venue(stored, "fakelend").markets) == 4
