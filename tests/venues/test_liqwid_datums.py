"""Liqwid datums: every real datum in the fixtures decodes, definite and indefinite lists
alike; a changed layout (a field removed, a wrong type, an extra field) raises a
DatumLayoutError naming the field instead of giving a wrong number."""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable

import cbor2
import pytest

from protocols.errors import DatumLayoutError
from protocols.venues.liqwid.datums import (
    MARKET_STATE_FIELDS,
    decode_action,
    decode_loan,
    decode_market_params,
    decode_market_state,
)
from tests.venues.fixtures_liqwid import (
    OWNER,
    ACTION_AFTER,
    ACTION_BEFORE,
    MARKETPARAMS_ADA,
    MARKETPARAMS_DJED,
    MARKETSTATE_ADA,
    MARKETSTATE_UNIDENTIFIED,
    MARKETSTATE_USDA,
    indefinite,
    liqwid_hex,
    loan_datum,
)

# --- MarketState -----------------------------------------------------------------------

def test_the_ada_market_state_decodes_with_a_negative_reserve() -> None:
    state = decode_market_state(liqwid_hex(MARKETSTATE_ADA))
    assert state.supply == 23_238_669_736_527
    assert state.reserve == -6_725_365_719  # negative on chain
    assert state.qtokens == 1_705_859_110_431_924
    assert state.principal == 12_828_590_746_956
    assert state.interest == 41_927_589_559
    assert state.interest_index == 19_704_771_991_012_398
    assert state.interest_rate == Fraction(160550201803685573480547,
                                           51584554390060000000000000000)
    assert (state.last_interest_time, state.last_batch) == (1_790_756_300_000, 1_790_758_184_000)
    assert state.qtoken_rate == Fraction(6_016_800_425_855, 284_309_851_738_654)
    assert state.min_ada == 3_000_000
    assert list(state.fields()) == list(MARKET_STATE_FIELDS)


@pytest.mark.parametrize("name", [MARKETSTATE_ADA, MARKETSTATE_USDA, MARKETSTATE_UNIDENTIFIED])
def test_every_real_market_state_decodes(name: str) -> None:
    data = liqwid_hex(name)
    assert data[0] == 0x8B  # these three are definite lists of 11
    state = decode_market_state(data)
    assert state.qtokens > 0 and state.qtoken_rate > 0 and state.min_ada == 3_000_000
    assert state.last_batch >= state.last_interest_time - 10_000_000


def test_a_market_state_as_an_indefinite_list_decodes_the_same() -> None:
    items = cbor2.loads(liqwid_hex(MARKETSTATE_ADA))
    assert decode_market_state(indefinite(items)) == decode_market_state(liqwid_hex(MARKETSTATE_ADA))


def _changed(items: list[Any], change: Callable[[list[Any]], None]) -> bytes:
    copy = list(items)
    change(copy)
    return cbor2.dumps(copy)


@pytest.mark.parametrize("change, field", [
    (lambda i: i.pop(), "MarketState"),  # min_ada removed
    (lambda i: i.append(0), "MarketState"),  # an extra field
    (lambda i: i.__setitem__(0, b"x"), "MarketState.supply"),
    (lambda i: i.__setitem__(6, 5), "MarketState.interest_rate"),
    (lambda i: i.__setitem__(9, [1, 2, 3]), "MarketState.qtoken_rate"),
    (lambda i: i.__setitem__(9, [1, 0]), "MarketState.qtoken_rate"),
    (lambda i: i.__setitem__(3, True), "MarketState.principal"),
    (lambda i: i.__setitem__(2, -1), "MarketState.qtokens"),
])
def test_a_changed_market_state_layout_is_refused(change: Callable[[list[Any]], None],
                                                   field: str) -> None:
    items = cbor2.loads(liqwid_hex(MARKETSTATE_ADA))
    with pytest.raises(DatumLayoutError, match=field):
        decode_market_state(_changed(items, change))


def test_a_constructor_instead_of_a_list_is_refused() -> None:
    items = cbor2.loads(liqwid_hex(MARKETSTATE_ADA))
    with pytest.raises(DatumLayoutError, match="expected a list, found tag 121"):
        decode_market_state(cbor2.dumps(cbor2.CBORTag(121, items)))


def test_trailing_bytes_and_garbage_are_refused() -> None:
    with pytest.raises(DatumLayoutError, match="bytes after the datum"):
        decode_market_state(liqwid_hex(MARKETSTATE_ADA) + b"\x00")
    with pytest.raises(DatumLayoutError, match="not CBOR"):
        decode_market_state(b"\x9f\x01")


# --- Action --------------------------------------------------------------------------

def test_the_real_action_datums_decode() -> None:
    before = decode_action(liqwid_hex(ACTION_BEFORE))
    after = decode_action(liqwid_hex(ACTION_AFTER))
    assert before.fields() == {"supply_diff": 0, "qtokens_diff": 0, "principal_diff": 0,
                               "interest_diff": 0, "extra_interest_repaid": 0,
                               "reserved_supply": 493_913_232}
    assert after.value.supply_diff == 40_875_220_504
    assert after.value.qtokens_diff == 1_935_750_709_614
    assert after.reserved_supply == before.reserved_supply


