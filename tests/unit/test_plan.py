"""plan (trading/plan.py): the legs, fees and risk figures of opening and closing a
position, computed before anything runs; refusals as results."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from core.units import ADA_TOKEN, Asset, Token
from protocols.model import MarketStatus
from tests.support.markets import NOW_MS, market, option
from trading.legs import LegKind
from trading.plan import ClosePlan, Plan, Posted, Refusal, plan_close, plan_deleverage, \
    plan_json, plan_open
from trading.pnl import IndexSpan
from trading.risk import Book, RiskError, health, loops_needed

D = Decimal
TOK = Token(Asset("ab" * 28, "544f4b"), 6, "TOK")
ADA = 1_000_000
TOK_UNIT = TOK.asset.unit


def long_market(**kw):
    return market("liqwid", "ada", ADA_TOKEN, (option(TOK, "0.6", "0.65"),), **kw)


def short_market(**kw):
    return market("liqwid", "tok", TOK, (option(ADA_TOKEN, "0.6", "0.65"),), **kw)


def open_(side, markets, leverage="2", equity=100 * ADA, swap_cost="0", **kw):
    return plan_open(side, TOK, equity, D(leverage), markets, price=D("0.5"),
                     swap_cost=D(swap_cost), now_ms=NOW_MS, max_age_s=60, **kw)


def kinds(plan):
    return [leg.kind for leg in plan.legs]


LOOP = [LegKind.BORROW, LegKind.SWAP, LegKind.DEPOSIT_COLLATERAL]


def test_long_plan_by_hand():
    # 100 ADA at 2x, TOK at 0.5 ADA, max LTV 0.6: buy 200 TOK; borrow 60, 36, then the
    # last 4 ADA (of 100), buying 120, 72, 8 TOK: 400 TOK held, 100 ADA owed.
    plan = open_("long", [long_market(origination="0.001", batcher=2 * ADA)])
    assert isinstance(plan, Plan)
    assert (plan.venue, plan.market_id, plan.loops) == ("liqwid", "ada", 3)
    assert kinds(plan) == [LegKind.SWAP, LegKind.DEPOSIT_COLLATERAL] + LOOP * 3
    borrows = [leg.amount_out for leg in plan.legs if leg.kind is LegKind.BORROW]
    assert borrows == [60 * ADA, 36 * ADA, 4 * ADA]
    bought = [leg.amount_out for leg in plan.legs if leg.kind is LegKind.SWAP]
    assert bought == [200 * ADA, 120 * ADA, 72 * ADA, 8 * ADA]
    assert plan.legs[0].asset_in == "lovelace" and plan.legs[0].asset_out == TOK_UNIT
    assert plan.book == Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    assert plan.health == D("1.3")  # 200 × 0.65 / 100
    assert plan.realised_leverage == 2
    assert plan.liquidation_price is not None
    assert abs(plan.liquidation_price - D(100) / 260) < D("1e-25")  # 100 / (400 × 0.65)
    assert plan.fees.origination == 100_000  # 0.1 % of 100 ADA
    assert plan.fees.batcher == 7 * 2 * ADA  # 4 deposits and 3 borrows
    assert plan.fees.swap == 0
    # 5 % on 100 ADA for 30 days
    assert abs(plan.carry.over_holding + D("0.05") * 100 * ADA * 30 / 365) < D("1e-20")
    assert loops_needed(D(2), D("0.6")) == plan.loops


def test_short_plan_by_hand():
    # 100 ADA deposited; borrow 120, 72, 8 TOK (of 200 = 100 ADA / 0.5), sold for 60, 36, 4.
    plan = open_("short", [short_market()])
    assert isinstance(plan, Plan)
    assert kinds(plan) == [LegKind.DEPOSIT_COLLATERAL] + LOOP * 3
    assert plan.legs[0].asset_in == "lovelace" and plan.legs[0].amount_in == 100 * ADA
    borrows = [leg.amount_out for leg in plan.legs if leg.kind is LegKind.BORROW]
    assert borrows == [120 * ADA, 72 * ADA, 8 * ADA]
    assert all(leg.asset_out == "lovelace" for leg in plan.legs if leg.kind is LegKind.SWAP)
    assert plan.book == Book("short", TOK, 200 * ADA, 200 * ADA, D("0.65"))
    assert plan.health == D("1.3")
    assert plan.liquidation_price == D("0.65")  # 200 ADA × 0.65 / 200 TOK
    assert plan.realised_leverage == 2


def test_plan_json():
    import json

    plan = open_("long", [long_market()])
    out = json.loads(json.dumps(plan_json(plan)))
    assert out["ok"] is True and out["health"] == "1.3" and out["realised_leverage"] == "2"
    assert out["debt"] == 100 * ADA and len(out["legs"]) == 11
    assert out["legs"][0] == {"leg": "open-00-swap", "kind": "swap", "venue": "liqwid",
                              "asset_in": "lovelace", "amount_in": 100 * ADA,
                              "asset_out": TOK_UNIT, "amount_out": 200 * ADA}
    refused = plan_json(open_("long", []))
    assert refused["ok"] is False and refused["reasons"][0]["code"] == "no_market"
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    closed = plan_json(plan_close(book, D("0.5"), long_market(), price=D("0.5"),
                                  swap_cost=D(0)))
    assert closed["returned_lovelace"] == 50 * ADA and closed["health_after"] == "1.3"


def test_posting_the_token_or_ada():
    # A long posting 200 TOK (100 ADA) deposits it as it is: no first swap.
    long = open_("long", [long_market()], equity=Posted(TOK, 200 * ADA))
    assert isinstance(long, Plan) and long.equity == 100 * ADA
    assert kinds(long) == [LegKind.DEPOSIT_COLLATERAL] + LOOP * 3
    assert long.legs[0].asset_in == TOK_UNIT and long.legs[0].amount_in == 200 * ADA
    assert long.book == Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    # A short posting the token sells it for ADA first.
    short = open_("short", [short_market()], equity=Posted(TOK, 200 * ADA))
    assert isinstance(short, Plan)
    assert kinds(short) == [LegKind.SWAP, LegKind.DEPOSIT_COLLATERAL] + LOOP * 3
    assert short.book == Book("short", TOK, 200 * ADA, 200 * ADA, D("0.65"))
    ada = open_("short", [short_market()], equity=Posted(ADA_TOKEN, 100 * ADA))
    assert isinstance(ada, Plan) and ada.book == short.book


def test_swap_cost_is_counted():
    plan = open_("long", [long_market()], swap_cost="0.01")
    assert isinstance(plan, Plan)
    assert plan.fees.swap > 0
    assert plan.health_after_swap_cost is not None and plan.health is not None
    assert plan.health_after_swap_cost < plan.health
    assert plan.liquidation_price_with_swap_cost > plan.liquidation_price  # type: ignore


def test_refusals_each_kind():
    ltv = open_("long", [long_market()], leverage="3")  # needs LTV 0.667 > 0.6
    assert isinstance(ltv, Refusal) and "ltv" in ltv.codes
    liquidity = open_("long", [long_market(liquidity=10 * ADA)])
    assert isinstance(liquidity, Refusal) and "liquidity" in liquidity.codes
    small = open_("long", [long_market(min_size=1000 * ADA)])
    assert isinstance(small, Refusal) and "min_size" in small.codes
    none = open_("long", [short_market()])
    assert isinstance(none, Refusal) and "no_market" in none.codes and "pair" in none.codes
    empty = open_("long", [])
    assert isinstance(empty, Refusal) and empty.codes == ("no_market",)
    # Within the max LTV, but swap costs keep looping from ever reaching it.
    costly = open_("long", [long_market()], leverage="2.45", swap_cost="0.05")
    assert isinstance(costly, Refusal) and costly.codes == ("ltv",)


def test_venue_given():
    frozen = replace(long_market(), venue="surf", status=MarketStatus(frozen=True))
    markets = [long_market(apr="0.09"), frozen]
    refused = open_("long", markets, venue="surf")
    assert isinstance(refused, Refusal) and refused.codes == ("status",)
    assert "surf" in refused.reasons[0].text
    unknown = open_("long", markets, venue="levvy")
    assert isinstance(unknown, Refusal) and unknown.codes == ("no_market",)
    chosen = open_("long", [long_market(apr="0.09"), replace(long_market(), venue="surf")],
                   venue="liqwid")
    assert isinstance(chosen, Plan) and chosen.venue == "liqwid"
    best = open_("long", [long_market(apr="0.09"), replace(long_market(), venue="surf")])
    assert isinstance(best, Plan) and best.venue == "surf"  # cheaper


def test_levvy_has_no_price_liquidation():
    levvy = replace(long_market(), venue="levvy", partial_repay=False)
    plan = open_("long", [levvy])
    assert isinstance(plan, Plan) and plan.book.liquidation_threshold is None
    assert plan.health is None and plan.liquidation_price is None
    assert plan.realised_leverage == 2


def walk(plan, book, price, max_ltv):
    """Replay a close plan's legs on `book`: after every withdrawal the collateral left
    covers the debt left at `max_ltv` (the venue would refuse it otherwise). Returns
    (withdrawn, repaid)."""
    pc, pd = book.unit_values(price)
    held, owed = book.collateral, book.debt
    withdrawn = repaid = 0
    for leg in plan.legs:
        if leg.kind is LegKind.WITHDRAW_COLLATERAL:
            held -= leg.amount_out
            withdrawn += leg.amount_out
            assert held >= 0 and held * pc * max_ltv >= owed * pd, (leg, held, owed)
        elif leg.kind is LegKind.REPAY:
            owed -= leg.amount_in
            repaid += leg.amount_in
            assert owed >= 0
            if leg.asset_out is not None:  # the repay that ends the loan releases the rest
                assert owed == 0, leg
                held -= leg.amount_out
                withdrawn += leg.amount_out
    return withdrawn, repaid


def test_close_long_unwinds_in_rounds_within_the_max_ltv():
    # 400 TOK (200 ADA at 0.5) against 100 ADA, max LTV 0.6: only 66.7 TOK may leave at
    # first (333.3 must stay for the debt); each repay frees more: three rounds, then
    # the rest is withdrawn and sold.
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    full = plan_close(book, D(1), long_market(batcher=ADA), price=D("0.5"), swap_cost=D(0))
    assert isinstance(full, ClosePlan)
    round_ = [LegKind.WITHDRAW_COLLATERAL, LegKind.SWAP, LegKind.REPAY]
    assert kinds(full) == round_ * 3 + [LegKind.WITHDRAW_COLLATERAL, LegKind.SWAP]
    assert full.legs[0].amount_out == 66_666_666 and full.legs[2].amount_in == 33_333_333
    assert walk(full, book, D("0.5"), D("0.6")) == (400 * ADA, 100 * ADA)
    assert abs(full.returned_lovelace - 100 * ADA) <= 3  # base-unit rounding only
    assert full.fees.batcher == 7 * ADA  # four withdrawals and three repays
    assert full.book_after == replace(book, collateral=0, debt=0)
    assert "3 rounds" in full.notes[0]
    half = plan_close(book, D("0.5"), long_market(), price=D("0.5"), swap_cost=D(0))
    assert isinstance(half, ClosePlan) and abs(half.returned_lovelace - 50 * ADA) <= 3
    assert walk(half, book, D("0.5"), D("0.6")) == (200 * ADA, 50 * ADA)
    assert half.book_after == replace(book, collateral=200 * ADA, debt=50 * ADA)
    assert half.health_after == D("1.3")
    assert sum(half.principal.values()) == 50 * ADA


def test_close_at_the_max_ltv_has_no_room():
    book = Book("long", TOK, 400 * ADA, 120 * ADA, D("0.65"))  # LTV 0.6 exactly
    stuck = plan_close(book, D(1), long_market(), price=D("0.5"), swap_cost=D(0))
    assert isinstance(stuck, Refusal) and stuck.codes == ("no_room",)
    assert "repay part from the wallet" in stuck.reasons[0].text


def test_close_repays_the_interest():
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    grown = plan_close(book, D(1), long_market(), price=D("0.5"), swap_cost=D(0),
                       borrow_index=IndexSpan(D(1), D("1.01")))
    assert isinstance(grown, ClosePlan)
    repays = [leg for leg in grown.legs if leg.kind is LegKind.REPAY]
    assert sum(leg.amount_in for leg in repays) == 101 * ADA
    assert sum(grown.principal.values()) == 100 * ADA  # the rest is interest
    assert all(grown.principal[leg.step] <= leg.amount_in for leg in repays)
    assert abs(grown.returned_lovelace - 99 * ADA) <= 3


@settings(max_examples=100, deadline=None)
@given(side=st.sampled_from(["long", "short"]), collateral=st.integers(0, 10**12),
       debt=st.integers(0, 10**12), fraction=st.decimals("0.01", "1", places=2),
       price=st.decimals("0.0001", "100", places=4),
       swap_cost=st.decimals("0", "0.03", places=3))
def test_close_properties(side, collateral, debt, fraction, price, swap_cost):
    book = Book(side, TOK, collateral, debt, D("0.8"))
    m = long_market() if side == "long" else short_market()
    plan = plan_close(book, fraction, m, price=price, swap_cost=swap_cost)
    if isinstance(plan, Refusal):
        assert set(plan.codes) <= {"under_water", "no_room", "rounds"}
        event("refused: " + ",".join(plan.codes))
        return
    event("planned")
    assert plan.returned_lovelace >= 0
    assert all(leg.amount_in >= 0 and leg.amount_out >= 0 for leg in plan.legs)
    withdrawn, repaid = walk(plan, book, price, D("0.6"))
    assert plan.book_after.debt == book.debt - repaid
    assert plan.book_after.collateral == book.collateral - withdrawn
    if fraction == 1:
        assert plan.book_after.debt == 0 and plan.book_after.collateral == 0


def test_close_short_and_under_water():
    book = Book("short", TOK, 200 * ADA, 200 * ADA, D("0.65"))
    full = plan_close(book, D(1), short_market(), price=D("0.5"), swap_cost=D(0))
    assert isinstance(full, ClosePlan)
    # 100 ADA of debt value against 200 ADA: 33.3 ADA may leave first, buying 66.7 TOK.
    assert full.legs[1].amount_in == 33_333_333 and full.legs[1].amount_out == 66_666_666
    assert walk(full, book, D("0.5"), D("0.6")) == (200 * ADA, 200 * ADA)
    assert abs(full.returned_lovelace - 100 * ADA) <= 3
    sunk = plan_close(book, D(1), short_market(), price=D("1.5"), swap_cost=D(0))
    assert isinstance(sunk, Refusal) and sunk.codes == ("under_water",)


def test_surf_partial_close_refused():
    surf = replace(long_market(), venue="surf", partial_repay=False)
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    refused = plan_close(book, D("0.5"), surf, price=D("0.5"))
    assert isinstance(refused, Refusal) and refused.codes == ("partial_repay",)
    assert "repays only in full" in refused.reasons[0].text
    assert isinstance(plan_close(book, D(1), surf, price=D("0.5")), ClosePlan)


decimals = st.sampled_from([0, 6])


@settings(max_examples=150, deadline=None)
@given(side=st.sampled_from(["long", "short"]), places=decimals,
       equity=st.integers(1, 10**6).map(lambda a: a * ADA),
       leverage=st.decimals("1.05", "5", places=2),
       ltv=st.decimals("0.2", "0.85", places=2), gap=st.decimals("0", "0.1", places=2),
       price=st.decimals("0.0001", "100", places=4),
       swap_cost=st.decimals("0", "0.03", places=3), post_token=st.booleans())
def test_plan_properties(side, places, equity, leverage, ltv, gap, price, swap_cost,
                         post_token):
    token = Token(Asset("cd" * 28, "51"), places, "Q")
    borrow, taken = (ADA_TOKEN, token) if side == "long" else (token, ADA_TOKEN)
    m = market("v", "m", borrow, (option(taken, str(ltv), str(ltv + gap)),))
    posted = Posted(token, equity) if post_token else equity
    if post_token and equity * price * 10**6 / 10**places < 1:
        return  # worth less than a lovelace
    plan = plan_open(side, token, posted, leverage, [m], price=price, swap_cost=swap_cost,
                     now_ms=NOW_MS, max_age_s=60)
    if isinstance(plan, Refusal):
        assert plan.reasons
        event("refused: " + ",".join(sorted(set(plan.codes))))
        return
    event("planned")
    assert plan.health is None or plan.health >= 1
    for leg in plan.legs:
        assert isinstance(leg.amount_in, int) and leg.amount_in >= 0
        assert isinstance(leg.amount_out, int) and leg.amount_out >= 0
    # The book is what the legs move.
    assert plan.book.debt == sum(g.amount_out for g in plan.legs if g.kind is LegKind.BORROW)
    assert plan.book.collateral == sum(g.amount_in for g in plan.legs
                                       if g.kind is LegKind.DEPOSIT_COLLATERAL)
    if swap_cost == 0 and places == 6 and plan.equity >= 10 * ADA \
            and plan.realised_leverage is not None:
        assert abs(plan.realised_leverage - leverage) <= D("0.01") * leverage


# --- venues where each borrow is its own loan (Surf's vaults) ----------------------------

def per_loan(make):
    return replace(make(), venue="surf", partial_repay=False, loan_per_borrow=True)


def test_a_loan_per_borrow_long_by_hand():
    # 100 ADA at 2x, TOK at 0.5, max LTV 0.6: buy 200 TOK; loan 1 locks them and borrows
    # 60 ADA (buying 120 TOK), loan 2 locks those for 36 ADA (72 TOK), loan 3 locks those
    # for the last 4 ADA, whose 8 TOK stay in the wallet. No deposit legs.
    plan = open_("long", [per_loan(long_market)])
    assert isinstance(plan, Plan)
    assert kinds(plan) == [LegKind.SWAP] + [LegKind.BORROW, LegKind.SWAP] * 3
    assert plan.loans == ((200 * ADA, 60 * ADA), (120 * ADA, 36 * ADA), (72 * ADA, 4 * ADA))
    borrows = [leg for leg in plan.legs if leg.kind is LegKind.BORROW]
    assert [(b.asset_in, b.amount_in) for b in borrows] == [
        (TOK_UNIT, 200 * ADA), (TOK_UNIT, 120 * ADA), (TOK_UNIT, 72 * ADA)]
    assert plan.book == Book("long", TOK, 392 * ADA, 100 * ADA, D("0.65"), held=8 * ADA)
    # The weakest loans are at max LTV: 200 × 0.5 × 0.65 / 60, not the pooled 1.274.
    assert plan.health is not None and abs(plan.health - D("0.65") / D("0.6")) < D("1e-20")
    assert plan.realised_leverage == 2  # the wallet's 8 TOK are exposure all the same
    assert plan.liquidation_price is not None
    assert abs(plan.liquidation_price - D("0.6") * D("0.5") / D("0.65")) < D("1e-20")
    assert plan_json(plan)["held"] == 8 * ADA and len(plan_json(plan)["loans"]) == 3
    assert plan.close_bridge == 0  # no swap cost here: each sale pays the next repay
    costly = open_("long", [per_loan(long_market)], swap_cost="0.01")
    assert isinstance(costly, Plan) and costly.close_bridge is not None
    assert costly.close_bridge > 0 and any("wallet's own" in n for n in costly.notes)
    pooled = open_("long", [long_market()])
    assert isinstance(pooled, Plan) and pooled.close_bridge is None


def test_a_loan_per_borrow_long_closes_loan_by_loan_with_a_bridge():
    market = per_loan(long_market)
    plan = open_("long", [market])
    assert isinstance(plan, Plan)
    flat = plan_close(plan.book, D(1), market, price=D("0.5"), swap_cost=D(0), loans=plan.loans)
    assert isinstance(flat, ClosePlan)
    assert [leg.kind for leg in flat.legs] == [LegKind.SWAP] + [LegKind.REPAY, LegKind.SWAP] * 3
    repays = [leg for leg in flat.legs if leg.kind is LegKind.REPAY]
    assert [(r.amount_in, r.asset_out, r.amount_out) for r in repays] == [
        (4 * ADA, TOK_UNIT, 72 * ADA), (36 * ADA, TOK_UNIT, 120 * ADA),
        (60 * ADA, TOK_UNIT, 200 * ADA)]
    assert flat.principal == {r.step: r.amount_in for r in repays}
    assert (flat.returned_lovelace, flat.bridge) == (100 * ADA, 0)
    # 10% lower: each loan's released tokens buy less than the next loan owes; the wallet
    # lends up to 10 ADA for a moment (before the last, biggest loan's 200 TOK come back).
    lower = plan_close(plan.book, D(1), market, price=D("0.45"), swap_cost=D(0),
                       loans=plan.loans)
    assert isinstance(lower, ClosePlan)
    assert (lower.returned_lovelace, lower.bridge) == (80 * ADA, 10 * ADA)
    assert "wallet's own" in lower.notes[0]
    # Interest: each repay pays its loan's principal grown by the index.
    grown = plan_close(plan.book, D(1), market, price=D("0.5"), swap_cost=D(0),
                       loans=plan.loans, borrow_index=IndexSpan(D(1), D("1.01")))
    assert isinstance(grown, ClosePlan)
    assert [leg.amount_in for leg in grown.legs if leg.kind is LegKind.REPAY] == [
        4_040_000, 36_360_000, 60_600_000]
    assert grown.principal == {leg.step: p for leg, p in zip(
        [leg for leg in grown.legs if leg.kind is LegKind.REPAY], [4 * ADA, 36 * ADA, 60 * ADA])}
    half = plan_close(plan.book, D("0.5"), market, price=D("0.5"), loans=plan.loans)
    assert isinstance(half, Refusal) and half.codes == ("partial_repay",)
    sunk = plan_close(plan.book, D(1), market, price=D("0.2"), swap_cost=D(0), loans=plan.loans)
    assert isinstance(sunk, Refusal) and sunk.codes == ("under_water",)


def test_a_loan_per_borrow_short_by_hand():
    # 100 ADA at 2x short of TOK at 0.5: 200 TOK of debt over loans locking 100, 60 and
    # 36 ADA; the last sale's 4 ADA stay in the wallet.
    market = per_loan(short_market)
    plan = open_("short", [market])
    assert isinstance(plan, Plan)
    assert kinds(plan) == [LegKind.BORROW, LegKind.SWAP] * 3
    assert plan.loans == ((100 * ADA, 120 * ADA), (60 * ADA, 72 * ADA), (36 * ADA, 8 * ADA))
    assert plan.book.held == 4 * ADA and plan.book.collateral == 196 * ADA
    close = plan_close(plan.book, D(1), market, price=D("0.5"), swap_cost=D(0),
                       loans=plan.loans)
    assert isinstance(close, ClosePlan)
    assert [leg.kind for leg in close.legs] == [LegKind.SWAP, LegKind.REPAY] * 3
    buys = [leg for leg in close.legs if leg.kind is LegKind.SWAP]
    assert [b.amount_out for b in buys] == [8 * ADA, 72 * ADA, 120 * ADA]
    assert buys[0].amount_in == 4_200_000  # 4 ADA planned, 5% room for the price
    assert (close.returned_lovelace, close.bridge) == (100 * ADA, 0)
    with_cost = plan_close(plan.book, D(1), market, price=D("0.5"), swap_cost=D("0.01"),
                           loans=plan.loans)
    assert isinstance(with_cost, ClosePlan) and with_cost.bridge > 0


def test_loans_that_do_not_add_up_to_the_book_are_an_error():
    market = per_loan(long_market)
    plan = open_("long", [market])
    assert isinstance(plan, Plan)
    with pytest.raises(RiskError, match="do not add up"):
        plan_close(plan.book, D(1), market, price=D("0.5"), loans=plan.loans[:2])


@settings(max_examples=150, deadline=None)
@given(side=st.sampled_from(["long", "short"]), equity=st.integers(1, 10**6).map(lambda a: a * ADA),
       leverage=st.decimals("1.05", "4", places=2), ltv=st.decimals("0.3", "0.8", places=2),
       price=st.decimals("0.001", "50", places=3), swap_cost=st.decimals("0", "0.02", places=3),
       move=st.decimals("0.5", "1.5", places=2))
def test_loan_per_borrow_properties(side, equity, leverage, ltv, price, swap_cost, move):
    """Each loan within the max LTV, the loans adding up to the book, the plan's health the
    weakest loan's; its close repays every loan in full, last first, and what it returns
    plus the bridge it needs balance what the steps move."""
    borrow, taken = (ADA_TOKEN, TOK) if side == "long" else (TOK, ADA_TOKEN)
    m = replace(market("surf", "m", borrow, (option(taken, str(ltv), str(ltv + D("0.05"))),)),
                partial_repay=False, loan_per_borrow=True)
    plan = plan_open(side, TOK, equity, leverage, [m], price=price, swap_cost=swap_cost,
                     now_ms=NOW_MS, max_age_s=60)
    if isinstance(plan, Refusal):
        event("refused: " + ",".join(sorted(set(plan.codes))))
        return
    assert LegKind.DEPOSIT_COLLATERAL not in kinds(plan)
    pc, pd = plan.book.unit_values(price)
    for collateral, debt in plan.loans:
        assert debt * pd <= ltv * collateral * pc + pd  # within the LTV (one unit of rounding)
    assert sum(c for c, _ in plan.loans) == plan.book.collateral
    assert sum(d for _, d in plan.loans) == plan.book.debt
    healths = [health(Book(side, TOK, c, d, ltv + D("0.05")), price)
               for c, d in plan.loans if d]
    assert plan.health == min(healths)  # the weakest loan's, not the pooled figure
    at_entry = plan_close(plan.book, D(1), m, price=price, swap_cost=swap_cost,
                          loans=plan.loans)
    assert plan.close_bridge == (at_entry.bridge if isinstance(at_entry, ClosePlan) else None)
    close = plan_close(plan.book, D(1), m, price=price * move, swap_cost=swap_cost,
                       loans=plan.loans)
    if isinstance(close, Refusal):
        assert close.codes == ("under_water",)
        event("close under water")
        return
    event("closed")
    repays = [leg for leg in close.legs if leg.kind is LegKind.REPAY]
    assert [(r.amount_in, r.amount_out) for r in repays] == \
        [(d, c) for c, d in reversed(plan.loans)]
    assert close.bridge >= 0 and close.returned_lovelace >= 0
    assert sum(close.principal.values()) == plan.book.debt


# --- collateral locked as receipt tokens (Liqwid) -------------------------------------------

QTOK = Asset("cd" * 28, "")


def receipt_market(side, ltv="0.6", threshold="0.65"):
    borrow, taken = (ADA_TOKEN, TOK) if side == "long" else (TOK, ADA_TOKEN)
    return replace(market("liqwid", "m", borrow,
                          (replace(option(taken, ltv, threshold), held_as=QTOK),)),
                   locks_receipts=True)


def test_a_receipt_long_by_hand():
    # As test_long_plan_by_hand, but each round's purchase is supplied only before the
    # next borrow locks it: the last round's 8 TOK stay in the wallet.
    plan = open_("long", [receipt_market("long")])
    assert isinstance(plan, Plan)
    assert kinds(plan) == [LegKind.SWAP] + [LegKind.DEPOSIT_COLLATERAL, LegKind.BORROW,
                                            LegKind.SWAP] * 3
    assert [leg.amount_in for leg in plan.legs if leg.kind is LegKind.DEPOSIT_COLLATERAL] == \
        [200 * ADA, 120 * ADA, 72 * ADA]
    assert plan.book == Book("long", TOK, 392 * ADA, 100 * ADA, D("0.65"), held=8 * ADA)
    assert plan.health == D("1.274")  # 392 × 0.5 × 0.65 / 100: the held 8 do not count
    assert plan.realised_leverage == 2  # they are exposure all the same
    assert plan.receipt == QTOK.unit
    assert any("receipt tokens" in note for note in plan.notes)
    assert plan_json(plan)["held"] == 8 * ADA


def test_a_receipt_long_closes_from_the_wallet_first_and_its_last_repay_releases_the_rest():
    book = Book("long", TOK, 392 * ADA, 100 * ADA, D("0.65"), held=8 * ADA)
    full = plan_close(book, D(1), receipt_market("long"), price=D("0.5"), swap_cost=D(0))
    assert isinstance(full, ClosePlan)
    # The 8 TOK held are sold and repay 4 ADA before anything is withdrawn.
    assert kinds(full)[:2] == [LegKind.SWAP, LegKind.REPAY]
    assert (full.legs[0].amount_in, full.legs[1].amount_in) == (8 * ADA, 4 * ADA)
    last = [leg for leg in full.legs if leg.kind is LegKind.REPAY][-1]
    assert last.asset_out == TOK_UNIT and last.amount_out > 0  # ends the loan, releases
    assert kinds(full)[-2:] == [LegKind.REPAY, LegKind.SWAP]  # no withdrawal after it
    assert full.legs[-1].kind is LegKind.SWAP and full.legs[-1].amount_in == last.amount_out
    assert walk(full, book, D("0.5"), D("0.6")) == (392 * ADA, 100 * ADA)
    assert abs(full.returned_lovelace - 100 * ADA) <= 3
    assert full.book_after == replace(book, collateral=0, debt=0, held=0)
    # A partial close sells its share of the holdings and withdraws the rest of its share:
    # the loan stays open, so nothing is released by a repay.
    half = plan_close(book, D("0.5"), receipt_market("long"), price=D("0.5"), swap_cost=D(0))
    assert isinstance(half, ClosePlan)
    assert half.legs[0].amount_in == 4 * ADA
    assert all(leg.asset_out is None for leg in half.legs if leg.kind is LegKind.REPAY)
    assert half.book_after == replace(book, collateral=196 * ADA, debt=50 * ADA, held=4 * ADA)
    assert walk(half, book, D("0.5"), D("0.6")) == (196 * ADA, 50 * ADA)


@settings(max_examples=150, deadline=None)
@given(side=st.sampled_from(["long", "short"]), equity=st.integers(1, 10**6).map(lambda a: a * ADA),
       leverage=st.decimals("1.05", "4", places=2), ltv=st.decimals("0.3", "0.8", places=2),
       price=st.decimals("0.001", "50", places=3), swap_cost=st.decimals("0", "0.02", places=3),
       move=st.decimals("0.5", "1.5", places=2), fraction=st.sampled_from(["0.5", "1"]))
def test_receipt_venue_properties(side, equity, leverage, ltv, price, swap_cost, move,
                                  fraction):
    """Every borrow locks a supply made since the one before; nothing is supplied after
    the last; the last purchase is held. Its close stays within the max LTV at every
    withdrawal, repays the share's debt, and only a full close's last repay releases."""
    m = receipt_market(side, str(ltv), str(ltv + D("0.05")))
    plan = plan_open(side, TOK, equity, leverage, [m], price=price, swap_cost=swap_cost,
                     now_ms=NOW_MS, max_age_s=60)
    if isinstance(plan, Refusal):
        event("refused: " + ",".join(sorted(set(plan.codes))))
        return
    order = kinds(plan)
    borrows = [i for i, k in enumerate(order) if k is LegKind.BORROW]
    for i in borrows:
        assert order[i - 1] is LegKind.DEPOSIT_COLLATERAL, order
    assert LegKind.DEPOSIT_COLLATERAL not in order[borrows[-1]:], order
    assert plan.book.held == plan.legs[-1].amount_out > 0
    close = plan_close(plan.book, D(fraction), m, price=price * move, swap_cost=swap_cost)
    if isinstance(close, Refusal):
        assert set(close.codes) <= {"under_water", "no_room", "rounds"}, close.codes
        event("close refused")
        return
    event("closed " + fraction)
    withdrawn, repaid = walk(close, plan.book, price * move, ltv)
    assert close.book_after.debt == plan.book.debt - repaid
    assert close.book_after.collateral == plan.book.collateral - withdrawn
    repays = [leg for leg in close.legs if leg.kind is LegKind.REPAY]
    carried = [leg for leg in repays if leg.asset_out]
    if fraction == "1":
        assert close.book_after.debt == 0 and close.book_after.collateral == 0
        assert carried in ([], repays[-1:])  # only the last repay may release
        assert LegKind.WITHDRAW_COLLATERAL not in kinds(close)[len(kinds(close)) - 2:]
    else:
        assert carried == []
    assert close.returned_lovelace >= 0


# --- deleverage --------------------------------------------------------------------------

def test_deleverage_long_sells_the_closed_form_amount_and_repays_all_of_it():
    # 400 TOK (200 ADA at 0.5) against 100 ADA, LT 0.65: health 1.3. To 1.5:
    # v = (1.5 × 100 − 200 × 0.65) / (1.5 − 0.65) = 23.53 ADA of TOK sold, all repaid.
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    plan = plan_deleverage(book, D("1.5"), long_market(), price=D("0.5"), swap_cost=D(0))
    assert isinstance(plan, ClosePlan), plan
    assert kinds(plan) == [LegKind.WITHDRAW_COLLATERAL, LegKind.SWAP, LegKind.REPAY]
    sold, repaid = walk(plan, book, D("0.5"), D("0.6"))
    # The closed form's 47.058824 TOK, solved with one more base unit of debt and
    # rounded up (the swap's rounding never leaves the health below the target).
    assert 0 <= sold - 47_058_824 <= 8 and repaid == sold // 2
    assert plan.returned_lovelace <= 1  # nothing back but rounding
    assert plan.health_after is not None and D("1.5") <= plan.health_after < D("1.5001")
    assert plan.book_after == replace(book, collateral=400 * ADA - sold, debt=100 * ADA - repaid)
    assert plan.fraction == D(sold) / D(400 * ADA) and plan.fraction < 1
    assert sum(plan.principal.values()) == repaid


def test_deleverage_short_buys_back_debt_tokens():
    # 300 ADA against 300 TOK (150 ADA at 0.5), LT 0.65: health 1.3 → to 1.5.
    book = Book("short", TOK, 300 * ADA, 300 * ADA, D("0.65"))
    before = health(book, D("0.5"))
    plan = plan_deleverage(book, D("1.5"), short_market(), price=D("0.5"), swap_cost=D("0.003"))
    assert isinstance(plan, ClosePlan), plan
    assert before is not None and before < D("1.5") <= plan.health_after  # type: ignore[operator]
    assert [leg.kind for leg in plan.legs][-1] is LegKind.REPAY
    assert plan.book_after.debt < book.debt and plan.book_after.collateral < book.collateral


def test_deleverage_interest_is_repaid_before_principal():
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    plan = plan_deleverage(book, D("1.5"), long_market(), price=D("0.5"), swap_cost=D(0),
                           borrow_index=IndexSpan(D(1), D("1.01")))
    assert isinstance(plan, ClosePlan)
    repaid = sum(leg.amount_in for leg in plan.legs if leg.kind is LegKind.REPAY)
    assert sum(plan.principal.values()) == repaid - 1 * ADA


def test_deleverage_refusals():
    book = Book("long", TOK, 400 * ADA, 100 * ADA, D("0.65"))
    healthy = plan_deleverage(book, D("1.2"), long_market(), price=D("0.5"))
    assert isinstance(healthy, Refusal) and healthy.codes == ("healthy",)
    surf = replace(long_market(), partial_repay=False)
    whole = plan_deleverage(book, D("1.5"), surf, price=D("0.5"))
    assert isinstance(whole, Refusal) and whole.codes == ("partial_repay",)
    sunk = Book("long", TOK, 400 * ADA, 250 * ADA, D("0.65"))
    assert plan_deleverage(sunk, D("1.5"), long_market(), price=D("0.5")).codes == \
        ("under_water",)  # type: ignore[union-attr]


def test_deleverage_in_rounds_accepts_only_the_rounds_rounding():
    # 400 TOK against 110 ADA, max LTV 0.6: only a little may leave per round; each
    # round's swap output is rounded down, so the last base units may stay owed.
    book = Book("long", TOK, 400 * ADA, 110 * ADA, D("0.65"))
    plan = plan_deleverage(book, D("1.5"), long_market(), price=D("0.5"),
                           swap_cost=D("0.003"))
    assert isinstance(plan, ClosePlan), plan
    assert "rounds" in plan.notes[0]
    sold, repaid = walk(plan, book, D("0.5"), D("0.6"))
    assert plan.book_after.debt == book.debt - repaid
    assert plan.health_after is not None and plan.health_after > D("1.49999")
    assert plan.returned_lovelace <= 3
