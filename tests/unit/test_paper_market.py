"""The paper market: a seeded walk that is the same in every process, CSV paths, operator
prices that override from their time on, and fills at the execution block's price."""
from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.settings import PROJECT_ROOT
from trading.paper_market import (ORIGIN_MS, STEP_MS, PaperMarket, PaperMarketError,
                                  PricePoint, QuoteFees, Walk, bridge, paper_fill,
                                  parse_price_csv, parse_time)

SNEK = "279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b"
DJED = "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344"
WALK = Walk(seed=7, volatility=Decimal("0.01"))

PATH_SCRIPT = """
import json, sys
from decimal import Decimal
from trading.paper_market import ORIGIN_MS, STEP_MS, PaperMarket, Walk
seed, token = int(sys.argv[1]), sys.argv[2]
market = PaperMarket(Walk(seed, Decimal("0.01")))
print(json.dumps([str(market.price_at(token, ORIGIN_MS + i * 997 * STEP_MS)) for i in range(30)]))
"""


def path(market: PaperMarket, token: str, n: int = 30) -> list[str]:
    return [str(market.price_at(token, ORIGIN_MS + i * 997 * STEP_MS)) for i in range(n)]


# --- the walk ------------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_path_in_another_process():
    here = path(PaperMarket(WALK), SNEK)
    # PYTHONHASHSEED differs: the walk must not lean on hash() or any per-process state.
    result = subprocess.run([sys.executable, "-c", PATH_SCRIPT, "7", SNEK], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=True, timeout=60,
                            env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert json.loads(result.stdout) == here
    assert len(set(here)) > 20  # it moves


def test_seeds_and_tokens_give_different_paths():
    base = path(PaperMarket(WALK), SNEK)
    assert path(PaperMarket(Walk(8, Decimal("0.01"))), SNEK) != base
    assert path(PaperMarket(WALK), DJED) != base
    assert path(PaperMarket(WALK), SNEK.upper()) == base  # a unit in any case


def test_the_walk_starts_at_its_start_and_moves_once_a_step():
    market = PaperMarket(Walk(7, Decimal("0.01"), start=Decimal("0.5")))
    assert market.price_at(SNEK, ORIGIN_MS) == Decimal("0.5")
    assert market.price_at(SNEK, ORIGIN_MS + STEP_MS - 1) == Decimal("0.5")  # same step
    assert market.price_at(SNEK, ORIGIN_MS + STEP_MS) != Decimal("0.5")
    assert market.priced(SNEK, ORIGIN_MS + STEP_MS)[1] == "walk"


def test_the_walk_has_about_the_configured_volatility():
    # log-returns over one step across many steps: their sd is near the volatility
    market = PaperMarket(Walk(3, Decimal("0.01")))
    prices = [market.price_at(SNEK, ORIGIN_MS + i * STEP_MS) for i in range(400)]
    returns = [(b / a).ln() for a, b in zip(prices, prices[1:])]
    mean = sum(returns) / len(returns)
    sd = (sum((r - mean) ** 2 for r in returns) / len(returns)).sqrt()
    assert Decimal("0.008") < sd < Decimal("0.012")
    assert abs(mean) < Decimal("0.002")  # no drift to speak of


def test_zero_volatility_holds_the_price():
    market = PaperMarket(Walk(7, Decimal(0), start=Decimal("2.5")))
    assert market.price_at(SNEK, ORIGIN_MS + 10**9) == Decimal("2.5")


def test_a_volatility_out_of_range_is_refused():
    with pytest.raises(PaperMarketError, match="volatility"):
        Walk(1, Decimal("0.2"))
    with pytest.raises(PaperMarketError, match="volatility"):
        Walk(1, Decimal("-0.01"))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**63), step=st.integers(-2**45, 2**45),
       volatility=st.decimals(min_value=0, max_value=Decimal("0.1"), places=4),
       start=st.decimals(min_value=Decimal("1e-9"), max_value=Decimal("1e9"), places=9))
def test_prices_stay_positive(seed, step, volatility, start):
    market = PaperMarket(Walk(seed, volatility, start=start))
    price = market.price_at(SNEK, ORIGIN_MS + step * STEP_MS)
    assert price.is_finite() and price > 0


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), step=st.integers(0, 2**40))
def test_the_bridge_is_a_function_of_seed_token_and_step(seed, step):
    assert bridge(seed, SNEK, step) == bridge(seed, SNEK, step)
    assert bridge(seed, SNEK, 0) == 0


# --- operator-set prices -------------------------------------------------------------------

def test_a_set_price_overrides_from_its_time_on_and_the_walk_goes_on_from_it():
    t = ORIGIN_MS + 500 * STEP_MS
    plain = PaperMarket(WALK)
    market = plain.with_overrides({SNEK: [PricePoint(t, Decimal("0.003"))]})
    assert market.priced(SNEK, t) == (Decimal("0.003"), "set")
    assert market.price_at(SNEK, t - 1) == plain.price_at(SNEK, t - 1)  # before: the walk
    later = market.price_at(SNEK, t + 10 * STEP_MS)
    assert later != Decimal("0.003")
    # the walk's move from t, scaled to the set price
    ratio = plain.price_at(SNEK, t + 10 * STEP_MS) / plain.price_at(SNEK, t)
    assert abs(later / Decimal("0.003") - ratio) < Decimal("1e-15")
    assert market.price_at(DJED, t) == plain.price_at(DJED, t)  # other tokens untouched


