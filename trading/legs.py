"""A leg: one transaction of a position — a venue transaction (deposit or withdraw
collateral, borrow, repay) or a swap — with what it was meant to move, where it stands,
and, once the chain confirmed it, what actually moved. Pure.

Assets are unit strings as core.units spells them ("lovelace", or policy id + asset name
hex); amounts are ints in base units.

A leg's life: planned -> built -> submitted -> confirmed | failed; planned, built or
submitted -> cancelled (a DEX order we cancel is a cancelled leg); built or submitted ->
failed (a refused build, an order not filled in time). A retry is a new leg with the
next attempt number, never a leg revived: the failed one stays in the history as it was.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace

from core.errors import AppError

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class LegKind(str, enum.Enum):
    DEPOSIT_COLLATERAL = "deposit_collateral"
    WITHDRAW_COLLATERAL = "withdraw_collateral"
    BORROW = "borrow"
    REPAY = "repay"
    SWAP = "swap"
    #: Supplied receipt tokens (Liqwid's qTokens) locked in the loan: collateral added
    #: to an open position at a venue that locks receipts (Market.locks_receipts).
    LOCK_COLLATERAL = "lock_collateral"


class LegState(str, enum.Enum):
    PLANNED = "planned"
    BUILT = "built"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    CANCELLED = "cancelled"


#: The legal moves of a leg; a leg is new only as PLANNED.
LEG_MOVES: dict[LegState, frozenset[LegState]] = {
    LegState.PLANNED: frozenset({LegState.BUILT, LegState.CANCELLED, LegState.FAILED}),
    LegState.BUILT: frozenset({LegState.SUBMITTED, LegState.CANCELLED, LegState.FAILED}),
    LegState.SUBMITTED: frozenset({LegState.CONFIRMED, LegState.FAILED, LegState.CANCELLED}),
    LegState.CONFIRMED: frozenset(),
    LegState.FAILED: frozenset(),
    LegState.CANCELLED: frozenset(),
}

FINISHED = frozenset({LegState.CONFIRMED, LegState.FAILED, LegState.CANCELLED})


class LegError(AppError, ValueError):
    """A leg that is not well formed, or a move its life does not allow."""


@dataclass(frozen=True)
class Actual:
    """What the chain showed for a confirmed leg (base units). `amount_in` left our
    wallet, `amount_out` reached it; `network_fee` and `service_fee` (venue, DEX, batcher
    and partner fees) are lovelace. For a repay, `interest` is the part of `amount_in`
    that paid interest rather than principal (as the venue's interest index says)."""

    tx_id: str
    amount_in: int = 0
    amount_out: int = 0
    network_fee: int = 0
    service_fee: int = 0
    interest: int = 0

    def __post_init__(self) -> None:
        for name in ("amount_in", "amount_out", "network_fee", "service_fee", "interest"):
            _check_amount(name, getattr(self, name))
        if self.interest > self.amount_in:
            raise LegError("interest cannot exceed what was paid")
        if not self.tx_id:
            raise LegError("a confirmed leg names its transaction")


@dataclass(frozen=True)
class Leg:
    """One transaction of a position. `asset_in`/`amount_in`: what we mean to send (for
    a swap, what we sell); `asset_out`/`amount_out`: what we mean to receive (for a swap,
    the guaranteed minimum). `step` and `attempt` name it for idempotency."""

    leg_id: str
    kind: LegKind
    venue: str
    step: str
    attempt: int
    asset_in: str | None = None
    amount_in: int = 0
    asset_out: str | None = None
    amount_out: int = 0
    state: LegState = LegState.PLANNED
    tx_id: str | None = None
    actual: Actual | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.leg_id):
            raise LegError(f"leg id must be [a-z0-9_-], got {self.leg_id!r}")
        check_step(self.step, self.attempt)
        _check_amount("amount_in", self.amount_in)
        _check_amount("amount_out", self.amount_out)
        sends, receives = _SHAPE[self.kind]
        if self.kind in _CARRIES:  # a loan's collateral, locked or released with it
            sends = sends or self.asset_in is not None
            receives = receives or self.asset_out is not None
        if sends != (self.asset_in is not None) or receives != (self.asset_out is not None):
            raise LegError(f"a {self.kind.value} leg {'sends' if sends else 'sends nothing'}"
                           f" and {'receives' if receives else 'receives nothing'}")
        if self.kind is LegKind.SWAP and self.asset_in == self.asset_out:
            raise LegError("a swap sells one asset for another")
        if (self.state is LegState.CONFIRMED) != (self.actual is not None):
            raise LegError("a leg has actual amounts exactly when it is confirmed")
        if self.actual is not None and self.kind is not LegKind.REPAY and self.actual.interest:
            raise LegError("only a repay pays interest")

    @property
    def confirmed(self) -> bool:
        return self.state is LegState.CONFIRMED

    @property
    def carries_collateral(self) -> bool:
        """A loan's own transaction (Market.loan_per_borrow): a borrow locking its
        collateral, or a full repay releasing it."""
        return (self.kind is LegKind.BORROW and self.asset_in is not None) or \
            (self.kind is LegKind.REPAY and self.asset_out is not None)


#: kind -> (sends an asset, receives an asset)
_SHAPE: dict[LegKind, tuple[bool, bool]] = {
    LegKind.DEPOSIT_COLLATERAL: (True, False),
    LegKind.WITHDRAW_COLLATERAL: (False, True),
    LegKind.BORROW: (False, True),
    LegKind.REPAY: (True, False),
    LegKind.SWAP: (True, True),
    LegKind.LOCK_COLLATERAL: (True, False),
}


#: Kinds that may also carry a loan's collateral where each borrow is its own loan
#: (Market.loan_per_borrow): a borrow locks it (asset_in), a full repay releases it
#: (asset_out).
_CARRIES = frozenset({LegKind.BORROW, LegKind.REPAY})


def check_step(step: str, attempt: int) -> None:
    if not _NAME.match(step):
        raise LegError(f"step must be [a-z0-9_-], got {step!r}")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise LegError(f"attempt must be an int >= 1, got {attempt!r}")


def advance(leg: Leg, state: LegState, *, tx_id: str | None = None,
            actual: Actual | None = None) -> Leg:
    """The leg moved to `state`; LegError if its life does not allow the move."""
    if state not in LEG_MOVES[leg.state]:
        raise LegError(f"leg {leg.leg_id}: {leg.state.value} -> {state.value} is not allowed")
    return replace(leg, state=state, tx_id=tx_id or leg.tx_id, actual=actual)


def follows(before: Leg | None, after: Leg) -> bool:
    """Whether `after` is a legal next form of `before` (None: a new leg, PLANNED only):
    same leg, same intent, one legal move."""
    if before is None:
        return after.state is LegState.PLANNED
    same = replace(after, state=before.state, tx_id=before.tx_id, actual=before.actual)
    return same == before and after.state in LEG_MOVES[before.state]


def _check_amount(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LegError(f"{name} must be an int >= 0 (base units), got {value!r}")
