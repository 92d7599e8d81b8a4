"""Liqwid's rates from chain state: the borrow-rate model against every recorded
marketParamsHistory row, the MarketParams layout derived by structure (proved on the row of
tx 1c280d01, and on the real Ada MarketState's own rate), and the qToken arithmetic."""
from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from protocols.venues.liqwid import rates
from protocols.venues.liqwid.datums import (
    IncomeRatio,
    RateModel,
    decode_action,
    decode_market_params,
    decode_market_state,
)
from protocols.venues.liqwid.tokens import load_tokens
from tests.venues.fixtures_liqwid import (
    ACTION_AFTER,
    ACTION_BEFORE,
    MARKETPARAMS_ADA,
    MARKETPARAMS_DJED,
    MARKETSTATE_ADA,
    MARKETSTATE_UNIDENTIFIED,
    MARKETSTATE_USDA,
    PARAMS_HISTORY_ADA,
    TX_1C280D01,
    liqwid_api_recorded,
    liqwid_file,
    liqwid_hex,
)

TOLERANCE = Decimal("1e-9")


def history_rows() -> list[dict[str, Any]]:
    rows = liqwid_api_recorded(PARAMS_HISTORY_ADA)["payload"]["rows"]
    assert len(rows) == 31
    return rows


def model_of(row: dict[str, Any]) -> RateModel:
    cap = row["borrowCap"]
    return RateModel(base_rate=Fraction(row["baseRate"]),
                     util_multiplier=Fraction(row["utilMultiplier"]),
                     jump_multiplier=Fraction(row["utilMultiplierJump"]),
                     kink=Fraction(row["kink"]),
                     borrow_cap=None if cap is None else Fraction(cap),
                     supply_cap=None)


def income_of(row: dict[str, Any]) -> IncomeRatio:
    return IncomeRatio(sum=row["incomeRatioSum"], suppliers=row["incomeRatioSuppliers"],
                       dividends=row["incomeRatioDividends"],
                       treasury=row["incomeRatioTreasury"])


# --- the model against every recorded row ------------------------------------------------

def test_borrow_aprs_match_every_recorded_row() -> None:
    for row in history_rows():
        model = model_of(row)
        assert abs(rates.base_borrow_apr(model) - row["baseBorrowerAPR"]) < TOLERANCE, row
        assert abs(rates.optimal_borrow_apr(model) - row["optimalBorrowerAPR"]) < TOLERANCE, row
        assert abs(rates.max_borrow_apr(model) - row["maxBorrowerAPR"]) < TOLERANCE, row


def test_supplier_apys_match_every_recorded_row() -> None:
    """supplier APY = borrow APR·u·suppliers/sum + (1 − u)·staking, with the row's
    baseSupplierAPY (u = 0) as the staking yield of unlent ADA."""
    for row in history_rows():
        model, income = model_of(row), income_of(row)
        staking = row["baseSupplierAPY"]
        assert rates.supplier_apy(rates.base_borrow_apr(model), Fraction(0), income,
                                  staking) == staking.quantize(Decimal("1e-18"))
        optimal = rates.supplier_apy(rates.optimal_borrow_apr(model), model.kink, income,
                                     staking)
        assert abs(optimal - row["optimalSupplierAPY"]) < TOLERANCE, row
        top = rates.supplier_apy(rates.max_borrow_apr(model), rates.max_utilisation(model),
                                 income, staking)
        assert abs(top - row["maxSupplierAPY"]) < TOLERANCE, row


def test_the_model_is_kinked_and_capped() -> None:
    model = RateModel(Fraction(1, 10**6), Fraction(2, 10**6), Fraction(3, 10**4), Fraction(1, 2),
                      None, None)
    below = rates.period_rate(model, Fraction(1, 4))
    assert below == Fraction(1, 10**6) + Fraction(1, 4) * Fraction(2, 10**6)
    above = rates.period_rate(model, Fraction(3, 4))
    assert above == (Fraction(1, 10**6) + Fraction(3, 4) * Fraction(2, 10**6)
                     + Fraction(1, 4) * Fraction(3, 10**4))
    assert rates.max_utilisation(model) == 1
    assert rates.yearly(Fraction(0)) == 0
    assert isinstance(rates.borrow_apr(model, Fraction(1, 2)), Decimal)


# --- MarketParams by structure ---------------------------------------------------------

def test_market_params_positions_are_proved_by_the_recorded_row_of_tx_1c280d01() -> None:
    liqwid_file(MARKETPARAMS_ADA)
    [row] = [r for r in history_rows() if r["txHash"] == TX_1C280D01]
    params = decode_market_params(liqwid_hex(MARKETPARAMS_ADA))
    model = params.rate_model
    # Exact: the row's decimals are the datum's ratios.
    assert model.base_rate == Fraction(row["baseRate"])
    assert model.util_multiplier == Fraction(row["utilMultiplier"])
    assert model.jump_multiplier == Fraction(row["utilMultiplierJump"])
    assert model.kink == Fraction(row["kink"])
    assert model.borrow_cap == Fraction(row["borrowCap"])
    assert row["supplyCap"] is None and model.supply_cap is None
    assert (params.income.sum, params.income.suppliers, params.income.dividends,
            params.income.treasury) == (row["incomeRatioSum"], row["incomeRatioSuppliers"],
                                        row["incomeRatioDividends"], row["incomeRatioTreasury"])
    assert abs(rates.max_borrow_apr(model) - row["maxBorrowerAPR"]) < TOLERANCE
    # The named validators are the Ada market's.
    tokens = load_tokens("mainnet")
    assert tokens is not None
    ada = tokens.validators["Ada"]
    assert params.loan_validator.hex() == ada["loan"]
    assert params.action_validator.hex() == ada["action"]
    assert params.batch_validator.hex() == ada["batch"]


