"""Positions and legs, pure: the transition table (every legal move, every illegal one
refused), legs' lives, figures recomputed from confirmed legs, and the stored form."""
from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.legs import Actual, Leg, LegError, LegKind, LegState, advance, follows
from trading.position_codec import (
    PositionCodecError,
    position_from_dict,
    position_to_dict,
    transition_update,
)
from trading.positions import TERMINAL, Position, PositionState, Side, figures
from trading.transitions import (
    CONFIRMS,
    TABLE,
    Event,
    EventKind,
    IllegalTransition,
    event_key,
    idempotency_key,
    transition,
)

S, E, K = PositionState, EventKind, LegKind
TOKEN = "a" * 56 + "4d494e"  # policy id + asset name hex
ADA = "lovelace"


def new_position(side: Side = Side.LONG, state: PositionState = S.REQUESTED) -> Position:
    return Position(position_id="p1", side=side, traded=TOKEN, venue="liqwid",
                    collateral_asset=ADA, requested_ms=1_000, state=state)


def leg(kind: LegKind, leg_id: str, step: str, *, give: int = 0, get: int = 0,
        asset_in: str | None = None, asset_out: str | None = None) -> Leg:
    return Leg(leg_id=leg_id, kind=kind, venue="liqwid", step=step, attempt=1,
               asset_in=asset_in, amount_in=give, asset_out=asset_out, amount_out=get)


def confirmed(planned: Leg, actual: Actual) -> Leg:
    built = advance(planned, LegState.BUILT)
    sent = advance(built, LegState.SUBMITTED, tx_id=actual.tx_id)
    return advance(sent, LegState.CONFIRMED, actual=actual)


def run_leg(position: Position, kind: EventKind, planned: Leg, actual: Actual,
            at: int = 2_000) -> Position:
    """Record the leg's whole life: planned, built, submitted (LEG events), then the
    event that confirms it."""
    current = planned
    for state in (None, LegState.BUILT, LegState.SUBMITTED):
        if state is not None:
            current = advance(current, state, tx_id=actual.tx_id)
        position, _ = transition(position, Event(E.LEG, planned.step, 1, at, leg=current))
    done = advance(current, LegState.CONFIRMED, actual=actual)
    position, _ = transition(position, Event(kind, planned.step, 1, at, leg=done))
    return position


def plain(kind: EventKind, step: str = "s", **kw) -> Event:
    return Event(kind, step, 1, 3_000, **kw)


# A long: deposit 1000 ADA, borrow 1500 ADA, buy 5000 tokens for 1500 ADA (fees: network
# 0.2, DEX 1 ADA), then close: sell 5000 tokens for 1800 ADA, repay 1500 + 10 interest,
# withdraw 1000 ADA.
def open_long() -> Position:
    p = new_position()
    p = run_leg(p, E.COLLATERAL_LOCKED,
                leg(K.DEPOSIT_COLLATERAL, "dep", "deposit", give=1_000_000_000, asset_in=ADA),
                Actual("t1", amount_in=1_000_000_000, network_fee=200_000))
    p = run_leg(p, E.BORROWED,
                leg(K.BORROW, "bor", "borrow", get=1_500_000_000, asset_out=ADA),
                Actual("t2", amount_out=1_500_000_000, network_fee=200_000))
    p = run_leg(p, E.SWAPPED,
                leg(K.SWAP, "buy", "swap", give=1_500_000_000, get=4_900_000_000,
                    asset_in=ADA, asset_out=TOKEN),
                Actual("t3", amount_in=1_500_000_000, amount_out=5_000_000_000,
                       network_fee=200_000, service_fee=1_000_000))
    p, _ = transition(p, plain(E.OPENED, "opened"))
    return p


def close_long(p: Position) -> Position:
    p, _ = transition(p, plain(E.CLOSE, "close", fraction=Decimal(1)))
    p = run_leg(p, E.SWAPPED_BACK,
                leg(K.SWAP, "sell", "sell", give=5_000_000_000, get=1_700_000_000,
                    asset_in=TOKEN, asset_out=ADA),
                Actual("t4", amount_in=5_000_000_000, amount_out=1_800_000_000,
                       network_fee=200_000, service_fee=1_000_000))
    p = run_leg(p, E.REPAID, leg(K.REPAY, "rep", "repay", give=1_510_000_000, asset_in=ADA),
                Actual("t5", amount_in=1_510_000_000, interest=10_000_000, network_fee=200_000))
    p = run_leg(p, E.COLLATERAL_WITHDRAWN,
                leg(K.WITHDRAW_COLLATERAL, "wd", "withdraw", get=1_000_000_000, asset_out=ADA),
                Actual("t6", amount_out=1_000_000_000, network_fee=200_000))
    p, _ = transition(p, plain(E.SETTLED, "settled"))
    return p


