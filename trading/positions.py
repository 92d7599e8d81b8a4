"""A leveraged position and its figures. Pure.

The figures (size, entry price, collateral, debt, interest and fees paid, realised PnL)
are never stored or patched: `figures` recomputes them from the position's confirmed
legs, with sums only, so the order of the legs does not matter and a failed or cancelled
leg contributes nothing (as freqtrade recomputes a trade from its filled orders).

Units: `traded` is the asset the position is long or short of, `base` the one it is
priced in (ADA: "lovelace"). Amounts are ints in base units; the entry price is an exact
`Fraction` of base units of `base` per base unit of `traded`.
"""
from __future__ import annotations

import enum
import math
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Iterable, Mapping

from core.units import LOVELACE
from trading.legs import Leg, LegKind, LegState

if TYPE_CHECKING:  # transitions.py defines events over positions
    from trading.transitions import Event


class Side(str, enum.Enum):
    LONG = "long"
    SHORT = "short"


class PositionState(str, enum.Enum):
    REQUESTED = "requested"
    REFUSED = "refused"  # refused before anything was sent (pre-trade checks)
    COLLATERAL_LOCKED = "collateral_locked"
    BORROWED = "borrowed"
    SWAPPED = "swapped"
    OPEN = "open"
    CLOSING = "closing"
    SETTLED = "settled"
    FAILED = "failed"  # a venue or the DEX failed and the retries ran out: needs unwinding
    CANCELLED = "cancelled"
    LIQUIDATED = "liquidated"


TERMINAL = frozenset({PositionState.REFUSED, PositionState.SETTLED, PositionState.CANCELLED,
                      PositionState.LIQUIDATED})


@dataclass(frozen=True)
class Position:
    """A position as its history made it: `version` is the number of events applied,
    `legs` every leg by id (in whatever state), `history` the events in order."""

    position_id: str
    side: Side
    traded: str
    venue: str
    collateral_asset: str
    requested_ms: int
    base: str = LOVELACE
    paper: bool = True
    state: PositionState = PositionState.REQUESTED
    version: int = 0
    legs: Mapping[str, Leg] = field(default_factory=dict)
    history: tuple[HistoryEntry, ...] = ()

    @property
    def figures(self) -> Figures:
        return figures(self.side, self.traded, self.base, self.legs.values())


@dataclass(frozen=True)
class HistoryEntry:
    """One applied event, as it is appended to the position's history."""

    seq: int
    before: PositionState
    after: PositionState
    event: Event


@dataclass(frozen=True)
class Figures:
    size: int                      # held exposure in `traded` (long: bought, short: sold)
    entry_price: Fraction | None   # base per traded, over the opening swaps
    closed_size: int               # of the exposure, what was closed by swaps back
    collateral: dict[str, int]     # asset -> deposited minus withdrawn
    debt: dict[str, int]           # asset -> principal borrowed minus principal repaid
    interest_paid: dict[str, int]  # asset -> interest paid by repays
    fees_paid: int                 # lovelace: network fees plus venue, DEX and batcher fees
    realised_pnl: int              # lovelace, net of fees and of interest paid in `base`
    #: asset -> what the legs moved into the position's wallet, net (what was posted
    #: apart): e.g. a long's bought tokens not locked at the venue.
    wallet: dict[str, int] = field(default_factory=dict)
    #: Loans still open where each borrow is its own loan carrying its collateral:
    #: (collateral, principal) in the order they were taken.
    loans: tuple[tuple[int, int], ...] = ()


