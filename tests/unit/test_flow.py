"""trading/flow.py: what a position does next, from its legs and history alone."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from trading.flow import MAX_ATTEMPTS, DriveLeg, Group, GroupEvent, GroupKind, Idle, StartLeg, \
    Step, chained_amount, group_from_dict, group_to_dict, next_action, planned_leg
from trading.legs import Actual, LegKind, LegState, advance
from trading.positions import Position, PositionState, Side
from trading.transitions import Event, EventKind, transition

TOKEN = "51" * 28 + "535452494b45"
ADA = "lovelace"

OPEN = Group("open", GroupKind.OPEN, (
    Step("open-00-swap", LegKind.SWAP, "surf", ADA, 100, TOKEN, 190),
    Step("open-01-deposit-collateral", LegKind.DEPOSIT_COLLATERAL, "surf", TOKEN, 190),
    Step("open-02-borrow", LegKind.BORROW, "surf", asset_out=ADA, amount_out=50),
    Step("open-03-swap", LegKind.SWAP, "surf", ADA, 50, TOKEN, 95),
    Step("open-04-deposit-collateral", LegKind.DEPOSIT_COLLATERAL, "surf", TOKEN, 95),
))
CONFIRMS = {LegKind.SWAP: EventKind.SWAPPED, LegKind.DEPOSIT_COLLATERAL: EventKind.COLLATERAL_LOCKED,
            LegKind.BORROW: EventKind.BORROWED, LegKind.REPAY: EventKind.REPAID,
            LegKind.WITHDRAW_COLLATERAL: EventKind.COLLATERAL_WITHDRAWN}


def new_position() -> Position:
    return Position("pos-1", Side.LONG, TOKEN, "surf", TOKEN, 0)


def apply(position: Position, event: Event) -> Position:
    return transition(position, event)[0]


def run_leg(position: Position, action: StartLeg, got: int, *,
            close: bool = False) -> Position:
    """Plan, build, submit and confirm one leg, as the flow would record it."""
    leg = planned_leg(action)
    for state in (None, LegState.BUILT, LegState.SUBMITTED):
        if state is not None:
            leg = advance(leg, state)
        position = apply(position, Event(EventKind.LEG, leg.step, leg.attempt, 1, leg=leg))
    amount_in = leg.amount_in if leg.asset_in else 0
    actual = Actual("tx", amount_in=amount_in, amount_out=got if leg.asset_out else 0)
    kind = CONFIRMS[leg.kind]
    if close and leg.kind is LegKind.SWAP:
        kind = EventKind.SWAPPED_BACK
    done = advance(leg, LegState.CONFIRMED, actual=actual)
    return apply(position, Event(kind, leg.step, leg.attempt, 2, leg=done))


def test_the_open_group_runs_in_order_and_chains_what_each_step_delivered() -> None:
    position = new_position()
    delivered = {"open-00-swap": 193, "open-02-borrow": 50, "open-03-swap": 97}
    spent = []
    for _ in OPEN.steps:
        action = next_action(position, [OPEN])
        assert isinstance(action, StartLeg) and action.attempt == 1
        spent.append((action.step.step, action.amount_in))
        position = run_leg(position, action, delivered.get(action.step.step, 0))
    # A deposit after a swap deposits what the swap delivered, not the plan's 190 / 95.
    assert spent == [("open-00-swap", 100), ("open-01-deposit-collateral", 193),
                     ("open-02-borrow", 0), ("open-03-swap", 50),
                     ("open-04-deposit-collateral", 97)]
    end = next_action(position, [OPEN])
    assert isinstance(end, GroupEvent) and end.kind is EventKind.OPENED
    position = apply(position, Event(EventKind.OPENED, "open", 1, 3))
    assert position.state is PositionState.OPEN
    assert isinstance(next_action(position, [OPEN]), Idle)
    assert position.figures.collateral == {TOKEN: 290}


def test_a_leg_in_flight_is_driven_not_started_again() -> None:
    position = new_position()
    action = next_action(position, [OPEN])
    assert isinstance(action, StartLeg)
    leg = planned_leg(action)
    position = apply(position, Event(EventKind.LEG, leg.step, 1, 1, leg=leg))
    again = next_action(position, [OPEN])
    assert isinstance(again, DriveLeg) and again.leg == leg


def test_a_failed_leg_is_retried_as_the_next_attempt_then_the_position_fails() -> None:
    position = new_position()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        action = next_action(position, [OPEN])
        assert isinstance(action, StartLeg) and action.attempt == attempt
        leg = planned_leg(action)
        position = apply(position, Event(EventKind.LEG, leg.step, attempt, 1, leg=leg))
        failed = advance(leg, LegState.FAILED)
        position = apply(position, Event(EventKind.LEG, leg.step, attempt, 2, leg=failed,
                                         reason="not filled"))
    action = next_action(position, [OPEN])
    assert isinstance(action, GroupEvent) and action.kind is EventKind.FAIL
    assert "3 attempts" in (action.reason or "")
    position = apply(position, Event(EventKind.FAIL, "open", 1, 3, reason=action.reason))
    assert isinstance(next_action(position, [OPEN]), Idle)


def test_a_close_never_settles_while_debt_remains() -> None:
    position = new_position()
    for _ in OPEN.steps:
        action = next_action(position, [OPEN])
        assert isinstance(action, StartLeg)
        position = run_leg(position, action, action.step.amount_out)
    position = apply(position, Event(EventKind.OPENED, "open", 1, 3))
    close = Group("close-1", GroupKind.CLOSE, (
        Step("close-1-00-withdraw-collateral", LegKind.WITHDRAW_COLLATERAL, "surf",
             asset_out=TOKEN, amount_out=285),
        Step("close-1-01-swap", LegKind.SWAP, "surf", TOKEN, 285, ADA, 140),
        Step("close-1-02-repay", LegKind.REPAY, "surf", ADA, 51, principal=50),
    ), Decimal(1))
    first = next_action(position, [OPEN, close])
    assert isinstance(first, GroupEvent) and first.kind is EventKind.CLOSE
    position = apply(position, Event(EventKind.CLOSE, "close-1", 1, 4, fraction=Decimal(1)))
    delivered = {"close-1-00-withdraw-collateral": 285, "close-1-01-swap": 40}
    for _ in close.steps:
        action = next_action(position, [OPEN, close])
        assert isinstance(action, StartLeg)
        position = run_leg(position, action, delivered.get(action.step.step, 0), close=True)
    # The swap brought 40 < 51 owed: the repay paid 40 and the close does not settle.
    assert position.figures.debt == {ADA: 10}
    action = next_action(position, [OPEN, close])
    assert isinstance(action, GroupEvent) and action.kind is EventKind.FAIL
    assert "debt unpaid" in (action.reason or "")


def test_added_collateral_whose_attempts_ran_out_is_given_up_not_failed() -> None:
    add = Group("add-1", GroupKind.ADD, (
        Step("add-1-00-deposit-collateral", LegKind.DEPOSIT_COLLATERAL, "surf", TOKEN, 5),))
    position = replace(new_position(), state=PositionState.OPEN)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        action = next_action(position, [add])
        assert isinstance(action, StartLeg) and action.attempt == attempt
        leg = planned_leg(action)
        position = apply(position, Event(EventKind.LEG, leg.step, attempt, 1, leg=leg))
        position = apply(position, Event(EventKind.LEG, leg.step, attempt, 2,
                                         leg=advance(leg, LegState.FAILED), reason="x"))
    assert isinstance(next_action(position, [add]), Idle)
    assert position.state is PositionState.OPEN


@pytest.mark.parametrize("kind,before_out,produced,expected", [
    (LegKind.DEPOSIT_COLLATERAL, 190, 193, 193),   # deposits what came
    (LegKind.REPAY, 51, 60, 51),                     # never repays more than owed
    (LegKind.REPAY, 51, 40, 40),                     # or less when less came
])
def test_chained_amounts(kind: LegKind, before_out: int, produced: int, expected: int) -> None:
    before = Step("a-00-swap", LegKind.SWAP, "v", ADA, 100, TOKEN, before_out)
    if kind is LegKind.REPAY:
        before = replace(before, amount_out=before_out + 7)  # a repay chains all the same
    step = Step("a-01-x", kind, "v", TOKEN, before_out)
    assert chained_amount(step, before, {"a-00-swap": produced}) == expected
    if kind is not LegKind.REPAY:  # a deposit of another amount spends something else
        other = Step("a-01-x", kind, "v", TOKEN, before_out + 1)
        assert chained_amount(other, before, {"a-00-swap": produced}) == before_out + 1


def test_an_exact_output_swap_may_spend_what_the_step_before_delivered() -> None:
    before = Step("c-00-withdraw-collateral", LegKind.WITHDRAW_COLLATERAL, "v",
                  asset_out=ADA, amount_out=500)
    step = Step("c-01-swap", LegKind.SWAP, "v", ADA, 300, TOKEN, 100, exact_out=True)
    assert chained_amount(step, before, {"c-00-withdraw-collateral": 480}) == 480


def test_a_group_round_trips_through_its_stored_form() -> None:
    close = Group("close-2", GroupKind.CLOSE, (
        Step("close-2-01-swap", LegKind.SWAP, "v", ADA, 300, TOKEN, 100, exact_out=True),
        Step("close-2-02-repay", LegKind.REPAY, "v", TOKEN, 100, principal=98,
             service_fee=2_000_000)), Decimal("0.25"))
    stored = group_to_dict(close)
    assert group_from_dict(stored) == close
    assert all(isinstance(v, str) for s in stored["steps"].values()
               for k, v in s.items() if k.startswith("amount"))
    assert group_from_dict(group_to_dict(OPEN)) == OPEN


def test_the_position_settings_are_checked() -> None:
    from core.errors import ConfigError
    from core.settings import settings_from_mapping

    defaults = settings_from_mapping({})
    assert defaults.swap_slippage_percent == Decimal(1)
    assert defaults.position_lock_seconds == 30 and defaults.test_exit_after_events == frozenset()
    given = settings_from_mapping({"SWAP_SLIPPAGE_PERCENT": "0.5", "POSITION_LOCK_SECONDS": "2",
                                   "TEST_EXIT_AFTER_EVENTS": "1, 3,7"})
    assert (given.swap_slippage_percent, given.position_lock_seconds,
            given.test_exit_after_events) == (Decimal("0.5"), 2, frozenset({1, 3, 7}))
    for variable, raw in (("SWAP_SLIPPAGE_PERCENT", "0"), ("SWAP_SLIPPAGE_PERCENT", "51"),
                          ("SWAP_SLIPPAGE_PERCENT", "NaN"), ("POSITION_LOCK_SECONDS", "0"),
                          ("TEST_EXIT_AFTER_EVENTS", "1,x"), ("TEST_EXIT_AFTER_EVENTS", "0"),
                          ("PAPER_WALLET_ADDRESS", "addr_bogus"),
                          ("DEXHUNTER_FEE_ADDRESSES", "nope")):
        with pytest.raises(ConfigError, match=variable):
            settings_from_mapping({variable: raw})


# --- loans that carry their collateral (Surf) ---------------------------------------------

SURF_OPEN = Group("open", GroupKind.OPEN, (
    Step("open-00-swap", LegKind.SWAP, "surf", ADA, 100, TOKEN, 190),
    Step("open-01-borrow", LegKind.BORROW, "surf", TOKEN, 190, ADA, 50),
    Step("open-02-swap", LegKind.SWAP, "surf", ADA, 50, TOKEN, 95),
))


def test_a_loan_locks_what_came_and_borrows_in_proportion_when_less_came() -> None:
    position = new_position()
    taken = []
    for got in (180, None, 90):  # the first swap brings 180 of the 190 planned
        action = next_action(position, [SURF_OPEN])
        assert isinstance(action, StartLeg)
        leg = planned_leg(action)
        taken.append((leg.step, leg.asset_in, leg.amount_in, leg.amount_out))
        position = run_leg(position, action, leg.amount_out if got is None else got)
    # 180 TOK locked borrow 50 × 180 / 190 = 47: the loan's LTV stays the plan's.
    assert taken[1] == ("open-01-borrow", TOKEN, 180, 47)
    assert taken[2][2] == 47  # the swap sells what was borrowed
    assert position.figures.collateral == {TOKEN: 180} and position.figures.debt == {ADA: 47}
    assert position.figures.loans == ((180, 47),)
    assert position.figures.wallet[TOKEN] == 90  # the last swap's tokens, in the wallet


def test_a_repay_in_full_pays_what_is_owed_whatever_came_before() -> None:
    before = Step("c-00-swap", LegKind.SWAP, "v", TOKEN, 90, ADA, 48)
    owed = Step("c-01-repay", LegKind.REPAY, "v", ADA, 48, TOKEN, 180, principal=47,
                in_full=True)
    assert chained_amount(owed, before, {"c-00-swap": 40}) == 48  # the wallet lends 8
    partial = replace(owed, in_full=False, asset_out=None, amount_out=0)
    assert chained_amount(partial, before, {"c-00-swap": 40}) == 40
    assert group_from_dict(group_to_dict(Group("close-1", GroupKind.CLOSE, (before, owed),
                                               Decimal(1)))).steps[1].in_full
    with pytest.raises(ValueError, match="in full"):
        Step("c-02-swap", LegKind.SWAP, "v", ADA, 1, TOKEN, 1, in_full=True)


def test_a_buy_back_may_spend_the_plans_bound_where_less_came() -> None:
    before = Step("c-00-repay", LegKind.REPAY, "v", TOKEN, 100, ADA, 200, in_full=True)
    step = Step("c-01-swap", LegKind.SWAP, "v", ADA, 220, TOKEN, 110, exact_out=True)
    assert chained_amount(step, before, {"c-00-repay": 200}) == 220


def test_a_pooled_close_makes_up_in_its_last_repay_what_a_round_repaid_short() -> None:
    close = Group("close-1", GroupKind.CLOSE, (
        Step("close-1-00-withdraw-collateral", LegKind.WITHDRAW_COLLATERAL, "v",
             asset_out=TOKEN, amount_out=100),
        Step("close-1-01-swap", LegKind.SWAP, "v", TOKEN, 100, ADA, 50),
        Step("close-1-02-repay", LegKind.REPAY, "v", ADA, 50),
        Step("close-1-03-withdraw-collateral", LegKind.WITHDRAW_COLLATERAL, "v",
             asset_out=TOKEN, amount_out=200),
        Step("close-1-04-swap", LegKind.SWAP, "v", TOKEN, 200, ADA, 100),
        Step("close-1-05-repay", LegKind.REPAY, "v", ADA, 30),
    ), Decimal(1))
    position = replace(new_position(), state=PositionState.OPEN)
    position = apply(position, Event(EventKind.CLOSE, "close-1", 1, 1, fraction=Decimal(1)))
    delivered = {"close-1-01-swap": 45}  # the first round's swap brought 5 less
    spent = {}
    for _ in close.steps:
        action = next_action(position, [close])
        assert isinstance(action, StartLeg), action
        spent[action.step.step] = action.amount_in
        leg = planned_leg(action)
        got = delivered.get(leg.step, leg.amount_out)
        position = run_leg(position, action, got, close=True)
    # 45 repaid in the first round; the last repays the 35 still owed of the 80, not 30.
    assert spent["close-1-02-repay"] == 45 and spent["close-1-05-repay"] == 35