def test_a_long_opens_and_settles_with_figures_from_its_legs():
    p = open_long()
    assert p.state is S.OPEN
    f = p.figures
    assert f.size == 5_000_000_000
    assert f.entry_price == Fraction(3, 10)
    assert f.debt == {ADA: 1_500_000_000}
    assert f.collateral == {ADA: 1_000_000_000}
    assert f.fees_paid == 3 * 200_000 + 1_000_000
    assert f.realised_pnl == -f.fees_paid  # nothing closed yet: only fees
    done = close_long(p)
    assert done.state is S.SETTLED
    f = done.figures
    assert (f.size, f.closed_size, f.debt, f.collateral) == (0, 5_000_000_000, {}, {})
    assert f.interest_paid == {ADA: 10_000_000}
    assert f.fees_paid == 6 * 200_000 + 2 * 1_000_000
    # 300 ADA gained on the trade, minus 10 interest and 3.2 of fees.
    assert f.realised_pnl == 300_000_000 - 10_000_000 - 3_200_000
    assert [h.seq for h in done.history] == list(range(1, done.version + 1))
    assert done.history[-1].before is S.CLOSING and done.history[-1].after is S.SETTLED


def test_a_short_pays_its_token_interest_in_the_buy_back():
    p = new_position(Side.SHORT)
    p = run_leg(p, E.COLLATERAL_LOCKED,
                leg(K.DEPOSIT_COLLATERAL, "dep", "deposit", give=2_000, asset_in=ADA),
                Actual("t1", amount_in=2_000))
    p = run_leg(p, E.BORROWED, leg(K.BORROW, "bor", "borrow", get=1_000, asset_out=TOKEN),
                Actual("t2", amount_out=1_000))
    p = run_leg(p, E.SWAPPED, leg(K.SWAP, "sell", "sell", give=1_000, get=900, asset_in=TOKEN,
                                  asset_out=ADA), Actual("t3", amount_in=1_000, amount_out=1_000))
    p, _ = transition(p, plain(E.OPENED, "opened"))
    assert (p.figures.size, p.figures.entry_price) == (1_000, Fraction(1))
    p, _ = transition(p, plain(E.CLOSE, "close", fraction=Decimal(1)))
    # The price fell to 0.5; buy back 1010 tokens (10 of interest) for 505 ADA.
    p = run_leg(p, E.SWAPPED_BACK, leg(K.SWAP, "buy", "buy", give=600, get=1_010, asset_in=ADA,
                                       asset_out=TOKEN), Actual("t4", amount_in=505,
                                                                amount_out=1_010))
    p = run_leg(p, E.REPAID, leg(K.REPAY, "rep", "repay", give=1_010, asset_in=TOKEN),
                Actual("t5", amount_in=1_010, interest=10))
    f = p.figures
    assert f.debt == {} and f.interest_paid == {TOKEN: 10}
    assert f.realised_pnl == 1_000 - 505  # the token interest is in the buy-back's cost


# --- the table -------------------------------------------------------------------------

def submitted_leg_for(kind: EventKind) -> tuple[Leg, Leg]:
    """A leg of the kind `kind` confirms, as submitted and as confirmed."""
    shapes = {K.DEPOSIT_COLLATERAL: {"asset_in": ADA}, K.WITHDRAW_COLLATERAL: {"asset_out": ADA},
              K.BORROW: {"asset_out": ADA}, K.REPAY: {"asset_in": ADA},
              K.SWAP: {"asset_in": ADA, "asset_out": TOKEN},
              K.LOCK_COLLATERAL: {"asset_in": TOKEN}}
    planned = leg(CONFIRMS[kind], "x", "s", give=5, get=5, **shapes[CONFIRMS[kind]])
    sent = advance(advance(planned, LegState.BUILT), LegState.SUBMITTED, tx_id="tx")
    return sent, advance(sent, LegState.CONFIRMED, actual=Actual("tx", amount_in=5,
                                                                   amount_out=5))


def well_formed(kind: EventKind, state: PositionState) -> tuple[Position, Event]:
    """A position in `state` and an event of `kind` that is well formed in itself."""
    p = new_position(state=state)
    if kind in CONFIRMS:
        sent, done = submitted_leg_for(kind)
        return replace(p, legs={"x": sent}), plain(kind, leg=done)
    if kind is E.LEG:
        return p, plain(kind, leg=leg(K.BORROW, "x", "s", get=5, asset_out=ADA))
    if kind is E.CLOSE:
        return p, plain(kind, fraction=Decimal("0.5"))
    reason = "not_enough_liquidity" if kind is E.REFUSE else ("why" if kind in {
        E.FAIL, E.CANCEL, E.LIQUIDATED} else None)
    return p, plain(kind, reason=reason)


