"""Venue selection (trading/selection.py): fixed market snapshots, and properties over
generated ones."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.units import ADA_TOKEN
from protocols.model import MarketStatus
from tests.support.markets import DJED, NOW_MS, SNEK, market, option
from trading.selection import QuoteError, QuoteRequest, candidate_json, rank_venues

MAX_AGE = 900.0


def long_snek(size_ada: int = 1000, leverage: str = "2", days: str = "30", **kw) -> QuoteRequest:
    return QuoteRequest("long", SNEK, size_ada * 1_000_000, Decimal(leverage), Decimal(days), **kw)


def rank(markets, request):
    return rank_venues(markets, request, now_ms=NOW_MS, max_age_s=MAX_AGE)


# --- fixed snapshots ------------------------------------------------------------------

def test_long_picks_the_cheapest_eligible_and_prices_it_exactly():
    cheap = market("liqwid", "Ada", collaterals=(option(SNEK, "0.5"),), apr="0.073",
                   origination="0.01", batcher=2_000_000)
    dear = market("surf", "pool-ada-snek", collaterals=(option(SNEK, "0.6"),), apr="0.3",
                  batcher=1_500_000, fixed=True)
    ranking = rank([dear, cheap], long_snek())
    assert [c.market_id for c in ranking.candidates] == ["Ada", "pool-ada-snek"]
    best = ranking.chosen
    assert best is not None and best.market is cheap and best.rank == 1
    # 1000 ADA at 2x: debt 500 ADA.
    assert best.debt == 500_000_000
    cost = best.cost
    assert cost.interest == Decimal(500_000_000) * Decimal("0.073") * 30 / 365
    assert cost.origination == Decimal(5_000_000)
    assert cost.batcher == Decimal(4_000_000)  # two batcher transactions
    assert cost.swap == Decimal(3_000_000)  # 0.3 % of 500 ADA, swapped twice
    assert cost.total == cost.interest + cost.origination + cost.batcher + cost.swap
    other = ranking.candidates[1]
    assert other.eligible and not other.chosen and other.reasons == ()
    assert any("fixed when the loan opens" in n for n in other.notes)
    assert any("more than liqwid/Ada" in n for n in other.notes)


def test_short_borrows_the_token_against_ada_and_sizes_the_debt_in_tokens():
    snek_pool = market("surf", "snek", borrow=SNEK, collaterals=(option(ADA_TOKEN, "0.7"),),
                       liquidity=300_000)
    wrong_way = market("liqwid", "Ada", collaterals=(option(SNEK, "0.7"),))
    request = QuoteRequest("short", SNEK, 1000 * 1_000_000, Decimal(3), Decimal(7),
                           price_ada_per_token=Decimal("0.0025"))
    ranking = rank([wrong_way, snek_pool], request)
    assert ranking.chosen.market is snek_pool
    # debt = 1000 ADA × 2/3 = 666.67 ADA at 0.0025 ADA per SNEK = 266,667 SNEK (rounded up).
    assert ranking.chosen.debt == 266_667
    rejected = ranking.candidates[1]
    assert rejected.market is wrong_way and not rejected.eligible
    assert [r.code for r in rejected.reasons] == ["pair"]
    assert "lends ADA, not SNEK" in rejected.reasons[0].text
    assert rejected.cost is None


def test_a_short_without_a_price_is_refused():
    with pytest.raises(QuoteError, match="price"):
        QuoteRequest("short", SNEK, 10**9, Decimal(2))


@pytest.mark.parametrize("change, match", [
    ({"side": "sideways"}, "side"),
    ({"leverage": Decimal(1)}, "leverage"),
    ({"leverage": Decimal("0.5")}, "leverage"),
    ({"size": 0}, "size"),
    ({"size": -5}, "size"),
    ({"holding_days": Decimal(-1)}, "holding"),
    ({"swap_cost": Decimal(1)}, "swap"),
    ({"asset": ADA_TOKEN}, "other than ADA"),
    ({"leverage": Decimal("NaN")}, "leverage"),
])
def test_bad_requests_are_refused(change, match):
    base = {"side": "long", "asset": SNEK, "size": 10**9, "leverage": Decimal(2)}
    with pytest.raises(QuoteError, match=match):
        QuoteRequest(**{**base, **change})


def test_the_ltv_boundary_is_exact():
    exactly = market("v", "a", collaterals=(option(SNEK, "0.5"),))
    just_under = market("v", "b", collaterals=(option(SNEK, "0.4999"),))
    ranking = rank([exactly, just_under], long_snek(leverage="2"))
    by_id = {c.market_id: c for c in ranking.candidates}
    assert by_id["a"].eligible
    assert [r.code for r in by_id["b"].reasons] == ["ltv"]
    text = by_id["b"].reasons[0].text
    assert "at most 1.9996x" in text and "needs LTV 0.5 " in text and "short by 0.0001)" in text
    # 3x needs 2/3 exactly: 0.6666 is not enough, 0.6667 is.
    r3 = rank([market("v", "lo", collaterals=(option(SNEK, "0.6666"),)),
               market("v", "hi", collaterals=(option(SNEK, "0.6667"),))], long_snek(leverage="3"))
    assert [c.market_id for c in r3.eligible] == ["hi"]


def test_a_rejected_market_gets_every_reason_not_just_the_first():
    bad = market("liqwid", "Ada", collaterals=(option(SNEK, "0.3"),), liquidity=1_000_000,
                 min_size=10**12, status=MarketStatus(batching=True, frozen=True),
                 as_of_ms=NOW_MS - 2000 * 1000)
    candidate = rank([bad], long_snek(leverage="2")).candidates[0]
    assert not candidate.eligible and not candidate.chosen
    assert sorted(r.code for r in candidate.reasons) == ["liquidity", "ltv", "min_size", "stale",
                                                         "status"]
    texts = " | ".join(r.text for r in candidate.reasons)
    assert "batching, frozen" in texts and "2000 s old (limit 900 s)" in texts
    assert "available liquidity 1 ADA < debt 500" in texts
    assert "below the market's minimum 1000000" in texts
    assert candidate.cost is not None  # still priced, for comparison


def test_unknown_collateral_names_what_the_market_takes():
    only_djed = market("liqwid", "Ada", collaterals=(option(DJED, "0.7"),))
    candidate = rank([only_djed], long_snek()).candidates[0]
    assert candidate.reasons[0].text == "does not take SNEK as collateral (takes DJED)"


def test_a_market_without_collateral_options_says_they_are_not_known():
    # Liqwid's recorded markets carry no collateral parameters: never planned, and why.
    unknown = market("liqwid", "Ada", collaterals=())
    candidate = rank([unknown], long_snek()).candidates[0]
    assert "collateral options are not known" in candidate.reasons[0].text


def test_stale_is_never_chosen_even_when_cheapest():
    fresh = market("a", "fresh", collaterals=(option(SNEK, "0.6"),), apr="0.5")
    stale = market("b", "old", collaterals=(option(SNEK, "0.6"),), apr="0.01",
                   as_of_ms=NOW_MS - 901 * 1000)
    ranking = rank([stale, fresh], long_snek())
    assert ranking.chosen.market is fresh
    assert [r.code for r in ranking.candidates[1].reasons] == ["stale"]


def test_ties_are_broken_by_venue_then_market():
    same = dict(collaterals=(option(SNEK, "0.6"),), apr="0.1")
    markets = [market("surf", "b", **same), market("liqwid", "z", **same),
               market("surf", "a", **same)]
    ids = [(c.venue, c.market_id) for c in rank(markets, long_snek()).candidates]
    assert ids == [("liqwid", "z"), ("surf", "a"), ("surf", "b")]
    assert ids == [(c.venue, c.market_id)
                   for c in rank(list(reversed(markets)), long_snek()).candidates]


def test_no_eligible_market_says_so():
    ranking = rank([market("v", "x", collaterals=(option(SNEK, "0.1"),))], long_snek())
    assert ranking.chosen is None and ranking.notes == ("no market is eligible for this position",)


def test_json_line_keeps_decimals_as_strings_and_ints_as_ints():
    line = candidate_json(rank([market("liqwid", "Ada", collaterals=(option(SNEK, "0.5"),),
                                       apr="0.073", batcher=2_000_000)],
                               long_snek()).candidates[0])
    assert line["debt"] == 500_000_000 and line["rank"] == 1 and line["chosen"] is True
    assert line["max_ltv"] == "0.5" and line["borrow_apr"] == "0.073"
    assert line["max_leverage"] == "2"
    assert line["cost_lovelace"]["batcher"] == "4000000"
    assert isinstance(line["cost_lovelace"]["total"], str)


# --- properties ---------------------------------------------------------------------

TOKENS = [ADA_TOKEN, SNEK, DJED]


@st.composite
def markets_strategy(draw):
    count = draw(st.integers(0, 7))
    result = []
    for index in range(count):
        borrow = draw(st.sampled_from(TOKENS))
        others = [t for t in TOKENS if t != borrow]
        taken = draw(st.lists(st.sampled_from(others), unique=True, max_size=2))
        collaterals = tuple(option(t, str(draw(st.decimals("0", "0.95", places=3))))
                            for t in taken)
        result.append(market(
            draw(st.sampled_from(["liqwid", "surf", "levvy"])), f"m{index}", borrow, collaterals,
            apr=str(draw(st.decimals("0", "2", places=4))),
            liquidity=draw(st.integers(0, 10**13)),
            min_size=draw(st.one_of(st.none(), st.integers(0, 10**10))),
            origination=str(draw(st.decimals("0", "0.02", places=3))),
            batcher=draw(st.integers(0, 5_000_000)),
            status=MarketStatus(*draw(st.lists(st.booleans(), min_size=4, max_size=4))),
            as_of_ms=NOW_MS - draw(st.integers(-10_000, 2_000_000)),
            fixed=draw(st.booleans())))
    return result


requests = st.builds(
    QuoteRequest,
    side=st.sampled_from(["long", "short"]),
    asset=st.sampled_from([SNEK, DJED]),
    size=st.integers(1, 10**13),
    leverage=st.decimals("1.01", "20", places=2),
    holding_days=st.decimals("0", "365", places=1),
    price_ada_per_token=st.decimals("0.0001", "100", places=4),
    swap_cost=st.decimals("0", "0.05", places=4),
)


@settings(max_examples=300, deadline=None)
@given(markets_strategy(), requests)
def test_properties_of_a_ranking(markets, request):
    ranking = rank(markets, request)
    assert sorted(id(c.market) for c in ranking.candidates) == sorted(id(m) for m in markets)
    assert [c.rank for c in ranking.candidates] == list(range(1, len(markets) + 1))
    chosen = [c for c in ranking.candidates if c.chosen]
    eligible = [c for c in ranking.candidates if c.eligible]
    assert len(chosen) == (1 if eligible else 0)
    for candidate in ranking.candidates:
        # A rejected market is never chosen, and says why; an eligible one has no reason.
        assert candidate.eligible == (candidate.reasons == ())
        # Stale is never eligible.
        if candidate.market.stale(NOW_MS, MAX_AGE):
            assert not candidate.eligible and "stale" in {r.code for r in candidate.reasons}
        if not candidate.market.status.usable:
            assert not candidate.eligible
    if chosen:
        # The chosen one costs the least among the eligible, and comes first.
        assert chosen[0] is ranking.candidates[0]
        assert chosen[0].cost.total == min(c.cost.total for c in eligible)
    # Eligible ones come first, cheapest first.
    flags = [c.eligible for c in ranking.candidates]
    assert flags == sorted(flags, reverse=True)
    totals = [c.cost.total for c in eligible]
    assert totals == sorted(totals)


@settings(max_examples=300, deadline=None)
@given(markets_strategy(), requests, st.decimals("0", "10", places=2))
def test_raising_the_leverage_never_makes_a_rejected_market_eligible(markets, request, extra):
    higher = replace(request, leverage=request.leverage + extra)
    low = {c.market_id: c for c in rank(markets, request).candidates}
    high = {c.market_id: c for c in rank(markets, higher).candidates}
    for market_id, candidate in low.items():
        # A bigger debt can reach a market's minimum size; nothing else gets easier.
        blocking = {r.code for r in candidate.reasons} - {"min_size"}
        if blocking:
            assert not high[market_id].eligible
            assert blocking <= {r.code for r in high[market_id].reasons}


@settings(max_examples=100, deadline=None)
@given(markets_strategy(), requests, st.randoms(use_true_random=False))
def test_the_ranking_does_not_depend_on_input_order(markets, request, rnd):
    shuffled = list(markets)
    rnd.shuffle(shuffled)
    first = [(c.venue, c.market_id, c.chosen) for c in rank(markets, request).candidates]
    second = [(c.venue, c.market_id, c.chosen) for c in rank(shuffled, request).candidates]
    assert first == second