def test_the_ada_market_state_rate_is_the_model_at_its_utilisation_exactly() -> None:
    """Independent chain data: the MarketState (2026) carries its own per-period rate; the
    Ada rate model read from MarketParams (tx 1c280d01, 2025, unchanged since per the
    history) gives exactly that rate at (principal + interest) / (supply + principal +
    interest), and a different one at principal / (supply + principal)."""
    state = decode_market_state(liqwid_hex(MARKETSTATE_ADA))
    model = decode_market_params(liqwid_hex(MARKETPARAMS_ADA)).rate_model
    assert rates.period_rate(model, rates.state_utilisation(state)) == state.interest_rate
    without_interest = Fraction(state.principal, state.supply + state.principal)
    assert rates.period_rate(model, without_interest) != state.interest_rate


def test_the_djed_market_params_decode_with_the_same_layout_to_sane_values() -> None:
    params = decode_market_params(liqwid_hex(MARKETPARAMS_DJED))
    model = params.rate_model
    assert 0 < model.base_rate < model.util_multiplier < model.jump_multiplier < Fraction(1, 100)
    assert model.kink == Fraction(9, 10)
    assert model.borrow_cap is None and model.supply_cap is None
    base, optimal, top = (rates.base_borrow_apr(model), rates.optimal_borrow_apr(model),
                          rates.max_borrow_apr(model))
    assert Decimal("0.01") < base < optimal < top < Decimal(5), (base, optimal, top)
    assert top == rates.borrow_apr(model, Fraction(1))  # no cap: full utilisation
    assert params.income.suppliers_share == Fraction(4, 5)
    tokens = load_tokens("mainnet")
    assert tokens is not None
    djed = tokens.validators["DJED"]
    assert params.loan_validator.hex() == djed["loan"]
    assert params.action_validator.hex() == djed["action"]


def test_rate_model_json_is_decimal_strings() -> None:
    model = decode_market_params(liqwid_hex(MARKETPARAMS_ADA)).rate_model
    assert rates.rate_model_json(model) == {
        "base_rate": "0.0000023347295852", "util_multiplier": "0.0000021817265503",
        "jump_multiplier": "0.000304193298598", "kink": "0.9", "borrow_cap": "0.95",
        "supply_cap": None}
    assert rates.decimal_text(Fraction(1, 3)) == "0." + "3" * 30
    assert rates.decimal_text(Fraction(1, 10**12)) == "0.000000000001"


# --- qTokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [MARKETSTATE_ADA, MARKETSTATE_USDA, MARKETSTATE_UNIDENTIFIED])
def test_the_qtoken_rate_is_supply_principal_and_the_suppliers_interest(name: str) -> None:
    state = decode_market_state(liqwid_hex(name))
    income = IncomeRatio(sum=10, suppliers=8, dividends=0, treasury=0)
    assert rates.state_qtoken_rate(state, income) == state.qtoken_rate
    wrong = IncomeRatio(sum=10, suppliers=9, dividends=0, treasury=0)
    assert rates.state_qtoken_rate(state, wrong) != state.qtoken_rate


def test_a_supply_mints_qtokens_at_the_published_rate() -> None:
    snapshot = liqwid_file("market_state_ada_snapshot_2026-03-15.json")
    facts = json.loads(snapshot.read_text())
    numerator, denominator = facts["qTokenRate"]
    rate = Fraction(numerator, denominator)
    deposit = facts["example_supply"]["deposit_lovelace"]
    minted = rates.qtokens_for_deposit(deposit, rate)
    assert minted == facts["example_supply"]["qtokens_minted"] == 1_935_750_709_614
    assert deposit == 40_875_220_504
    # ... and the Action UTxO of that supply recorded exactly these diffs.
    before, after = decode_action(liqwid_hex(ACTION_BEFORE)), decode_action(liqwid_hex(ACTION_AFTER))
    assert after.value.supply_diff - before.value.supply_diff == deposit
    assert after.value.qtokens_diff - before.value.qtokens_diff == minted
    # Redeeming rounds down: never more than was deposited.
    assert rates.underlying_for_qtokens(minted, rate) <= deposit


def test_utilisation_and_what_can_be_borrowed() -> None:
    state = decode_market_state(liqwid_hex(MARKETSTATE_ADA))
    u = rates.state_utilisation(state)
    assert u == Fraction(state.principal + state.interest,
                         state.supply + state.principal + state.interest)
    assert rates.utilisation(0, 0) == 0
    model = decode_market_params(liqwid_hex(MARKETPARAMS_ADA)).rate_model
    lent = state.principal + state.interest
    total = state.supply + lent
    for cap in (Fraction(19, 20), Fraction(2, 5)):  # the real 95 %, and a tight one
        capped = RateModel(model.base_rate, model.util_multiplier, model.jump_multiplier,
                           model.kink, cap, None)
        room = rates.available_to_borrow(state, capped)
        assert 0 < room < state.supply  # the cap leaves part of the supply unlendable
        assert Fraction(lent + room, total) <= cap < Fraction(lent + room + 1, total)
    assert rates.available_to_borrow(state, None) == state.supply
    full = RateModel(model.base_rate, model.util_multiplier, model.jump_multiplier, model.kink,
                     Fraction(1, 5), None)
    assert rates.available_to_borrow(state, full) == 0  # already above that cap