ALL_PAIRS = [(s, e) for s in PositionState for e in EventKind]


@pytest.mark.parametrize("state,kind", [pair for pair in ALL_PAIRS if pair in TABLE])
def test_every_move_of_the_table_is_taken(state, kind):
    p, event = well_formed(kind, state)
    moved, entry = transition(p, event)
    assert moved.state is TABLE[(state, kind)]
    assert (entry.seq, entry.before, entry.after, entry.event) == (1, state, moved.state, event)
    assert moved.history == (entry,) and moved.version == 1
    assert p.version == 0 and p.history == ()  # the old position is untouched


@pytest.mark.parametrize("state,kind",
                         [pair for pair in ALL_PAIRS if pair not in TABLE and pair[1] is not E.LEG])
def test_every_move_outside_the_table_is_refused(state, kind):
    p, event = well_formed(kind, state)
    with pytest.raises(IllegalTransition) as raised:
        transition(p, event)
    assert raised.value.state is state and raised.value.event is kind


@pytest.mark.parametrize("state", list(PositionState))
def test_leg_moves_are_recorded_in_every_live_state_and_none_after(state):
    p, event = well_formed(E.LEG, state)
    if state in TERMINAL:
        with pytest.raises(IllegalTransition):
            transition(p, event)
    else:
        moved, _ = transition(p, event)
        assert moved.state is state and moved.legs["x"] == event.leg


def test_terminal_states_have_no_way_out():
    assert not [pair for pair in TABLE if pair[0] in TERMINAL]
    reachable = {S.REQUESTED} | set(TABLE.values())
    assert reachable == set(PositionState)


def test_refusal_is_its_own_state_and_names_a_known_reason():
    p, _ = transition(new_position(), plain(E.REFUSE, reason="leverage_above_ltv"))
    assert p.state is S.REFUSED and p.state is not S.FAILED
    with pytest.raises(LegError):
        plain(E.REFUSE, reason="bad luck")
    with pytest.raises(IllegalTransition):  # refusal is before anything was sent
        transition(new_position(state=S.COLLATERAL_LOCKED),
                   plain(E.REFUSE, reason="leverage_above_ltv"))


def test_refusal_and_cancel_only_before_anything_was_sent():
    planned = leg(K.DEPOSIT_COLLATERAL, "dep", "deposit", give=5, asset_in=ADA)
    built = advance(planned, LegState.BUILT)
    for kind, reason in ((E.REFUSE, "not_enough_liquidity"), (E.CANCEL, "user")):
        ok = replace(new_position(), legs={"dep": built})
        assert transition(ok, plain(kind, reason=reason))[0].state is not S.REQUESTED
        sent = replace(ok, legs={"dep": advance(built, LegState.SUBMITTED, tx_id="t")})
        with pytest.raises(IllegalTransition, match="already sent"):
            transition(sent, plain(kind, reason=reason))


def test_one_leg_per_step_attempt():
    first = leg(K.BORROW, "b1", "borrow", get=5, asset_out=ADA)
    p, _ = transition(new_position(), Event(E.LEG, "borrow", 1, 1, leg=first))
    with pytest.raises(IllegalTransition, match="already has leg b1"):
        transition(p, Event(E.LEG, "borrow", 1, 1,
                            leg=leg(K.BORROW, "b2", "borrow", get=5, asset_out=ADA)))


def test_failure_and_liquidation_must_say_why():
    for kind, state in ((E.FAIL, S.BORROWED), (E.LIQUIDATED, S.OPEN), (E.CANCEL, S.REQUESTED)):
        with pytest.raises(IllegalTransition, match="why"):
            transition(new_position(state=state), plain(kind))


def test_a_confirming_event_needs_its_own_kind_of_leg_confirmed():
    sent, done = submitted_leg_for(E.BORROWED)
    p = replace(new_position(state=S.COLLATERAL_LOCKED), legs={"x": sent})
    with pytest.raises(IllegalTransition):  # a borrow leg does not lock collateral
        transition(p, plain(E.COLLATERAL_LOCKED, leg=done))
    with pytest.raises(IllegalTransition):  # not confirmed
        transition(p, plain(E.BORROWED, leg=sent))
    with pytest.raises(IllegalTransition):  # another step's leg
        transition(p, Event(E.BORROWED, "other", 1, 1, leg=done))
    with pytest.raises(IllegalTransition):  # confirmed without being submitted first
        transition(replace(p, legs={}), plain(E.BORROWED, leg=done))
    assert transition(p, plain(E.BORROWED, leg=done))[0].state is S.BORROWED