def test_the_latest_set_price_wins_and_zero_volatility_holds_it():
    t = ORIGIN_MS + 100 * STEP_MS
    market = PaperMarket(Walk(7, Decimal(0))).with_overrides(
        {SNEK: [PricePoint(t + 50 * STEP_MS, Decimal("2")), PricePoint(t, Decimal("1.5"))]})
    assert market.price_at(SNEK, t + 49 * STEP_MS) == Decimal("1.5")
    assert market.price_at(SNEK, t + 50 * STEP_MS) == Decimal("2")
    assert market.price_at(SNEK, t + 10**9) == Decimal("2")


# --- CSV -----------------------------------------------------------------------------------

CSV = f"""token,time,price
# SNEK through a crash
{SNEK},1767225600000,0.0030
{SNEK},2026-01-01T00:10:00Z,0.0024
{SNEK.upper()},2026-01-01T01:20:00+01:00,0.0027

{DJED}, 1767225600000 , 1.6
"""


def test_csv_points_are_step_wise_and_times_may_be_iso():
    points = parse_price_csv(CSV)
    assert points[SNEK] == (PricePoint(ORIGIN_MS, Decimal("0.0030")),
                            PricePoint(ORIGIN_MS + 600_000, Decimal("0.0024")),
                            PricePoint(ORIGIN_MS + 1_200_000, Decimal("0.0027")))
    market = PaperMarket(WALK, points)
    assert market.priced(SNEK, ORIGIN_MS + 599_999) == (Decimal("0.0030"), "csv")
    assert market.price_at(SNEK, ORIGIN_MS + 600_000) == Decimal("0.0024")
    assert market.price_at(SNEK, ORIGIN_MS + 1_199_999) == Decimal("0.0024")
    assert market.price_at(SNEK, ORIGIN_MS + 10**10) == Decimal("0.0027")
    assert market.price_at(DJED, ORIGIN_MS + 1) == Decimal("1.6")
    with pytest.raises(PaperMarketError, match="CSV starts"):
        market.price_at(SNEK, ORIGIN_MS - 1)
    assert market.source(SNEK) == "csv" and market.source("ab" * 28) == "walk"


def test_a_set_price_holds_over_a_csv_until_its_next_point():
    market = PaperMarket(WALK, parse_price_csv(CSV)).with_overrides(
        {SNEK: [PricePoint(ORIGIN_MS + 300_000, Decimal("0.01"))]})
    assert market.price_at(SNEK, ORIGIN_MS + 299_999) == Decimal("0.0030")
    assert market.priced(SNEK, ORIGIN_MS + 300_000) == (Decimal("0.01"), "set")
    assert market.price_at(SNEK, ORIGIN_MS + 599_999) == Decimal("0.01")
    assert market.price_at(SNEK, ORIGIN_MS + 600_000) == Decimal("0.0024")
    # a set price at the very time of a CSV point wins it
    tie = market.with_overrides({SNEK: [PricePoint(ORIGIN_MS + 600_000, Decimal("0.5"))]})
    assert tie.price_at(SNEK, ORIGIN_MS + 600_000) == Decimal("0.5")


@pytest.mark.parametrize("row, line, why", [
    (f"{SNEK},1767225600000", 3, "expected 3 cells"),
    (f"{SNEK},yesterday,1", 3, "not a time"),
    (f"{SNEK},2026-01-01T00:00:00,1", 3, "needs its zone"),
    (f"{SNEK},1767225600000,-1", 3, "above 0"),
    (f"{SNEK},1767225600000,0", 3, "above 0"),
    (f"{SNEK},1767225600000,NaN", 3, "above 0"),
    (f"{SNEK},1767225600000,cheap", 3, "not a price"),
    ("SNEK,1767225600000,0.003", 3, "not a token unit"),
    (f"{SNEK},2026-01-01T00:00:00Z,0.004", 3, "a second price"),
])
def test_a_bad_row_refuses_the_file_with_its_line_number(row, line, why):
    text = f"token,time,price\n{SNEK},1767225600000,0.003\n{row}\n{DJED},1,1\n"
    with pytest.raises(PaperMarketError, match=f"^line {line}: .*{why}"):
        parse_price_csv(text)


def test_times_parse_from_ms_and_iso():
    assert parse_time("1767225600123") == ORIGIN_MS + 123
    assert parse_time("2026-01-01T00:00:00.123Z") == ORIGIN_MS + 123
    assert parse_time("2026-01-01T02:00:00+02:00") == ORIGIN_MS
    for bad in ("1e12", "+5", "\u0661\u0662", "10" + "0" * 15, "2026-01-01", ""):
        with pytest.raises(PaperMarketError):
            parse_time(bad)


# --- fills ---------------------------------------------------------------------------------

