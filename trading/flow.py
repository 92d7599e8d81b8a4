"""A position's program and what to do next. Pure.

A position runs a *program*: groups of steps, each step one leg of a plan (trading/plan.py).
The open group is the plan's legs; each close or reduce adds a close group (its legs from
`plan_close` at the time it was asked, so the repay includes the interest due then); each
added collateral adds a deposit group. `next_action` reads the position (its legs and
history, which the store moved by compare-and-set) and the program, and says the one thing
to do next — nothing here runs anything, so a worker that died anywhere resumes by asking
again.

A step's attempt is one leg. A leg that failed (a refused build, an order not filled in
time) is retried as the next attempt, up to MAX_ATTEMPTS; then the position fails (FAIL),
or, for added collateral, the group is given up (the position stays open as it was).

Amounts chain: a step that spends what the step before it produced (same asset, same
planned amount) spends what that step really produced — a deposit after a swap deposits
what the swap delivered, a swap after a borrow sells what was borrowed; a repay after a
swap repays what is owed, or less if the swap brought less (the close then does not
settle: it fails with the debt left, and is closed again).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Mapping, Sequence

from trading.legs import Leg, LegKind, LegState, check_step
from trading.positions import TERMINAL, Position, PositionState
from trading.transitions import EventKind

#: Attempts of one step before the position fails (each a fresh quote and build).
MAX_ATTEMPTS = 3


class GroupKind(str, enum.Enum):
    OPEN = "open"
    ADD = "add"      # collateral added to an open position
    CLOSE = "close"  # a close (fraction 1) or a reduce


#: The event that confirms a leg of each kind, per group.
CONFIRM_EVENT: dict[tuple[GroupKind, LegKind], EventKind] = {
    (GroupKind.OPEN, LegKind.DEPOSIT_COLLATERAL): EventKind.COLLATERAL_LOCKED,
    (GroupKind.OPEN, LegKind.BORROW): EventKind.BORROWED,
    (GroupKind.OPEN, LegKind.SWAP): EventKind.SWAPPED,
    (GroupKind.ADD, LegKind.DEPOSIT_COLLATERAL): EventKind.COLLATERAL_ADDED,
    (GroupKind.ADD, LegKind.LOCK_COLLATERAL): EventKind.COLLATERAL_LOCKED_IN,
    (GroupKind.CLOSE, LegKind.WITHDRAW_COLLATERAL): EventKind.COLLATERAL_WITHDRAWN,
    (GroupKind.CLOSE, LegKind.SWAP): EventKind.SWAPPED_BACK,
    (GroupKind.CLOSE, LegKind.REPAY): EventKind.REPAID,
}


@dataclass(frozen=True)
class Step:
    """One planned leg: `amount_out` is the plan's expectation (a swap's is replaced by
    the quote's floor when the leg is planned). `principal`: for a repay, the part of
    `amount_in` that repays principal (the rest is interest). `service_fee`: the venue's
    fees for this transaction as planned (lovelace: batcher, origination)."""

    step: str
    kind: LegKind
    venue: str
    asset_in: str | None = None
    amount_in: int = 0
    asset_out: str | None = None
    amount_out: int = 0
    principal: int = 0
    service_fee: int = 0
    #: A swap that must deliver at least `amount_out` (a buy-back before a repay): its
    #: input is found from a reverse quote, up to `amount_in`.
    exact_out: bool = False
    #: A repay in full (a loan that is repaid only whole, Surf): it pays `amount_in`, what
    #: is owed, whatever the step before brought; the wallet lends the difference.
    in_full: bool = False

    def __post_init__(self) -> None:
        check_step(self.step, 1)
        if self.exact_out and self.kind is not LegKind.SWAP:
            raise ValueError("only a swap is asked for an exact output")
        if self.in_full and self.kind is not LegKind.REPAY:
            raise ValueError("only a repay is made in full")


@dataclass(frozen=True)
class Group:
    name: str  # a step name: "open", "close-1", "add-2"
    kind: GroupKind
    steps: tuple[Step, ...]
    fraction: Decimal | None = None  # a close group's share of the position

    def __post_init__(self) -> None:
        check_step(self.name, 1)
        if (self.kind is GroupKind.CLOSE) != (self.fraction is not None):
            raise ValueError("a close group, and only a close group, has a fraction")


# --- what to do next ----------------------------------------------------------------------

@dataclass(frozen=True)
class Idle:
    """Nothing to do: the position waits (open) or is finished."""

    why: str


@dataclass(frozen=True)
class StartLeg:
    """Plan the leg of `step`'s attempt `attempt`, spending `amount_in`."""

    group: Group
    step: Step
    attempt: int
    amount_in: int


