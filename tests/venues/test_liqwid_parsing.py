"""Liqwid's pure parts: the identifier forms, and API rows → typed loans and markets
(edge rows and bad fields), with no server."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.units import Asset
from protocols.errors import MalformedResponse
from protocols.venues.liqwid.ids import (BorrowCollateralId, LiqwidInputError,
                                         LoanCollateralId, LoanId, MarketCollateralId)
from protocols.venues.liqwid.loans import parse_loan
from protocols.venues.liqwid.markets import parse_markets

QADA = "a04ce7a52545e5e33c2867e148898d9e667a69602285f6a1298f9d68"
TX = "1c280d01277784ce94c2fb14a5c97c96f80c08d0d812da4ecbd1d78397d03dab"
OWNER = "bd628baabcb0223c8b91831a75287cd1aaccc3b60b428db510ccd1f3"


# --- ids ------------------------------------------------------------------------------------------

def test_the_three_collateral_id_forms_parse_only_as_themselves() -> None:
    borrow = BorrowCollateralId.parse("qAda")
    market = MarketCollateralId.parse(f"SNEK.{QADA}")
    loan = LoanCollateralId.parse(QADA)
    assert (str(borrow), str(market), str(loan)) == ("qAda", f"SNEK.{QADA}", QADA)
    assert market.borrow_market == "SNEK" and market.held_as == Asset(QADA, "")
    assert loan.in_market("SNEK") == market
    for text in (f"SNEK.{QADA}", QADA, "Ada", f"q{QADA}", "q"):
        with pytest.raises(LiqwidInputError):
            BorrowCollateralId.parse(text)
    for text in ("qAda", QADA, "Ada", f"SNEK.{QADA[:-2]}", f"SNEK.{QADA}.x", f".{QADA}"):
        with pytest.raises(LiqwidInputError):
            MarketCollateralId.parse(text)
    for text in ("qAda", f"SNEK.{QADA}", QADA.upper(), QADA[:-1]):
        with pytest.raises(LiqwidInputError):
            LoanCollateralId.parse(text)


def test_loan_ids() -> None:
    loan = LoanId.parse(f"{TX}-3")
    assert loan.ref == f"{TX}#3" and LoanId.from_ref(f"{TX}#3") == loan
    assert loan.for_builder() == f"{TX}-3"
    old = LoanId.parse(TX)
    assert old.index is None and old.ref is None
    with pytest.raises(LiqwidInputError):
        old.for_builder()
    for text in (f"{TX}-x", f"{TX[:-1]}-1", "nope"):
        with pytest.raises(LiqwidInputError):
            LoanId.parse(text)
    with pytest.raises(LiqwidInputError):
        LoanId.from_ref(f"{TX}-3")


# --- loans ----------------------------------------------------------------------------------------

def loan_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"{TX}-0", "transactionId": TX, "transactionIndex": 0, "marketId": "Ada",
        "publicKey": OWNER, "amount": Decimal("232.93"), "healthFactor": Decimal("1.83"),
        "LTV": Decimal("0.44"), "APY": Decimal("0.0378"),
        "collaterals": [{"id": QADA, "qTokenName": "qADA",
                         "qTokenAmount": Decimal("24993.609217"), "market": {"id": "Ada"}}]}
    row.update(changes)
    return row


def test_a_loan_row() -> None:
    loan = parse_loan(loan_row(), "row")
    assert loan.loan_id == LoanId(TX, 0) and loan.owner == OWNER
    assert loan.health.known and loan.health.health_factor == Decimal("1.83")
    assert loan.collaterals[0].id == LoanCollateralId(QADA)


@pytest.mark.parametrize("changes", [
    {"collaterals": [], "healthFactor": 0, "LTV": -1},  # what CAN_BE_LIQUIDATED returns
    {"collaterals": [], "healthFactor": Decimal("1.2"), "LTV": Decimal("0.5")},
    {"LTV": -1},
    {"healthFactor": 0},
])
def test_rows_the_api_cannot_value_have_unknown_health(changes: dict[str, Any]) -> None:
    loan = parse_loan(loan_row(**changes), "row")
    assert not loan.health.known and loan.health.health_factor is None
    assert loan.health.reason


@pytest.mark.parametrize("changes", [
    {"LTV": Decimal("-0.5")}, {"healthFactor": -1}, {"amount": "12"}, {"publicKey": "abc"},
    {"collaterals": [{"id": "qAda", "qTokenAmount": 1, "market": {"id": "Ada"}}]},
    {"id": f"{TX}-1"},  # disagrees with transactionIndex 0
    {"collaterals": None},
])
def test_bad_loan_rows_are_malformed(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        parse_loan(loan_row(**changes), "row")


def test_a_loan_without_id_fields() -> None:
    row = loan_row()
    for key in ("id", "transactionId", "transactionIndex"):
        del row[key]
    assert parse_loan(row, "row").loan_id is None


# --- markets --------------------------------------------------------------------------------------

def market_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "Ada", "liquidity": Decimal("1234.5678915"), "supplyAPY": Decimal("0.02"),
        "borrowAPY": Decimal("0.0378"), "borrowAPR": Decimal("0.0378"),
        "utilization": Decimal("0.0099"), "exchangeRate": Decimal("0.0211"),
        "loanOriginationFeePercentage": 1, "batching": True, "frozen": False,
        "private": False, "delisting": False,
        "asset": {"currencySymbol": "", "name": "", "symbol": "ADA", "decimals": 6},
        "receiptAsset": {"currencySymbol": QADA, "name": "", "decimals": 6},
        "parameters": {"minValue": Decimal("10.0000001"), "collateralParameters": [{
            "maxLoanToValue": Decimal("0.8"), "liquidationThreshold": Decimal("0.9"),
            "liquidationPenalty": Decimal("0.1"), "weightedMaxLoanToValue": None,
            "collateral": {"id": f"Ada.{QADA}", "market": {"id": "Ada"}}}]}}
    row.update(changes)
    return row


def test_a_market_row_in_the_models_units() -> None:
    (market,) = parse_markets([market_row()], 1_800_000_000_000).markets
    assert market.available_liquidity == 1_234_567_891  # whole units, down to lovelace
    assert market.min_size == 10_000_001  # a minimum, up
    assert market.fees.origination == Decimal("0.01")  # 1 percent
    assert market.status.batching and not market.status.usable
    (option,) = market.collaterals
    assert (option.max_ltv, option.liquidation_threshold) == (Decimal("0.8"), Decimal("0.9"))
    assert market.receipt_rate is not None
    assert market.receipt_rate.receipts_for_deposit(211) == 10_000


def test_weighted_ltvs_win_and_unknown_collateral_markets_are_left_out() -> None:
    params = {"minValue": None, "collateralParameters": [
        {"maxLoanToValue": Decimal("0.8"), "liquidationThreshold": Decimal("0.9"),
         "weightedMaxLoanToValue": Decimal("0.704"),
         "weightedLiquidationThreshold": Decimal("0.81"),
         "collateral": {"id": f"Ada.{QADA}", "market": {"id": "Ada"}}},
        {"maxLoanToValue": Decimal("0.5"), "liquidationThreshold": Decimal("0.6"),
         "collateral": {"id": f"Ada.{'ab' * 28}", "market": {"id": "NOTLISTED"}}}]}
    (market,) = parse_markets([market_row(parameters=params)], 1).markets
    (option,) = market.collaterals
    assert (option.max_ltv, option.liquidation_threshold) == (Decimal("0.704"), Decimal("0.81"))
    assert option.liquidation_penalty is None


@pytest.mark.parametrize("changes", [
    {"utilization": Decimal("1.5")},
    {"borrowAPR": Decimal("-0.1")},
    {"asset": {"currencySymbol": "", "name": "", "decimals": None}},
    {"asset": {"currencySymbol": "abc", "name": "", "decimals": 6}},
    {"frozen": "no"},
    {"loanOriginationFeePercentage": 150},
    {"receiptAsset": {"currencySymbol": "cd" * 28, "name": "", "decimals": 6}},  # not the id's
    {"parameters": {"collateralParameters": [{
        "maxLoanToValue": Decimal("0.9"), "liquidationThreshold": Decimal("0.8"),
        "collateral": {"id": f"Ada.{QADA}", "market": {"id": "Ada"}}}]}},
    {"parameters": {"collateralParameters": [{
        "maxLoanToValue": Decimal("0.5"), "liquidationThreshold": Decimal("0.8"),
        "collateral": {"id": "qAda", "market": {"id": "Ada"}}}]}},
])
def test_bad_market_rows_are_malformed(changes: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        parse_markets([market_row(**changes)], 1)


def test_a_market_listed_twice_is_malformed() -> None:
    with pytest.raises(MalformedResponse, match="listed twice"):
        parse_markets([market_row(), market_row()], 1)