def test_a_position_does_not_open_or_settle_with_a_leg_in_flight():
    p = open_long()
    p, _ = transition(p, plain(E.CLOSE, "close", fraction=Decimal(1)))
    hanging = leg(K.REPAY, "rep", "repay", give=5, asset_in=ADA)
    p, _ = transition(p, Event(E.LEG, "repay", 1, 1, leg=hanging))
    with pytest.raises(IllegalTransition, match="in flight"):
        transition(p, plain(E.SETTLED, "settled"))
    p, _ = transition(p, Event(E.LEG, "repay", 1, 1, leg=advance(hanging, LegState.CANCELLED)))
    assert transition(p, plain(E.SETTLED, "settled"))[0].state is S.SETTLED


def test_partial_close_reopens_and_a_loop_locks_collateral_again():
    p = open_long()
    p, _ = transition(p, plain(E.CLOSE, "reduce", fraction=Decimal("0.25")))
    p, _ = transition(p, plain(E.REDUCED, "reduced"))
    assert p.state is S.OPEN
    looped = new_position(state=S.SWAPPED)
    sent, done = submitted_leg_for(E.COLLATERAL_LOCKED)
    looped, _ = transition(replace(looped, legs={"x": sent}),
                           plain(E.COLLATERAL_LOCKED, leg=done))
    assert looped.state is S.COLLATERAL_LOCKED
    with pytest.raises(LegError):
        plain(E.CLOSE, fraction=Decimal("1.5"))


# --- legs ------------------------------------------------------------------------------

def test_a_leg_moves_one_legal_step_at_a_time_and_keeps_its_intent():
    planned = leg(K.BORROW, "b", "borrow", get=10, asset_out=ADA)
    assert follows(None, planned)
    assert not follows(None, advance(planned, LegState.BUILT))
    built = advance(planned, LegState.BUILT)
    assert follows(planned, built)
    assert not follows(planned, replace(built, amount_out=11))  # intent changed
    with pytest.raises(LegError):
        advance(planned, LegState.CONFIRMED, actual=Actual("t", amount_out=10))
    failed = advance(built, LegState.FAILED)
    with pytest.raises(LegError):  # a failed leg is retried as a new leg, never revived
        advance(failed, LegState.SUBMITTED)


def test_a_leg_is_well_formed():
    with pytest.raises(LegError):
        leg(K.BORROW, "b", "borrow", give=1, asset_in=ADA)  # a borrow receives
    with pytest.raises(LegError):
        leg(K.SWAP, "s", "s", asset_in=ADA, asset_out=ADA)
    with pytest.raises(LegError):
        leg(K.REPAY, "r.1", "repay", asset_in=ADA)  # no dots in ids (MongoDB field names)
    with pytest.raises(LegError):
        Actual("t", amount_in=1, interest=2)
    with pytest.raises(LegError):
        Leg("x", K.BORROW, "v", "s", 0, asset_out=ADA)


def test_idempotency_keys_name_position_step_attempt_and_phase():
    assert idempotency_key("p1", "borrow", 2, "planned") == "p1:borrow:2:planned"
    e = Event(E.LEG, "borrow", 2, 1, leg=replace(leg(K.BORROW, "b", "borrow", asset_out=ADA),
                                                  attempt=2))
    assert event_key("p1", e) == "p1:borrow:2:planned"
    assert event_key("p1", plain(E.OPENED, "opened")) == "p1:opened:1:opened"
    with pytest.raises(LegError):
        idempotency_key("p1", "bo.rrow", 1, "planned")


# --- figures ---------------------------------------------------------------------------

def some_legs() -> list[Leg]:
    return list(close_long(open_long()).legs.values())


def wrecked(planned: Leg, state: LegState) -> Leg:
    return advance(advance(planned, LegState.BUILT), state)


@settings(max_examples=60, deadline=None)
@given(st.permutations(some_legs()), st.lists(st.sampled_from([LegState.FAILED,
                                                                LegState.CANCELLED]),
                                               max_size=4))
def test_figures_do_not_depend_on_leg_order_and_failed_legs_count_for_nothing(legs, wrecks):
    want = figures(Side.LONG, TOKEN, ADA, some_legs())
    assert figures(Side.LONG, TOKEN, ADA, legs) == want
    extra = [wrecked(leg(K.SWAP, f"w{i}", "swap", give=9**9, get=9**9, asset_in=ADA,
                         asset_out=TOKEN), state) for i, state in enumerate(wrecks)]
    assert figures(Side.LONG, TOKEN, ADA, legs + extra) == want


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**15), st.integers(1, 10**15)), min_size=1,
                max_size=5), st.randoms())
