"""The contract every lending venue passes: markets complete and in the right units,
builders return transactions that decode and pay what they say, loan fates from chain
state, and what a venue does not offer refused by type."""
from __future__ import annotations

import importlib
from contextlib import ExitStack
from decimal import Decimal
from typing import Iterator

import pytest

from chain.ledger import decode_transaction
from core.units import ADA, Asset
from protocols.errors import Unsupported
from protocols.model import Market
from tests.support.intent import check_pays_what_it_says
from tests.venues.contract import VenueCase

VENUES = ("liqwid", "surf", "levvy")


@pytest.fixture(scope="module", params=VENUES)
def case(request: pytest.FixtureRequest) -> Iterator[VenueCase]:
    module = importlib.import_module(f"tests.venues.cases.{request.param}")
    with ExitStack() as stack:
        yield module.make_case(stack)


def _markets(case: VenueCase) -> list[Market]:
    if case.has_markets_api:
        return case.source.fetch_markets()
    assert case.markets_from_chain is not None
    return case.markets_from_chain(case.source)


def test_markets_are_complete_and_in_one_convention(case: VenueCase) -> None:
    markets = _markets(case)
    assert markets, f"{case.source.venue}: no markets"
    for market in markets:
        where = f"{market.venue}/{market.market_id}"
        assert market.venue == case.source.venue
        assert isinstance(market.borrow.decimals, int), where
        for name in ("borrow_apr", "supply_apy", "utilisation"):
            value = getattr(market, name)
            assert isinstance(value, Decimal), f"{where}: {name} is {type(value).__name__}"
            assert value >= 0, f"{where}: {name} {value}"
        assert market.utilisation <= 1, where
        assert market.borrow_apr < 100, f"{where}: borrow_apr {market.borrow_apr} is not a fraction"
        assert isinstance(market.available_liquidity, int) and market.available_liquidity >= 0
        assert market.min_size is None or isinstance(market.min_size, int)
        assert isinstance(market.fees.origination, Decimal)
        assert isinstance(market.fees.batcher_lovelace, int)
        assert market.provenance.source in ("chain", "api")
        assert market.provenance.as_of_ms > 1_500_000_000_000, where
        for option in market.collaterals:
            assert isinstance(option.token.decimals, int), where
            assert Decimal(0) < option.max_ltv <= option.liquidation_threshold <= 1, \
                f"{where}: {option.token.asset} ltv {option.max_ltv} " \
                f"threshold {option.liquidation_threshold}"
            if option.liquidation_penalty is not None:
                assert Decimal(0) <= option.liquidation_penalty < 1, where


def test_builders_return_transactions_that_pay_what_they_say(case: VenueCase) -> None:
    assert case.builds, f"{case.source.venue}: no builder cases"
    for build in case.builds:
        built = build.build(case.source)
        tx = decode_transaction(built.cbor)  # decodes as one whole transaction
        assert built.intent.venue == case.source.venue, build.name
        problems = check_pays_what_it_says(tx, built.intent, build.wallet)
        assert problems == [], f"{case.source.venue} {build.name}: {problems}"


def test_unsupported_builders_refuse_by_type(case: VenueCase) -> None:
    for call in case.unsupported:
        with pytest.raises(Unsupported):
            call(case.source)


def test_loan_fates_from_chain_state(case: VenueCase) -> None:
    assert {f.expected for f in case.fates} >= {"open", "repaid", "liquidated"}, \
        f"{case.source.venue}: fate cases must cover open, repaid and liquidated"
    for fate_case in case.fates:
        fate = case.source.loan_fate(fate_case.loan_ref, fate_case.view)
        assert fate.state == fate_case.expected, f"{fate_case.name}: {fate}"
        if fate_case.debt is not None:
            assert fate.debt == fate_case.debt, fate_case.name
        if fate_case.collateral is not None:
            assert fate.collateral == fate_case.collateral, fate_case.name


def test_ada_is_one_asset_everywhere() -> None:
    assert Asset.from_unit("lovelace") == ADA == Asset("", "")
