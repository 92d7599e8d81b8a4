"""The pure parts of the DexHunter client: the slippage widening schedule, the one place
where display units become base units, and the bare-string errors as types."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.units import ADA_TOKEN, Asset, Token, UnitError
from protocols.http import json_body
from execution.dexhunter.amounts import PAID, RECEIVED, base_amount, lovelace, wire_amount
from execution.dexhunter.answers import (WIRE_LOVELACE, answer_asset, classify, parse_token,
                                         wire_token)
from execution.dexhunter.slippage import (HARD_CAP_PCT, SlippageError, Widening,
                                          check_slippage, schedule, widened)
from execution.errors import (DexHunterRefused, InputTooSmall, NoRoute, NotEnoughLiquidity,
                              PoolOutOfSync)
from protocols.errors import MalformedResponse, VenueUnavailable

D = Decimal
SNEK = Token(Asset.from_unit("279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b"),
             0, "SNEK")


def test_the_widening_schedule_steps_up_to_the_cap() -> None:
    assert schedule(D("0.5"), 5, Widening()) == (D("0.5"), D("1.0"), D("1.5"), D("2.0"),
                                                 D("2.5"))
    assert schedule(D("1"), 4, Widening(step_pct=D(1), cap_pct=D("2.5"))) == (
        D(1), D(2), D("2.5"), D("2.5"))
    assert schedule(D("0.3"), 3, Widening(step_pct=D(0))) == (D("0.3"),) * 3
    assert widened(D(3), 0, Widening()) == D(3)  # at the cap already: stays


@pytest.mark.parametrize("bad", [D(0), D("-1"), D("3.01"), D("NaN"), D("Infinity")])
def test_slippage_outside_zero_to_cap_is_refused(bad: Decimal) -> None:
    with pytest.raises(SlippageError):
        widened(bad, 0, Widening())


def test_slippage_is_a_decimal_percent_and_the_cap_is_bounded() -> None:
    with pytest.raises(SlippageError):
        check_slippage(0.5)  # type: ignore[arg-type]  # a float is refused
    with pytest.raises(SlippageError):
        Widening(cap_pct=HARD_CAP_PCT + 1)
    with pytest.raises(SlippageError):
        Widening(step_pct=D("-0.1"))
    with pytest.raises(ValueError):
        widened(D(1), -1, Widening())


def test_wire_amounts_are_exact_display_units() -> None:
    assert wire_amount(20_000_000, ADA_TOKEN) == 20
    assert wire_amount(5_262_313, Token(Asset("ab" * 28, ""), 6)) == D("5.262313")
    assert wire_amount(2534, SNEK) == 2534
    for bad in (0, -5, 1.5, True):
        with pytest.raises(UnitError):
            wire_amount(bad, ADA_TOKEN)  # type: ignore[arg-type]


def test_answers_round_against_us() -> None:
    assert base_amount(D("0.0045599187141238265"), ADA_TOKEN, "x", PAID) == 4560
    assert base_amount(D("0.0045599187141238265"), ADA_TOKEN, "x", RECEIVED) == 4559
    assert base_amount(D("2534"), SNEK, "x", RECEIVED) == 2534
    assert base_amount(D("2533.9"), SNEK, "x", RECEIVED) == 2533
    assert lovelace(D("0.69"), "fee") == 690_000
    assert base_amount(D("-0.04999999999999982"), ADA_TOKEN, "x", PAID, signed=True) == -50_000
    for bad in (D("-1"), "5", True, None):
        with pytest.raises(MalformedResponse):
            base_amount(bad, ADA_TOKEN, "x", RECEIVED)


def test_token_ids() -> None:
    assert wire_token(SNEK.asset) == SNEK.asset.policy + SNEK.asset.name
    assert "." not in wire_token(SNEK.asset) and wire_token(ADA_TOKEN.asset) == ""
    for ada in ("", "ADA", WIRE_LOVELACE, "lovelace"):
        assert answer_asset(ada, "t").is_ada
    with pytest.raises(MalformedResponse):
        answer_asset("zz", "t")
    with pytest.raises(MalformedResponse, match="asked"):
        parse_token({"token_id": WIRE_LOVELACE, "token_decimals": 6}, SNEK.asset)
    with pytest.raises(MalformedResponse):
        parse_token({"token_id": SNEK.asset.unit, "token_decimals": "0"}, SNEK.asset)
    assert parse_token({"token_id": SNEK.asset.unit, "decimals": 0}, SNEK.asset).decimals == 0


def test_bare_string_errors_are_typed() -> None:
    where = "POST /swap/estimate"
    expected = {"not_enough_liquidity": NotEnoughLiquidity, "input_too_small": InputTooSmall,
                "pool_not_found": NoRoute, "no_valid_pools_for_trade": NoRoute}
    for code, kind in expected.items():
        error = classify(400, code, where)
        assert type(error) is kind and isinstance(error, DexHunterRefused)
        assert error.code == code and not isinstance(error, VenueUnavailable)
    sync = classify(400, "pool_out_of_sync", where)
    assert isinstance(sync, PoolOutOfSync) and isinstance(sync, VenueUnavailable)
    other = classify(418, "something_new", where)
    assert isinstance(other, DexHunterRefused) and other.code == "something_new"
    assert isinstance(classify(503, "overloaded", where), VenueUnavailable)
    assert classify(500, {"error": "x"}, where) is None  # not a bare string: default handling
    assert classify(200, "ok", where) is None


@given(requested=st.decimals(min_value=D("0.01"), max_value=D(10), places=2),
       step=st.decimals(min_value=D(0), max_value=D(3), places=2),
       cap=st.decimals(min_value=D("0.01"), max_value=D(10), places=2),
       tries=st.integers(min_value=1, max_value=12))
def test_the_schedule_starts_at_the_request_never_shrinks_and_never_passes_the_cap(
        requested: Decimal, step: Decimal, cap: Decimal, tries: int) -> None:
    widening = Widening(step_pct=step, cap_pct=cap)
    if requested > cap:
        with pytest.raises(SlippageError):
            schedule(requested, tries, widening)
        return
    steps = schedule(requested, tries, widening)
    assert len(steps) == tries and steps[0] == requested
    assert all(a <= b <= cap for a, b in zip(steps, steps[1:]))
    assert all(b - a <= step for a, b in zip(steps, steps[1:]))


@given(base=st.integers(min_value=1, max_value=10**15), decimals=st.integers(0, 12))
def test_wire_amounts_come_back_exactly(base: int, decimals: int) -> None:
    token = Token(Asset("ab" * 28, ""), decimals)
    try:
        sent = wire_amount(base, token)
    except UnitError:
        assert len(str(base).rstrip("0")) > 15  # refused only beyond a double's digits
        return  # not exactly representable as a JSON number: refused, never rounded
    server_sees = json.loads(json_body({"amount": sent}))["amount"]  # a double, as in Go
    assert base_amount(D(repr(server_sees)), token, "x", RECEIVED) == base


def test_json_bodies_write_decimals_exactly_and_refuse_what_a_double_cannot_hold() -> None:
    assert json_body({"a": D("0.1"), "b": [D("1E+2"), D("5.262313")], "c": "x"}) == \
        b'{"a": 0.1, "b": [100, 5.262313], "c": "x"}'
    with pytest.raises(UnitError, match="16 significant digits"):
        wire_amount(1_000_000_000_000_001, Token(Asset("ab" * 28, ""), 6))
    with pytest.raises(TypeError):
        json_body({"a": D("NaN")})
