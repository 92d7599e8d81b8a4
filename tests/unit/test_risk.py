"""Risk maths (trading/risk.py, trading/pnl.py): hand-computed examples, then properties
over generated positions."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from core.errors import AppError
from core.units import Asset, Token
from tests.support.markets import DJED, SNEK
from trading.pnl import FLAT, FeeBill, IndexSpan, accrue, accrued, carry, realised_pnl, \
    unrealised_pnl
from trading.risk import Book, RiskError, boost, deleverage, distance_to_liquidation, \
    health, health_factor, leverage_for_ltv, liquidation_price, liquidation_price_at_open, \
    loan_to_value, loop_leverage, loops_needed, ltv_for_leverage, max_leverage, open_book, \
    realised_leverage, reduce_share, token_value

D = Decimal
TOK = Token(Asset("ab" * 28, "544f4b"), 6, "TOK")
ADA = 1_000_000


def long_book(collateral: int = 600 * ADA, debt: int = 200 * ADA, lt: str = "0.8") -> Book:
    return Book("long", TOK, collateral, debt, D(lt))


def short_book(collateral: int = 300 * ADA, debt: int = 400 * ADA, lt: str = "0.8") -> Book:
    return Book("short", TOK, collateral, debt, D(lt))


# --- fixed examples, computed by hand ------------------------------------------------

def test_long_example():
    # 100 ADA at 3x, TOK at 0.5 ADA: 600 TOK held, 200 ADA owed.
    opened = open_book("long", TOK, equity=100 * ADA, leverage=D(3), price=D("0.5"),
                       liquidation_threshold=D("0.8"))
    assert opened.book == long_book() and opened.swap_fee == 0
    assert health(opened.book, D("0.5")) == D("1.2")  # 300 × 0.8 / 200
    assert realised_leverage(opened.book, D("0.5")) == 3  # 300 / 100
    p_liq = liquidation_price(opened.book)
    assert p_liq is not None and abs(p_liq - D(5) / 12) < D("1e-25")  # 200 / (600 × 0.8)
    with_cost = liquidation_price(opened.book, swap_cost=D("0.01"))
    assert with_cost is not None and abs(with_cost - D(200) / D("475.2")) < D("1e-25")
    assert abs(liquidation_price_at_open("long", D("0.5"), D(3), D("0.8")) - p_liq) \
        < D("1e-25")
    distance = distance_to_liquidation(opened.book, D("0.5"))
    assert distance is not None and abs(distance - D(1) / 6) < D("1e-25")


def test_short_example():
    # 100 ADA at 3x short, TOK at 0.5: borrow 400 TOK, sell for 200 ADA; 300 ADA held.
    opened = open_book("short", TOK, equity=100 * ADA, leverage=D(3), price=D("0.5"),
                       liquidation_threshold=D("0.8"))
    assert opened.book == short_book() and opened.swap_fee == 0
    assert health(opened.book, D("0.5")) == D("1.2")  # 300 × 0.8 / 200
    assert realised_leverage(opened.book, D("0.5")) == 3
    assert liquidation_price(opened.book) == D("0.6")  # 300 × 0.8 / 400
    assert liquidation_price_at_open("short", D("0.5"), D(3), D("0.8")) == D("0.6")
    # 1% to buy the 400 TOK back: 300 × 0.8 × 0.99 / 400
    assert liquidation_price(opened.book, swap_cost=D("0.01")) == D("0.594")


def test_open_with_swap_cost_books_the_lost_value():
    opened = open_book("long", TOK, equity=100 * ADA, leverage=D(2), price=D("0.5"),
                       liquidation_threshold=D("0.8"), swap_cost=D("0.01"))
    assert opened.book.collateral == 396 * ADA  # 200 ADA × 0.99 / 0.5
    assert opened.book.debt == 100 * ADA
    assert opened.swap_fee == 2 * ADA
    short = open_book("short", TOK, equity=100 * ADA, leverage=D(2), price=D("0.5"),
                      liquidation_threshold=D("0.8"), swap_cost=D("0.01"))
    assert short.book.debt == 200 * ADA and short.book.collateral == 199 * ADA
    assert short.swap_fee == 1 * ADA


def test_deleverage_example():
    # v = (1.5 × (200 ADA + 1) − 300 ADA × 0.8) / (1.5 − 0.8) = 85 714 287.86 lovelace
    # → sell ceil(v / 0.5) TOK base units, repay what they fetch.
    result = deleverage(long_book(), D("0.5"), D("1.5"))
    assert (result.collateral_delta, result.debt_delta) == (171_428_576, 85_714_288)
    assert result.book == long_book(600 * ADA - 171_428_576, 200 * ADA - 85_714_288)
    assert result.health is not None and D("1.5") <= result.health < D("1.5000001")


def test_boost_example():
    # u = ((300 ADA − 0.5) × 0.8 − 1.1 × 200 ADA) / (1.1 − 0.8) = 66 666 665.33 lovelace
    result = boost(long_book(), D("0.5"), D("1.1"))
    assert (result.collateral_delta, result.debt_delta) == (133_333_330, 66_666_665)
    assert result.health is not None and D("1.1") <= result.health < D("1.1000001")


def test_pnl_example():
    # TOK rises to 0.6, the debt grows 5 %, closing costs 1 %:
    # 600 × 0.6 × 0.99 − 210 − 2.4 ADA of fees − 100 posted = 44 ADA.
    book = accrued(long_book(), borrow=IndexSpan(D("1.2"), D("1.26")))
    assert book.debt == 210 * ADA
    fees = FeeBill(batcher=2 * ADA, network=400_000, swap=3 * ADA)
    result = unrealised_pnl(book, D("0.6"), equity_posted=100 * ADA, fees=fees,
                            close_swap_cost=D("0.01"))
    assert result.pnl == 44 * ADA and result.roe == D("0.44")
    assert result.equity == D("146.4") * ADA
    assert realised_pnl(equity_posted=100 * ADA, returned=146_400_000, fees=fees) \
        == 44 * ADA


def test_short_pnl_example():
    # TOK falls to 0.4: buy back 400 TOK for 160 ADA out of 300: 140 back, 40 gained.
    result = unrealised_pnl(short_book(), D("0.4"), equity_posted=100 * ADA,
                            fees=FeeBill())
    assert result.pnl == 40 * ADA


def test_carry_example():
    # 2 % on 300 ADA of collateral − 10 % on 200 ADA owed = −14 ADA a year.
    result = carry(long_book(), D("0.5"), supply_apy=D("0.02"), borrow_apr=D("0.1"),
                   holding_days=D(73))
    assert result.per_year == -14 * ADA
    assert result.over_holding == D("-2.8") * ADA
    assert result.rate_on_equity == D("-0.14")


def test_leverage_ltv_and_loops():
    assert ltv_for_leverage(D(4)) == D("0.75")
    assert leverage_for_ltv(D("0.75")) == 4
    assert abs(max_leverage(D("0.7")) - D(10) / 3) < D("1e-25")  # Surf's 3.33x cap
    assert [loop_leverage(D("0.5"), n) for n in range(4)] == [1, D("1.5"), D("1.75"),
                                                              D("1.875")]
    assert loops_needed(D("1.8"), D("0.5")) == 3
    assert loops_needed(D("1.5"), D("0.5")) == 1
    with pytest.raises(RiskError, match="out of reach"):
        loops_needed(D(2), D("0.5"))  # 1 / (1 − 0.5) is only the limit
    with pytest.raises(RiskError, match="out of reach"):
        loops_needed(D("1.99"), D("0.5"), swap_cost=D("0.05"))


def test_health_factor_sums_collaterals_and_matches_surf_ltv():
    # Liqwid: Σ value × threshold / debt
    assert health_factor([(D(100), D("0.8")), (D(50), D("0.5"))], D(70)) == D("1.5")
    assert health_factor([(D(100), D("0.8"))], D(0)) is None
    # Surf: liquidated when LTV ≥ LT, i.e. health LT / LTV ≤ 1
    ltv = loan_to_value(D(100), D(80))
    assert ltv == D("0.8") and health_factor([(D(100), D("0.8"))], D(80)) == 1


def test_no_debt_and_no_price_liquidation():
    assert health(long_book(debt=0), D("0.5")) is None
    assert liquidation_price(long_book(debt=0)) is None
    levvy = Book("long", TOK, 600 * ADA, 200 * ADA, None)
    assert health(levvy, D("0.5")) is None and liquidation_price(levvy) is None
    with pytest.raises(RiskError, match="by time"):
        deleverage(levvy, D("0.5"), D(2))


def test_units_follow_the_token_decimals():
    # SNEK has 0 decimals: 1000 SNEK at 0.004 ADA is 4 ADA; DJED has 6.
    assert token_value(SNEK, 1000, D("0.004")) == 4 * ADA
    assert token_value(DJED, 2_000_000, D("1.5")) == 3 * ADA


def test_deleverage_refuses_an_unreachable_target():
    # Under water after the swap cost: 200 ADA of TOK cannot repay 195 ADA at 5 % cost.
    book = long_book(400 * ADA, 195 * ADA)
    with pytest.raises(RiskError, match="cannot be reached"):
        deleverage(book, D("0.5"), D("1.5"), swap_cost=D("0.05"))
    # Each sale frees less than it gives up: H × (1 − s) ≤ LT.
    with pytest.raises(RiskError, match="cannot be reached"):
        deleverage(long_book(lt="0.95"), D("0.5"), D("1.5"), swap_cost=D("0.4"))


@pytest.mark.parametrize("call, message", [
    (lambda: Book("long", TOK, -1, 0, D("0.8")), "collateral"),
    (lambda: Book("long", TOK, 1, -5, D("0.8")), "debt"),
    (lambda: Book("sideways", TOK, 1, 1, D("0.8")), "side"),  # type: ignore[arg-type]
    (lambda: Book("long", TOK, 1, 1, D("1.2")), "liquidation threshold"),
    (lambda: open_book("long", TOK, equity=ADA, leverage=D(1), price=D(1),
                       liquidation_threshold=D("0.8")), "leverage must be above 1"),
    (lambda: open_book("long", TOK, equity=ADA, leverage=D("0.5"), price=D(1),
                       liquidation_threshold=D("0.8")), "leverage must be above 1"),
    (lambda: open_book("long", TOK, equity=-ADA, leverage=D(2), price=D(1),
                       liquidation_threshold=D("0.8")), "equity"),
    (lambda: health(long_book(), D(0)), "price"),
    (lambda: health(long_book(), D("NaN")), "price"),
    (lambda: health(long_book(), D(1), swap_cost=D(1)), "swap cost"),
    (lambda: deleverage(long_book(), D("0.5"), D(1)), "target health must be above 1"),
    (lambda: deleverage(long_book(), D("0.5"), D("0.9")), "target health"),
    (lambda: boost(long_book(), D("0.5"), D(1)), "target health"),
    (lambda: ltv_for_leverage(D(1)), "leverage"),
    (lambda: IndexSpan(D(2), D(1)), "never falls"),
    (lambda: IndexSpan(D(0), D(1)), "above 0"),
    (lambda: accrue(-1, FLAT, round_up=True), "amount"),
    (lambda: FeeBill(network=-1), "network fee"),
    (lambda: carry(long_book(), D(1), supply_apy=D(-1), borrow_apr=D(0)), "supply APY"),
])
def test_bad_inputs_raise_a_typed_error(call, message):
    with pytest.raises(RiskError, match=message) as caught:
        call()
    assert isinstance(caught.value, AppError)


# --- properties ----------------------------------------------------------------------

tokens = st.builds(lambda d: Token(Asset("cd" * 28, "41"), d, "T"), st.integers(0, 8))
prices = st.integers(1, 10 ** 9).map(lambda n: Decimal(n).scaleb(-6))  # 1e-6 .. 1000 ADA
thresholds = st.integers(50, 95).map(lambda n: Decimal(n) / 100)
leverages = st.integers(11, 50).map(lambda n: Decimal(n) / 10)
swap_costs = st.integers(0, 200).map(lambda n: Decimal(n) / 10_000)  # 0 .. 2 %
equities = st.integers(10 ** 6, 10 ** 13)
sides = st.sampled_from(["long", "short"])


def opened(side, token, equity, leverage, price, lt, s=Decimal(0)):
    result = open_book(side, token, equity=equity, leverage=leverage, price=price,
                       liquidation_threshold=lt, swap_cost=s)
    # Whole base units must be able to express the position finely.
    assume(result.book.collateral >= 10 ** 5 and result.book.debt >= 10 ** 5)
    return result


@settings(max_examples=300)
@given(sides, tokens, equities, leverages, prices, thresholds, st.integers(1, 99))
def test_health_falls_with_price_for_a_long_and_rises_for_a_short(
        side, token, equity, leverage, price, lt, percent):
    book = opened(side, token, equity, leverage, price, lt).book
    lower = price * percent / 100
    assume(lower > 0)
    high, low = health(book, price), health(book, lower)
    assert high is not None and low is not None
    assert (low < high) if side == "long" else (low > high)


@settings(max_examples=300)
@given(sides, tokens, equities, leverages, prices, thresholds, swap_costs)
def test_health_is_one_at_the_liquidation_price(side, token, equity, leverage, price, lt, s):
    book = opened(side, token, equity, leverage, price, lt).book
    for cost in (Decimal(0), s):
        p_liq = liquidation_price(book, swap_cost=cost)
        assert p_liq is not None
        at = health(book, p_liq, swap_cost=cost)
        assert at is not None and abs(at - 1) < Decimal("1e-40")
    # The unwind's cost moves the line towards the price: acted on earlier.
    venue, guarded = liquidation_price(book), liquidation_price(book, swap_cost=s)
    assert venue is not None and guarded is not None
    assert (guarded >= venue) if side == "long" else (guarded <= venue)


@settings(max_examples=300)
@given(sides, tokens, equities, leverages, prices, thresholds, swap_costs)
def test_liquidation_price_from_the_book_matches_the_closed_form(
        side, token, equity, leverage, price, lt, s):
    book = opened(side, token, equity, leverage, price, lt, s).book
    from_book = liquidation_price(book)
    closed = liquidation_price_at_open(side, price, leverage, lt, swap_cost=s)
    assert from_book is not None
    assert abs(from_book / closed - 1) < Decimal("1e-4")  # base-unit rounding only


@settings(max_examples=300)
@given(sides, tokens, equities, leverages, prices, thresholds)
def test_realised_leverage_at_open_is_the_requested_one_without_fees(
        side, token, equity, leverage, price, lt):
    book = opened(side, token, equity, leverage, price, lt).book
    realised = realised_leverage(book, price)
    assert realised is not None and abs(realised / leverage - 1) < Decimal("1e-4")


def _excess_bound(book, price, target):
    # What the rounding to whole base units may add, in lovelace of health × debt.
    pc, pd = book.unit_values(price)
    return 4 * (pc + pd) * (target + 1)


@settings(max_examples=400)
@given(sides, tokens, equities, leverages, prices, thresholds, swap_costs,
       st.integers(105, 300).map(lambda n: Decimal(n) / 100))
def test_deleverage_reaches_the_target_and_never_falls_short(
        side, token, equity, leverage, price, lt, s, target):
    book = opened(side, token, equity, leverage, price, lt).book
    before = health(book, price)
    result = deleverage(book, price, target, swap_cost=s)
    if before is not None and before >= target:
        assert (result.collateral_delta, result.debt_delta) == (0, 0)
        event("already at target")
        return
    event("deleveraged")
    assert result.health is None or result.health >= target
    if result.health is not None:
        _, debt_value = result.book.values(price)
        assert (result.health - target) * debt_value <= _excess_bound(book, price, target)
    # The trade is what the book shows: the sale's proceeds repay the debt.
    assert result.book.collateral == book.collateral - result.collateral_delta
    assert result.book.debt == book.debt - result.debt_delta
    pc, pd = book.unit_values(price)
    assert result.debt_delta * pd <= result.collateral_delta * pc * (1 - s)


@settings(max_examples=400)
@given(sides, tokens, equities, leverages, prices, thresholds, swap_costs,
       st.integers(101, 200).map(lambda n: Decimal(n) / 100))
def test_boost_reaches_the_target_and_never_passes_below(
        side, token, equity, leverage, price, lt, s, target):
    book = opened(side, token, equity, leverage, price, lt).book
    before = health(book, price)
    result = boost(book, price, target, swap_cost=s)
    if before is not None and before <= target:
        assert (result.collateral_delta, result.debt_delta) == (0, 0)
        event("already at target")
        return
    event("boosted")
    assert result.health is not None and result.health >= target
    _, debt_value = result.book.values(price)
    assert (result.health - target) * debt_value <= _excess_bound(book, price, target)
    pc, pd = book.unit_values(price)
    assert result.collateral_delta * pc <= result.debt_delta * pd * (1 - s)


@settings(max_examples=300)
@given(sides, tokens, equities, leverages, prices, thresholds, swap_costs,
       st.integers(0, 10 ** 7), st.integers(0, 10 ** 7), st.integers(0, 10 ** 7))
def test_pnl_at_entry_is_minus_the_fees(side, token, equity, leverage, price, lt, s,
                                        origination, batcher, network):
    result = opened(side, token, equity, leverage, price, lt, s)
    fees = FeeBill(origination=origination, batcher=batcher, network=network,
                   swap=result.swap_fee)
    with_fees = unrealised_pnl(result.book, price, equity_posted=equity, fees=fees)
    without = unrealised_pnl(result.book, price, equity_posted=equity, fees=FeeBill())
    assert without.pnl - with_fees.pnl == fees.outside  # exactly the fees paid outside
    # ... and the swap's fee is what the book lost: all fees, to one lovelace of rounding.
    assert abs(with_fees.pnl + fees.total) <= 1
    if s == 0:  # only whole base units are lost: less than one of the token's
        assert abs(without.pnl) <= max(result.book.unit_values(price)) + 1


@settings(max_examples=300)
@given(sides, tokens, equities, leverages, prices, thresholds,
       st.integers(0, 5000).map(lambda n: Decimal(1) + Decimal(n) / 10_000))
def test_borrow_interest_lowers_pnl_by_the_accrued_debt(side, token, equity, leverage,
                                                         price, lt, growth):
    book = opened(side, token, equity, leverage, price, lt).book
    grown = accrued(book, borrow=IndexSpan(D("1.5"), D("1.5") * growth))
    assert grown.debt >= book.debt and grown.collateral == book.collateral
    base = unrealised_pnl(book, price, equity_posted=equity, fees=FeeBill())
    later = unrealised_pnl(grown, price, equity_posted=equity, fees=FeeBill())
    _, owed_before = book.values(price)
    _, owed_after = grown.values(price)
    assert base.pnl - later.pnl == owed_after - owed_before


@given(sides, tokens, equities, leverages, prices, thresholds,
       st.integers(0, 3000).map(lambda n: Decimal(n) / 10_000))
def test_carry_at_equal_rates_is_the_rate_on_equity(side, token, equity, leverage, price,
                                                     lt, rate):
    book = opened(side, token, equity, leverage, price, lt).book
    result = carry(book, price, supply_apy=rate, borrow_apr=rate, holding_days=D(365))
    collateral_value, debt_value = book.values(price)
    assert result.per_year == rate * (collateral_value - debt_value) == result.over_holding


@given(st.integers(11, 100).map(lambda n: Decimal(n) / 10))
def test_leverage_and_ltv_are_inverse(leverage):
    assert abs(leverage_for_ltv(ltv_for_leverage(leverage)) - leverage) < Decimal("1e-25")


def test_boost_from_no_debt():
    # 300 ADA of TOK, nothing owed: borrow u with (300 + u) × 0.8 = 2u, u = 200 ADA
    # (a lovelace less for the rounding of what it buys).
    result = boost(long_book(debt=0), D("0.5"), D(2))
    assert result.debt_delta == 200 * ADA - 1
    assert result.health is not None and D(2) <= result.health < D("2.0000001")


@settings(max_examples=200)
@given(sides, tokens, equities, leverages, prices, thresholds,
       st.integers(1, 5000).map(lambda n: Decimal(1) + Decimal(n) / 10_000))
def test_interest_moves_the_liquidation_price_against_the_position(
        side, token, equity, leverage, price, lt, growth):
    book = opened(side, token, equity, leverage, price, lt).book
    grown = accrued(book, borrow=IndexSpan(D(1), growth))
    before, after = liquidation_price(book), liquidation_price(grown)
    assert before is not None and after is not None
    assert (after > before) if side == "long" else (after < before)


@settings(max_examples=200)
@given(sides, tokens, equities, leverages, prices, thresholds,
       st.integers(0, 5000).map(lambda n: Decimal(1) + Decimal(n) / 10_000))
def test_supply_interest_raises_pnl_by_the_collateral_earned(side, token, equity, leverage,
                                                              price, lt, growth):
    book = opened(side, token, equity, leverage, price, lt).book
    grown = accrued(book, supply=IndexSpan(D("0.02"), D("0.02") * growth))
    assert grown.collateral >= book.collateral and grown.debt == book.debt
    base = unrealised_pnl(book, price, equity_posted=equity, fees=FeeBill())
    later = unrealised_pnl(grown, price, equity_posted=equity, fees=FeeBill())
    held_before, _ = book.values(price)
    held_after, _ = grown.values(price)
    assert later.pnl - base.pnl == held_after - held_before


def test_accrual_rounds_against_the_borrower():
    index = IndexSpan(D(3), D(4))
    assert accrue(10, index, round_up=True) == 14  # 13.33… owed
    assert accrue(10, index, round_up=False) == 13  # 13.33… held


def test_reduce_share_example():
    result = reduce_share(long_book(600 * ADA + 1, 200 * ADA + 1), D("0.25"))
    assert (result.collateral_delta, result.debt_delta) == (150 * ADA, 50 * ADA + 1)
    assert reduce_share(long_book(), D(1)).book == long_book(0, 0)
    for bad in (D(0), D("1.5"), D(-1)):
        with pytest.raises(RiskError, match="share to close"):
            reduce_share(long_book(), bad)


@settings(max_examples=200)
@given(sides, tokens, equities, leverages, prices, thresholds,
       st.integers(1, 999).map(lambda n: Decimal(n) / 1000))
def test_a_partial_close_never_leaves_the_rest_less_healthy(side, token, equity, leverage,
                                                            price, lt, fraction):
    book = opened(side, token, equity, leverage, price, lt).book
    result = reduce_share(book, fraction)
    before, after = health(book, price), health(result.book, price)
    assert before is not None
    assert after is None or after >= before
    assert result.book.collateral + result.collateral_delta == book.collateral
