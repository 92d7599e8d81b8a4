"""protocols/market_codec.py: a Market as a stored dict and back, exactly."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.units import ADA_TOKEN, Asset, ReceiptRate, Token
from protocols.market_codec import (MarketCodecError, market_from_dict, market_json,
                                    market_to_dict)
from protocols.model import (CollateralOption, Fees, Market, MarketStatus, OraclePrice,
                             Provenance)
from tests.support.markets import SNEK, market, option, rate

hexes = st.binary(min_size=0, max_size=32).map(bytes.hex)
assets = st.one_of(st.just(Asset()), st.builds(Asset, st.binary(min_size=28, max_size=28)
                                               .map(bytes.hex), hexes))
tokens = st.builds(Token, assets, st.integers(0, 18), st.text(max_size=8))
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=-10**6,
                       max_value=10**6)
amounts = st.integers(0, 2**64 - 1)
provenances = st.builds(Provenance, st.sampled_from(["chain", "api"]), st.integers(0, 2**53),
                        st.text(max_size=20))
prices = st.decimals(allow_nan=False, allow_infinity=False, places=None, min_value=0,
                     max_value=10**40)
oracles = st.builds(OraclePrice, prices, st.integers(0, 2**53), st.text(max_size=30))
options = st.builds(CollateralOption, tokens, decimals, decimals, st.none() | decimals,
                    st.none() | assets, st.text(max_size=10), st.none() | oracles)
markets = st.builds(
    Market, venue=st.text(min_size=1, max_size=8), market_id=st.text(min_size=1, max_size=70),
    borrow=tokens, collaterals=st.lists(options, max_size=3).map(tuple), borrow_apr=decimals,
    supply_apy=decimals, utilisation=decimals, available_liquidity=amounts,
    min_size=st.none() | amounts,
    fees=st.builds(Fees, decimals, amounts, st.lists(st.text(max_size=10), max_size=2).map(tuple)),
    status=st.builds(MarketStatus, st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    provenance=provenances, receipt=st.none() | assets,
    receipt_rate=st.none() | st.builds(ReceiptRate, st.fractions(min_value=Fraction(1, 10**12),
                                                                  max_value=10**6),
                                       st.sampled_from(["chain", "api"])),
    rate_fixed_at_open=st.booleans(), partial_repay=st.booleans(),
    other_provenance=st.dictionaries(st.sampled_from(["max_ltv", "borrow_apr"]), provenances))


def walk(value):
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


@settings(max_examples=300, deadline=None)
@given(markets)
def test_round_trip_is_exact_and_follows_the_storage_rules(m):
    doc = market_to_dict(m)
    assert market_from_dict(doc) == m
    for value in walk(doc):
        assert not isinstance(value, (float, Decimal, Fraction, bytes)) and value is not None
        if isinstance(value, list):
            assert not any(isinstance(v, list) for v in value)  # no nested arrays


def test_amounts_are_strings_and_times_are_ints():
    doc = market_to_dict(market("liqwid", "Ada", ADA_TOKEN, (option(SNEK, "0.7"),),
                                liquidity=2**64 - 1, min_size=100, batcher=2_000_000,
                                receipt_rate=rate(3, 2)))
    assert doc["available_liquidity"] == str(2**64 - 1) and doc["min_size"] == "100"
    assert doc["fees"]["batcher_lovelace"] == "2000000"
    assert doc["borrow_apr"] == "0.05" and isinstance(doc["provenance"]["as_of_ms"], int)
    assert doc["receipt_rate"] == {"underlying_per_receipt": "3/2", "source": "api"}
    assert doc["collaterals"][0]["max_ltv"] == "0.7"


def surf_option() -> CollateralOption:
    return replace(option(SNEK, "0.5"), oracle_price=OraclePrice(
        Decimal("0.003141592653589793238462643383279502884"), 1_727_453_227_635,
        "surf oracle " + "ab" * 32 + "#0"))


def test_an_oracle_price_is_a_decimal_string_with_its_time_and_source():
    m = market("surf", "p#0", ADA_TOKEN, (surf_option(),))
    doc = market_to_dict(m)
    assert doc["collaterals"][0]["oracle_price"] == {
        "price": "0.003141592653589793238462643383279502884", "as_of_ms": 1_727_453_227_635,
        "source": "surf oracle " + "ab" * 32 + "#0"}
    assert market_from_dict(doc) == m  # 40 digits, exactly
    shown = market_json(m)["collaterals"][0]["oracle_price"]
    assert shown == doc["collaterals"][0]["oracle_price"]


def test_a_document_stored_before_oracle_prices_reads_as_none():
    doc = market_to_dict(market("liqwid", "Ada", ADA_TOKEN, (option(SNEK, "0.7"),)))
    assert "oracle_price" not in doc["collaterals"][0]  # absent, never null
    assert market_from_dict(doc).collaterals[0].oracle_price is None
    assert market_json(market_from_dict(doc))["collaterals"][0]["oracle_price"] is None


@pytest.mark.parametrize("spoil", [
    lambda o: o.update(price="NaN"),
    lambda o: o.update(price=0.003),
    lambda o: o.update(price="0,003"),
    lambda o: o.update(as_of_ms="1727453227635"),
    lambda o: o.update(as_of_ms=True),
    lambda o: o.pop("source"),
    lambda o: o.pop("price"),
])
def test_a_spoilt_oracle_price_is_refused(spoil):
    doc = market_to_dict(market("surf", "p#0", ADA_TOKEN, (surf_option(),)))
    spoil(doc["collaterals"][0]["oracle_price"])
    with pytest.raises(MarketCodecError):
        market_from_dict(doc)


def test_an_oracle_price_that_is_not_exact_is_not_stored():
    bad = replace(surf_option(), oracle_price=OraclePrice(0.003, 1, "x"))  # type: ignore[arg-type]
    with pytest.raises(MarketCodecError):
        market_to_dict(market("surf", "p#0", ADA_TOKEN, (bad,)))


@pytest.mark.parametrize("spoil", [
    lambda d: d.pop("borrow_apr"),
    lambda d: d.update(borrow_apr="NaN"),
    lambda d: d.update(borrow_apr=0.05),
    lambda d: d.update(available_liquidity="1.5"),
    lambda d: d.update(available_liquidity=12),
    lambda d: d.update(v=2),
    lambda d: d["provenance"].update(source="rumour"),
    lambda d: d["provenance"].update(as_of_ms="1"),
    lambda d: d.update(receipt_rate={"underlying_per_receipt": "1/0", "source": "api"}),
    lambda d: d.update(receipt_rate={"underlying_per_receipt": "0.5", "source": "api"}),
    lambda d: d["borrow"].update(decimals=-1),
    lambda d: d["collaterals"].append("x"),
])
def test_a_spoilt_document_is_refused(spoil):
    doc = market_to_dict(market("liqwid", "Ada", ADA_TOKEN, (option(SNEK, "0.7"),),
                                receipt_rate=rate(3, 2)))
    spoil(doc)
    with pytest.raises(MarketCodecError):
        market_from_dict(doc)