@dataclass(frozen=True)
class DriveLeg:
    """Take `leg` one move further (build, submit, settle its fill)."""

    group: Group
    step: Step
    leg: Leg


@dataclass(frozen=True)
class GroupEvent:
    """Record a group's start (CLOSE) or end (OPENED, SETTLED, REDUCED) event, or the
    failure (FAIL) of a step whose attempts ran out."""

    group: Group
    kind: EventKind
    reason: str | None = None


Action = Idle | StartLeg | DriveLeg | GroupEvent


def next_action(position: Position, program: Sequence[Group]) -> Action:
    if position.state in TERMINAL:
        return Idle(f"the position is {position.state.value}")
    if position.state is PositionState.FAILED:
        return Idle("the position failed: close it to unwind what it holds")
    recorded = {(h.event.step, h.event.kind) for h in position.history}
    for group in program:
        end = _end_event(group)
        if end is not None and (group.name, end) in recorded:
            continue
        if (group.name, EventKind.FAIL) in recorded:
            continue  # failed for good: a close after it unwinds what it left
        if group.kind is GroupKind.CLOSE and (group.name, EventKind.CLOSE) not in recorded:
            return GroupEvent(group, EventKind.CLOSE)
        produced: dict[str, int] = {}  # step -> what its confirmed leg delivered
        repaid = 0  # by this group's confirmed repays
        last_repay = max((i for i, s in enumerate(group.steps) if s.kind is LegKind.REPAY),
                         default=-1)
        given_up = False
        for index, step in enumerate(group.steps):
            leg = latest_leg(position, step.step)
            if leg is not None and leg.state is LegState.CONFIRMED:
                assert leg.actual is not None
                produced[step.step] = leg.actual.amount_out
                if step.kind is LegKind.REPAY:
                    repaid += leg.actual.amount_in
                continue
            if leg is not None and leg.state not in (LegState.FAILED, LegState.CANCELLED):
                return DriveLeg(group, step, leg)
            attempt = 1 if leg is None else leg.attempt + 1
            if attempt > MAX_ATTEMPTS:
                if group.kind is GroupKind.ADD:
                    given_up = True
                    break
                return GroupEvent(group, EventKind.FAIL,
                                  f"step {step.step}: {MAX_ATTEMPTS} attempts failed")
            before = group.steps[index - 1] if index else None
            amount = chained_amount(step, before, produced)
            if index == last_repay and group.kind is GroupKind.CLOSE and not step.in_full:
                # The close's last repay makes up what earlier rounds repaid short (their
                # swaps brought less than planned), as far as what came allows.
                due = sum(s.amount_in for s in group.steps if s.kind is LegKind.REPAY)
                left = replace(step, amount_in=max(0, due - repaid))
                amount = chained_amount(left, before, produced)
            return StartLeg(group, step, attempt, amount)
        if given_up or end is None:
            continue
        if end is EventKind.SETTLED and position.figures.debt:
            owed = ", ".join(f"{v} {a}" for a, v in position.figures.debt.items())
            return GroupEvent(group, EventKind.FAIL, f"the close left debt unpaid: {owed}")
        return GroupEvent(group, end)
    return Idle("open: waiting for the trader or a guard")


def _end_event(group: Group) -> EventKind | None:
    if group.kind is GroupKind.OPEN:
        return EventKind.OPENED
    if group.kind is GroupKind.CLOSE:
        return EventKind.SETTLED if group.fraction == 1 else EventKind.REDUCED
    return None  # an added deposit ends with its own confirmation


def group_done(position: Position, group: Group) -> bool:
    end = _end_event(group)
    if end is not None:
        return any(h.event.step == group.name and h.event.kind is end for h in position.history)
    return all(_confirmed(position, s.step) for s in group.steps)


def _confirmed(position: Position, step: str) -> bool:
    leg = latest_leg(position, step)
    return leg is not None and leg.state is LegState.CONFIRMED


def latest_leg(position: Position, step: str) -> Leg | None:
    legs = [leg for leg in position.legs.values() if leg.step == step]
    return max(legs, key=lambda leg: leg.attempt) if legs else None


