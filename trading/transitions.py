"""The one transition table of a position's life, and `transition`. Pure.

(state, event) -> state. An event that confirms a leg carries that leg, confirmed, and
moves the position (the leg of a borrow confirmed: BORROWED); `LEG` events record a leg's
other moves (planned, built, submitted, failed, cancelled) without moving the position,
so a step in flight is on record before anything is sent and resumable after a crash.
A step's attempt has one leg. REFUSE and CANCEL are refused once a leg was sent.
A failed leg is retried as a new leg (next attempt); FAIL is for a position whose
retries ran out, which then closes (unwinds) what it holds. REFUSE is pre-trade refusal,
before anything was sent (not enough liquidity, leverage above the venue's LTV): a state
of its own, apart from failure at a venue. An illegal event raises `IllegalTransition`.

Refinements of the issue's line: a long may loop (SWAPPED -> COLLATERAL_LOCKED: the
bought token deposited again, then borrow and swap again); collateral may be added while
OPEN; a partial close goes OPEN -> CLOSING -> OPEN (REDUCED); a failed position unwinds
through CLOSING; liquidation (chain evidence) ends any position that holds something.
Where each borrow is its own loan carrying its collateral (Surf), a borrow locks the
collateral itself: REQUESTED -> BORROWED (a short's first loan) and SWAPPED -> BORROWED
(the next loan), with no deposit between.

Every applied event has an idempotency key, (position id, step, attempt) and the phase
it records; `idempotency_key` spells it as the store keeps it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from decimal import Decimal

from core.errors import AppError
from trading.legs import FINISHED, Leg, LegError, LegKind, LegState, check_step, follows
from trading.positions import TERMINAL, HistoryEntry, Position, PositionState

S = PositionState


class EventKind(str, enum.Enum):
    LEG = "leg"                                   # a leg's move short of confirmation
    REFUSE = "refuse"                             # pre-trade refusal, nothing sent
    CANCEL = "cancel"                             # the user withdrew it, nothing held
    COLLATERAL_LOCKED = "collateral_locked"       # deposit confirmed
    BORROWED = "borrowed"                         # borrow confirmed
    SWAPPED = "swapped"                           # opening swap confirmed
    OPENED = "opened"                             # the plan's legs are all done
    COLLATERAL_ADDED = "collateral_added"         # deposit confirmed on an open position
    COLLATERAL_LOCKED_IN = "collateral_locked_in"  # supplied receipts locked in the loan
    CLOSE = "close"                               # close (fraction 1) or reduce requested
    SWAPPED_BACK = "swapped_back"                 # closing swap confirmed
    REPAID = "repaid"                             # repay confirmed
    COLLATERAL_WITHDRAWN = "collateral_withdrawn"  # withdrawal confirmed
    REDUCED = "reduced"                           # a partial close is done: open again
    SETTLED = "settled"                           # all repaid, withdrawn, returned
    FAIL = "fail"                                 # retries ran out at a venue or the DEX
    LIQUIDATED = "liquidated"                     # the venue liquidated it (chain evidence)


E = EventKind

#: The table. LEG events are allowed in every state that is not terminal (a leg in flight
#: may still confirm or fail after its position failed); they never change the state.
TABLE: dict[tuple[PositionState, EventKind], PositionState] = {
    (S.REQUESTED, E.REFUSE): S.REFUSED,
    (S.REQUESTED, E.CANCEL): S.CANCELLED,
    (S.REQUESTED, E.COLLATERAL_LOCKED): S.COLLATERAL_LOCKED,
    (S.REQUESTED, E.SWAPPED): S.SWAPPED,           # a long buys its token with the equity first
    (S.REQUESTED, E.FAIL): S.FAILED,
    (S.REQUESTED, E.BORROWED): S.BORROWED,         # a loan that carries its collateral
    (S.COLLATERAL_LOCKED, E.COLLATERAL_LOCKED): S.COLLATERAL_LOCKED,
    (S.COLLATERAL_LOCKED, E.BORROWED): S.BORROWED,
    (S.COLLATERAL_LOCKED, E.OPENED): S.OPEN,       # a loop that ends on a deposit
    (S.COLLATERAL_LOCKED, E.FAIL): S.FAILED,
    (S.COLLATERAL_LOCKED, E.LIQUIDATED): S.LIQUIDATED,
    (S.BORROWED, E.SWAPPED): S.SWAPPED,
    (S.BORROWED, E.FAIL): S.FAILED,
    (S.BORROWED, E.LIQUIDATED): S.LIQUIDATED,
    (S.SWAPPED, E.COLLATERAL_LOCKED): S.COLLATERAL_LOCKED,  # looping
    (S.SWAPPED, E.BORROWED): S.BORROWED,           # the next loan, carrying its collateral
    (S.SWAPPED, E.OPENED): S.OPEN,
    (S.SWAPPED, E.FAIL): S.FAILED,
    (S.SWAPPED, E.LIQUIDATED): S.LIQUIDATED,
    (S.OPEN, E.COLLATERAL_ADDED): S.OPEN,
    (S.OPEN, E.COLLATERAL_LOCKED_IN): S.OPEN,
    (S.OPEN, E.CLOSE): S.CLOSING,
    (S.OPEN, E.LIQUIDATED): S.LIQUIDATED,
    (S.CLOSING, E.SWAPPED_BACK): S.CLOSING,
    (S.CLOSING, E.REPAID): S.CLOSING,
    (S.CLOSING, E.COLLATERAL_WITHDRAWN): S.CLOSING,
    (S.CLOSING, E.REDUCED): S.OPEN,
    (S.CLOSING, E.SETTLED): S.SETTLED,
    (S.CLOSING, E.FAIL): S.FAILED,
    (S.CLOSING, E.LIQUIDATED): S.LIQUIDATED,
    (S.FAILED, E.CLOSE): S.CLOSING,                # unwind what is held
    (S.FAILED, E.CANCEL): S.CANCELLED,             # nothing was held
    (S.FAILED, E.LIQUIDATED): S.LIQUIDATED,
}

#: Events that confirm a leg, and the kind of leg each confirms.
CONFIRMS: dict[EventKind, LegKind] = {
    E.COLLATERAL_LOCKED: LegKind.DEPOSIT_COLLATERAL,
    E.COLLATERAL_ADDED: LegKind.DEPOSIT_COLLATERAL,
    E.COLLATERAL_LOCKED_IN: LegKind.LOCK_COLLATERAL,
    E.BORROWED: LegKind.BORROW,
    E.SWAPPED: LegKind.SWAP,
    E.SWAPPED_BACK: LegKind.SWAP,
    E.REPAID: LegKind.REPAY,
    E.COLLATERAL_WITHDRAWN: LegKind.WITHDRAW_COLLATERAL,
}

#: Events that must say why.
NEEDS_REASON = frozenset({E.REFUSE, E.FAIL, E.CANCEL, E.LIQUIDATED})


class RefusalReason(str, enum.Enum):
    """Why a position was refused before anything was sent."""

    NOT_ENOUGH_LIQUIDITY = "not_enough_liquidity"
    LEVERAGE_ABOVE_LTV = "leverage_above_ltv"
    BELOW_MIN_SIZE = "below_min_size"
    MARKET_UNAVAILABLE = "market_unavailable"
    COLLATERAL_NOT_ACCEPTED = "collateral_not_accepted"
    PARTIAL_NOT_SUPPORTED = "partial_not_supported"  # e.g. Surf repays in full only


class IllegalTransition(AppError, ValueError):
    """An event the position's state (or the leg's life) does not allow. Nothing changes."""

    def __init__(self, position_id: str, state: PositionState, event: EventKind,
                 why: str) -> None:
        super().__init__(f"position {position_id}: {event.value} in {state.value}: {why}")
        self.position_id = position_id
        self.state = state
        self.event = event


@dataclass(frozen=True)
class Event:
    """Something that happened to a position, for step `step`, attempt `attempt`."""

    kind: EventKind
    step: str
    attempt: int
    at_ms: int
    leg: Leg | None = None
    reason: str | None = None
    fraction: Decimal | None = None  # CLOSE: the share of the position to close, (0, 1]

    def __post_init__(self) -> None:
        check_step(self.step, self.attempt)
        if self.kind is E.CLOSE:
            if self.fraction is None or not (0 < self.fraction <= 1):
                raise LegError(f"a close names a fraction in (0, 1], got {self.fraction}")
        elif self.fraction is not None:
            raise LegError("only a close has a fraction")
        if self.kind is E.REFUSE and self.reason not in {r.value for r in RefusalReason}:
            raise LegError(f"a refusal names a RefusalReason, got {self.reason!r}")

    @property
    def phase(self) -> str:
        """What of the step this event records: the leg's state, or the event's kind."""
        if self.leg is not None:
            return self.leg.state.value
        return self.kind.value


def idempotency_key(position_id: str, step: str, attempt: int, phase: str) -> str:
    """The key of one phase of one attempt of one step (no dots: a MongoDB field name)."""
    check_step(step, attempt)
    return f"{position_id}:{step}:{attempt}:{phase}"


def event_key(position_id: str, event: Event) -> str:
    return idempotency_key(position_id, event.step, event.attempt, event.phase)


def transition(position: Position, event: Event) -> tuple[Position, HistoryEntry]:
    """The position after `event`, and the history entry that records it."""
    before = position.state

    def illegal(why: str) -> IllegalTransition:
        return IllegalTransition(position.position_id, before, event.kind, why)

    if before in TERMINAL:
        raise illegal("the position is finished")
    if event.kind is E.LEG:
        after = before
        if event.leg is None or event.leg.state is LegState.CONFIRMED:
            raise illegal("a leg event carries a leg short of confirmation")
    else:
        found = TABLE.get((before, event.kind))
        if found is None:
            raise illegal("not in the transition table")
        after = found
        wanted = CONFIRMS.get(event.kind)
        if wanted is None and event.leg is not None:
            raise illegal("this event carries no leg")
        if wanted is not None and (event.leg is None or event.leg.kind is not wanted
                                   or event.leg.state is not LegState.CONFIRMED):
            raise illegal(f"it confirms a {wanted.value} leg, confirmed")
    if event.kind in NEEDS_REASON and not event.reason:
        raise illegal("it must say why")
    legs = dict(position.legs)
    if event.kind in (E.REFUSE, E.CANCEL):
        sent = [lid for lid, leg in legs.items()
                if leg.state in (LegState.SUBMITTED, LegState.CONFIRMED)]
        if sent:
            raise illegal(f"legs were already sent: {', '.join(sorted(sent))}")
    if event.leg is not None:
        leg = event.leg
        if leg.step != event.step or leg.attempt != event.attempt:
            raise illegal("the leg belongs to another step or attempt")
        twin = [other.leg_id for other in legs.values() if other.leg_id != leg.leg_id
                and (other.step, other.attempt) == (leg.step, leg.attempt)]
        if twin:  # one leg per (step, attempt): that is what the idempotency key names
            raise illegal(f"step {leg.step} attempt {leg.attempt} already has leg {twin[0]}")
        if not follows(legs.get(leg.leg_id), leg):
            prior = legs.get(leg.leg_id)
            was = "new" if prior is None else prior.state.value
            raise illegal(f"leg {leg.leg_id}: {was} -> {leg.state.value} is not a legal move")
        legs[leg.leg_id] = leg
    if after in (S.SETTLED, S.OPEN) and before is not S.OPEN:
        in_flight = [lid for lid, leg in legs.items() if leg.state not in FINISHED]
        if in_flight:
            raise illegal(f"legs still in flight: {', '.join(sorted(in_flight))}")
    entry = HistoryEntry(seq=position.version + 1, before=before, after=after, event=event)
    moved = replace(position, state=after, version=entry.seq, legs=legs,
                    history=position.history + (entry,))
    return moved, entry