def test_entry_price_is_the_average_cost_of_the_buys_in_any_order(buys, rnd):
    legs = [confirmed(leg(K.SWAP, f"b{i}", "swap", give=ada, get=tok, asset_in=ADA,
                          asset_out=TOKEN), Actual(f"t{i}", amount_in=ada, amount_out=tok))
            for i, (ada, tok) in enumerate(buys)]
    shuffled = list(legs)
    rnd.shuffle(shuffled)
    got = figures(Side.LONG, TOKEN, ADA, shuffled)
    assert got.entry_price == Fraction(sum(a for a, _ in buys), sum(t for _, t in buys))
    assert got.size == sum(t for _, t in buys)
    assert got == figures(Side.LONG, TOKEN, ADA, legs)


# --- the stored form -------------------------------------------------------------------

def _walk(value, path="doc"):
    if isinstance(value, dict):
        for k, v in value.items():
            assert "." not in k and not k.startswith("$"), path
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            assert not isinstance(v, list), f"nested array at {path}"
            yield from _walk(v, path)
    else:
        yield path, value


def test_the_stored_form_round_trips_and_keeps_store_rules():
    p = close_long(open_long())
    doc = position_to_dict(p)
    assert position_from_dict(json.loads(json.dumps(doc))) == p
    for path, value in _walk(doc):
        assert not isinstance(value, float), path
        assert not (isinstance(value, int) and not isinstance(value, bool)
                    and abs(value) >= 2**63), path
    assert list(doc["history"]) == [f"{n:08d}" for n in range(1, p.version + 1)]
    assert doc["done"][f"p1:borrow:1:{LegState.CONFIRMED.value}"] == 8  # 4 events a leg


def test_transition_update_says_what_the_store_writes():
    p = open_long()
    doc = position_to_dict(p)
    fields, entry = transition_update(plain(E.CLOSE, "close", fraction=Decimal("0.5")))(doc)
    assert fields == {"state": "closing"}
    assert entry["seq"] == p.version + 1 and entry["fraction"] == "0.5"
    with pytest.raises(IllegalTransition):
        transition_update(plain(E.SETTLED, "settled"))(doc)


def test_a_malformed_stored_position_is_refused_not_guessed():
    doc = position_to_dict(open_long())
    gap = {**doc, "history": {k: v for k, v in doc["history"].items() if k != "00000003"}}
    with pytest.raises(PositionCodecError, match="history"):
        position_from_dict(gap)
    with pytest.raises(PositionCodecError):
        position_from_dict({**doc, "v": 99})
    leg_doc = {**doc["legs"]["bor"], "amount_out": 1_500_000_000}  # an int, not a string
    with pytest.raises(PositionCodecError):
        position_from_dict({**doc, "legs": {**doc["legs"], "bor": leg_doc}})


def test_loans_that_carry_their_collateral_count_it_and_release_it_when_repaid() -> None:
    borrow1 = leg(LegKind.BORROW, "b1", "open-01-borrow", give=200, get=60, asset_in=TOKEN,
                  asset_out=ADA)
    borrow2 = leg(LegKind.BORROW, "b2", "open-03-borrow", give=120, get=36, asset_in=TOKEN,
                  asset_out=ADA)
    repay2 = leg(LegKind.REPAY, "r2", "close-1-01-repay", give=37, get=120, asset_in=ADA,
                 asset_out=TOKEN)
    legs = [confirmed(borrow1, Actual("t1", amount_in=200, amount_out=60)),
            confirmed(borrow2, Actual("t2", amount_in=120, amount_out=36))]
    held = figures(Side.LONG, TOKEN, ADA, legs)
    assert held.collateral == {TOKEN: 320} and held.debt == {ADA: 96}
    assert held.loans == ((200, 60), (120, 36))
    assert held.wallet == {TOKEN: -320, ADA: 96}
    legs.append(confirmed(repay2, Actual("t3", amount_in=37, amount_out=120, interest=1)))
    after = figures(Side.LONG, TOKEN, ADA, legs)
    assert after.collateral == {TOKEN: 200} and after.debt == {ADA: 60}
    assert after.loans == ((200, 60),)  # the last loan was repaid
    with pytest.raises(LegError):  # a deposit carries nothing back
        leg(LegKind.DEPOSIT_COLLATERAL, "d", "s", give=1, asset_in=TOKEN, get=1, asset_out=ADA)