def chained_amount(step: Step, before: Step | None, produced: Mapping[str, int]) -> int:
    """What `step` spends: what the step before it delivered, where it spends that."""
    if before is None or step.in_full:
        return step.amount_in
    feeds = before.step in produced and before.asset_out == step.asset_in
    if feeds and step.exact_out:
        # The most it may spend (the flow finds what it needs): what came, or the plan's
        # bound where that is more (the wallet lends the rest, as for a repay in full).
        return max(produced[before.step], step.amount_in)
    if feeds and step.kind is LegKind.REPAY:
        # What is owed, or less if the swap before it brought less: never money not there.
        return min(step.amount_in, produced[before.step])
    if not feeds or before.amount_out != step.amount_in:
        return step.amount_in
    return produced[before.step]


def leg_id(step: str, attempt: int) -> str:
    return f"{step}-a{attempt}"


def planned_leg(action: StartLeg, amount_out: int | None = None) -> Leg:
    """The leg of a StartLeg, PLANNED; a swap names its floor (`amount_out`)."""
    step = action.step
    if amount_out is None:
        amount_out = step.amount_out
        if step.kind is LegKind.BORROW and step.asset_in and action.amount_in < step.amount_in:
            # A loan locking less collateral than planned borrows that much less: its LTV
            # stays the plan's, within the venue's limit.
            amount_out = step.amount_out * action.amount_in // step.amount_in
    return Leg(leg_id(step.step, action.attempt), step.kind, step.venue, step.step,
               action.attempt, step.asset_in, action.amount_in if step.asset_in else 0,
               step.asset_out, amount_out)


# --- the program as stored (plain dicts; amounts as strings, as store/ wants) ------------

def groups_from_legs(name: str, kind: GroupKind, legs: Sequence[Leg], *,
                     fraction: Decimal | None = None,
                     principal: Mapping[str, int] | None = None,
                     service_fees: Mapping[str, int] | None = None) -> Group:
    """A group from a plan's legs (trading/plan.py), its steps renamed under `name` so
    that every step of a position is unique."""
    steps = tuple(Step(f"{name}-{leg.step.split('-', 1)[1]}", leg.kind, leg.venue,
                       leg.asset_in, leg.amount_in, leg.asset_out, leg.amount_out,
                       (principal or {}).get(leg.step, 0), (service_fees or {}).get(leg.step, 0))
                  for leg in legs)
    return Group(name, kind, steps, fraction)


def group_to_dict(group: Group) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": group.name, "kind": group.kind.value,
        "steps": {str(i).zfill(3): _step_dict(s) for i, s in enumerate(group.steps)}}
    if group.fraction is not None:
        found["fraction"] = str(group.fraction)
    return found


def _step_dict(step: Step) -> dict[str, Any]:
    found: dict[str, Any] = {"step": step.step, "kind": step.kind.value, "venue": step.venue,
             "amount_in": str(step.amount_in), "amount_out": str(step.amount_out),
             "principal": str(step.principal), "service_fee": str(step.service_fee)}
    if step.exact_out:
        found["exact_out"] = True
    if step.in_full:
        found["in_full"] = True
    if step.asset_in is not None:
        found["asset_in"] = step.asset_in
    if step.asset_out is not None:
        found["asset_out"] = step.asset_out
    return found


def group_from_dict(doc: Mapping[str, Any]) -> Group:
    steps = tuple(Step(str(s["step"]), LegKind(s["kind"]), str(s["venue"]), s.get("asset_in"),
                       int(s["amount_in"]), s.get("asset_out"), int(s["amount_out"]),
                       int(s["principal"]), int(s["service_fee"]),
                       bool(s.get("exact_out", False)), bool(s.get("in_full", False)))
                  for _, s in sorted(doc["steps"].items()))
    fraction = doc.get("fraction")
    return Group(str(doc["name"]), GroupKind(doc["kind"]), steps,
                 None if fraction is None else Decimal(fraction))


def program_from_doc(doc: Mapping[str, Any]) -> list[Group]:
    """The program stored under `program.<index>` (zero-padded, in order)."""
    return [group_from_dict(g) for _, g in sorted((doc.get("program") or {}).items())]


def program_field(index: int) -> str:
    """Where the group number `index` of a program is stored."""
    return f"program.{str(index).zfill(3)}"