def test_an_action_as_a_definite_list_decodes_the_same() -> None:
    value = cbor2.loads(liqwid_hex(ACTION_AFTER))
    assert decode_action(cbor2.dumps(value)) == decode_action(liqwid_hex(ACTION_AFTER))


@pytest.mark.parametrize("datum, field", [
    ([[0, 0, 0, 0], 5], "Action.value"),  # a diff removed
    ([[0, 0, 0, 0, 0, 0], 5], "Action.value"),  # an extra diff
    ([[0, 0, 0, 0, 0], 5, 6], "Action"),  # an extra field
    ([[0, b"", 0, 0, 0], 5], "Action.qtokens_diff"),
    ([[0, 0, 0, 0, 0], [5]], "Action.reserved_supply"),
])
def test_a_changed_action_layout_is_refused(datum: list[Any], field: str) -> None:
    with pytest.raises(DatumLayoutError, match=field):
        decode_action(cbor2.dumps(datum))


def test_negative_action_diffs_are_a_withdrawal_not_an_error() -> None:
    action = decode_action(indefinite([[-5, -3, 0, 0, 0], 7]))
    assert (action.value.supply_diff, action.value.qtokens_diff) == (-5, -3)


# --- Loan (crafted: no real loan UTxO is in the fixtures) ---------------------------------

def test_a_loan_datum_per_the_published_layout_decodes() -> None:
    loan = decode_loan(loan_datum())
    assert loan.owner == OWNER
    assert (loan.principal, loan.interest, loan.min_interest) == (1_000_000_000, 1_234, 5_000)
    assert loan.index == 1_000_000_000
    assert loan.debt == 1_000_000_000 + 1_234 + 5_000
    assert decode_loan(cbor2.dumps(cbor2.loads(loan_datum()))) == loan  # definite list too


@pytest.mark.parametrize("datum, field", [
    ([OWNER, 1, 2, 3], "Loan"),  # the index removed
    ([OWNER, 1, 2, 3, 4, 5], "Loan"),  # an extra field
    ([OWNER[:20], 1, 2, 3, 4], "Loan.owner"),
    ([1, 1, 2, 3, 4], "Loan.owner"),
    ([OWNER, [1, 2], 2, 3, 4], "Loan.principal"),
    ([OWNER, 1, 2, 3, -4], "Loan.index"),
])
def test_a_changed_loan_layout_is_refused(datum: list[Any], field: str) -> None:
    with pytest.raises(DatumLayoutError, match=field):
        decode_loan(cbor2.dumps(datum))


# --- MarketParams ----------------------------------------------------------------------

@pytest.mark.parametrize("name", [MARKETPARAMS_ADA, MARKETPARAMS_DJED])
def test_both_real_market_params_decode(name: str) -> None:
    params = decode_market_params(liqwid_hex(name))
    assert params.income.sum == 10 and params.income.suppliers == 8
    assert len(params.unnamed) == 34 - 7


@pytest.mark.parametrize("change, field", [
    (lambda i: i.pop(), r"MarketParams: expected 34 items, found 33"),
    (lambda i: i.append(0), r"MarketParams: expected 34 items, found 35"),
    (lambda i: i.__setitem__(11, i[11][:3]), r"MarketParams\[11\]: expected 4 items"),
    (lambda i: i.__setitem__(11, [[1, 2], [1, 2], [1, 2], 5]), r"MarketParams\[11\]\[3\]"),
    (lambda i: i.__setitem__(9, b"\x00" * 32), r"MarketParams\[9\]: expected a 28-byte hash"),
    (lambda i: i.__setitem__(2, [10, 8, 0]), r"MarketParams\[2\]"),
    (lambda i: i.__setitem__(2, [10, 12, 0, 0]), r"MarketParams\[2\] \(income ratio\)"),
    (lambda i: i.__setitem__(32, cbor2.CBORTag(121, [[3, 2]])), r"MarketParams\[32\]"),
    (lambda i: i.__setitem__(32, cbor2.CBORTag(123, [])), r"MarketParams\[32\]"),
    (lambda i: i.__setitem__(32, [19, 20]), r"MarketParams\[32\]: expected a constructor"),
    (lambda i: i.__setitem__(1, [1, 2]), r"MarketParams\[1\]: expected an integer"),
    (lambda i: i.insert(5, 7), r"MarketParams"),
])
def test_a_changed_market_params_layout_is_refused(change: Callable[[list[Any]], None],
                                                    field: str) -> None:
    items = cbor2.loads(liqwid_hex(MARKETPARAMS_ADA))
    with pytest.raises(DatumLayoutError, match=field):
        decode_market_params(_changed(items, change))


def test_a_supply_cap_reads_as_a_ratio_or_an_amount() -> None:
    items = cbor2.loads(liqwid_hex(MARKETPARAMS_ADA))
    items[33] = cbor2.CBORTag(121, [[1, 2]])
    assert decode_market_params(cbor2.dumps(items)).rate_model.supply_cap == Fraction(1, 2)
    items[33] = cbor2.CBORTag(121, [5_000_000])
    assert decode_market_params(cbor2.dumps(items)).rate_model.supply_cap == 5_000_000