def figures(side: Side, traded: str, base: str, legs: Iterable[Leg]) -> Figures:
    """The position's figures from its legs; only confirmed legs count."""
    collateral: dict[str, int] = defaultdict(int)
    principal: dict[str, int] = defaultdict(int)
    interest: dict[str, int] = defaultdict(int)
    legs = list(legs)
    wallet: dict[str, int] = defaultdict(int)
    fees = 0
    bought = cost = sold = proceeds = 0  # traded units in/out of swaps, base paid/received
    for leg in legs:
        if leg.state is not LegState.CONFIRMED or leg.actual is None:
            continue
        got = leg.actual
        fees += got.network_fee + got.service_fee
        if leg.kind is LegKind.LOCK_COLLATERAL:
            continue  # receipts of a deposit already counted: no value moves
        if leg.asset_in is not None:
            wallet[leg.asset_in] -= got.amount_in
        if leg.asset_out is not None:
            wallet[leg.asset_out] += got.amount_out
        if leg.kind is LegKind.DEPOSIT_COLLATERAL:
            collateral[_asset(leg.asset_in)] += got.amount_in
        elif leg.kind is LegKind.WITHDRAW_COLLATERAL:
            collateral[_asset(leg.asset_out)] -= got.amount_out
        elif leg.kind is LegKind.BORROW:
            principal[_asset(leg.asset_out)] += got.amount_out
            if leg.carries_collateral:  # the loan's own collateral, locked with it
                collateral[_asset(leg.asset_in)] += got.amount_in
        elif leg.kind is LegKind.REPAY:
            principal[_asset(leg.asset_in)] -= got.amount_in - got.interest
            interest[_asset(leg.asset_in)] += got.interest
            if leg.carries_collateral:  # a full repay releases the loan's collateral
                collateral[_asset(leg.asset_out)] -= got.amount_out
        elif leg.asset_out == traded and leg.asset_in == base:
            bought += got.amount_out
            cost += got.amount_in
        elif leg.asset_in == traded and leg.asset_out == base:
            sold += got.amount_in
            proceeds += got.amount_out
        # Other swaps (e.g. collateral asset to base) move no exposure; their fees count.
    if side is Side.LONG:
        opened, opened_value, closed, closed_value = bought, cost, sold, proceeds
    else:
        opened, opened_value, closed, closed_value = sold, proceeds, bought, cost
    entry = Fraction(opened_value, opened) if opened else None
    matched = min(opened, closed)
    gross = Fraction(0)
    if matched and entry is not None:
        # Long: what the sales brought (scaled to the tokens that were bought) minus their
        # cost. Short: what the matched sales brought minus everything spent buying back —
        # a buy-back beyond what was sold is interest paid in the token, a real cost.
        if side is Side.LONG:
            gross = Fraction(closed_value * matched, closed) - matched * entry
        else:
            gross = matched * entry - closed_value
    realised = math.floor(gross) - fees - interest.get(base, 0)
    return Figures(
        size=max(0, opened - closed), entry_price=entry, closed_size=matched,
        collateral=_nonzero(collateral), debt=_nonzero({a: max(0, v) for a, v in principal.items()}),
        interest_paid=_nonzero(interest), fees_paid=fees, realised_pnl=realised,
        wallet=_nonzero(wallet),
        loans=tuple((leg.actual.amount_in, leg.actual.amount_out)
                    for leg in open_loan_legs(legs) if leg.actual is not None))


def open_loan_legs(legs: Iterable[Leg]) -> list[Leg]:
    """The confirmed borrows that carry their collateral and are not yet repaid, in the
    order they were taken (the same matching as `Figures.loans`)."""
    confirmed = [leg for leg in legs if leg.confirmed and leg.actual is not None]
    borrows = sorted((leg for leg in confirmed
                      if leg.kind is LegKind.BORROW and leg.carries_collateral),
                     key=lambda leg: leg.step)
    for repay in confirmed:
        if repay.kind is not LegKind.REPAY or not repay.carries_collateral:
            continue
        assert repay.actual is not None
        for index in range(len(borrows) - 1, -1, -1):
            locked = borrows[index].actual
            if locked is not None and locked.amount_in == repay.actual.amount_out:
                del borrows[index]
                break
    return borrows


def _asset(unit: str | None) -> str:
    assert unit is not None  # Leg checks each kind's shape
    return unit


def _nonzero(amounts: Mapping[str, int]) -> dict[str, int]:
    return {asset: value for asset, value in sorted(amounts.items()) if value}