def test_a_fill_is_at_the_execution_blocks_price_not_the_triggers():
    """A buy triggered at block t fills at the paper price of block t+1."""
    trigger_ms = ORIGIN_MS + 1000 * STEP_MS
    market = PaperMarket(WALK).with_overrides(
        {SNEK: [PricePoint(trigger_ms, Decimal("0.0030")),
                PricePoint(trigger_ms + STEP_MS, Decimal("0.0040"))]})
    executed = market.price_at(SNEK, trigger_ms + STEP_MS)  # the block after submission
    fees = QuoteFees(lovelace=2_690_000, pool_fee=Decimal("0.003"))
    out = paper_fill("buy", 102_690_000, executed, fees, Decimal("0.0065"), token_decimals=0)
    # 100 ADA net of fixed fees, less 0.3% pool fee and 0.65% impact, at 0.004 ADA a SNEK
    assert out == int(Decimal(100_000_000) * Decimal("0.997") * Decimal("0.9935")
                      / Decimal(4000))
    assert out == 24_762  # about 25,000 SNEK less 1%
    at_trigger = paper_fill("buy", 102_690_000, market.price_at(SNEK, trigger_ms), fees,
                            Decimal("0.0065"), token_decimals=0)
    assert at_trigger != out and at_trigger > out  # the trigger's price was cheaper


def test_a_sell_pays_ada_less_impact_and_fees_in_base_units():
    # 2 DJED (6 decimals) at 1.6 ADA: 3.2 ADA, less 0.3% and 1%, less 1 ADA of fees
    out = paper_fill("sell", 2_000_000, Decimal("1.6"),
                     QuoteFees(lovelace=1_000_000, pool_fee=Decimal("0.003")),
                     Decimal("0.01"), token_decimals=6)
    assert out == int(Decimal(3_200_000) * Decimal("0.997") * Decimal("0.99")) - 1_000_000
    no_cost = paper_fill("sell", 2_000_000, Decimal("1.6"), QuoteFees(), Decimal(0),
                         token_decimals=6)
    assert no_cost == 3_200_000


def test_fills_round_down_and_refuse_what_fees_eat():
    assert paper_fill("buy", 10, Decimal(3), QuoteFees(), Decimal(0), token_decimals=6) == 3
    with pytest.raises(PaperMarketError, match="take the whole"):
        paper_fill("buy", 1_000_000, Decimal(1), QuoteFees(lovelace=1_000_000), Decimal(0),
                   token_decimals=0)
    with pytest.raises(PaperMarketError, match="pays nothing"):
        paper_fill("sell", 1, Decimal("0.5"), QuoteFees(lovelace=1), Decimal(0),
                   token_decimals=6)
    with pytest.raises(PaperMarketError, match="side"):
        paper_fill("hold", 1, Decimal(1), QuoteFees(), Decimal(0), token_decimals=0)  # type: ignore[arg-type]
    with pytest.raises(PaperMarketError, match="impact"):
        paper_fill("buy", 10, Decimal(1), QuoteFees(), Decimal(1), token_decimals=0)
    with pytest.raises(PaperMarketError, match="price"):
        paper_fill("buy", 10, Decimal(0), QuoteFees(), Decimal(0), token_decimals=0)


@settings(max_examples=100, deadline=None)
@given(amount=st.integers(1_000_000, 10**13),
       price=st.decimals(min_value=Decimal("1e-6"), max_value=Decimal("1e4"), places=6),
       impact=st.decimals(min_value=0, max_value=Decimal("0.5"), places=4),
       higher=st.decimals(min_value=Decimal("1.0001"), max_value=2, places=4))
def test_a_buy_at_a_higher_price_gets_no_more_and_impact_only_takes(amount, price, impact,
                                                                    higher):
    fees = QuoteFees(lovelace=500_000, pool_fee=Decimal("0.003"))
    base = paper_fill("buy", amount, price, fees, impact, token_decimals=6)
    assert paper_fill("buy", amount, price * higher, fees, impact, token_decimals=6) <= base
    assert paper_fill("buy", amount, price, fees, Decimal(0), token_decimals=6) >= base


def test_the_paper_settings_parse_and_refuse():
    from core.errors import ConfigError
    from core.settings import settings_from_mapping

    defaults = settings_from_mapping({})
    assert defaults.paper_seed == 20260101 and defaults.paper_volatility == Decimal("0.002")
    assert defaults.paper_prices_csv is None
    given = settings_from_mapping({"PAPER_SEED": "7", "PAPER_VOLATILITY": "0.05",
                                   "PAPER_PRICES_CSV": "/tmp/p.csv"})
    assert (given.paper_seed, given.paper_volatility, str(given.paper_prices_csv)) == \
        (7, Decimal("0.05"), "/tmp/p.csv")
    for variable, raw in (("PAPER_VOLATILITY", "0.11"), ("PAPER_VOLATILITY", "-0.001"),
                          ("PAPER_VOLATILITY", "NaN"), ("PAPER_VOLATILITY", "high"),
                          ("PAPER_SEED", "-1"), ("PAPER_SEED", "1.5")):
        with pytest.raises(ConfigError, match=variable):
            settings_from_mapping({variable: raw})
