"""What became of one of our DEX orders, from the fills and cancels the chain showed. Pure.

A swap leg's order is placed by our transaction (`Order.ref`, "<tx id>#<index>"). Later
blocks settle it once: a fill (a batch that spends it and pays its receiver) or a cancel
(it comes back to its owner). What the leg really received is the fill's payout of the
wanted asset — never the quote. An order neither filled nor cancelled by its deadline is
*overdue*: the flow cancels it and retries the swap as a new attempt; a fill that pays
less than the order's minimum is not a fill we accept (the DEX's script should have
refused it) and is reported as such.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from trading.legs import Actual, Leg, LegState, advance

from .model import Cancel, Fill, Order


@dataclass(frozen=True)
class Filled:
    tx_id: str
    slot: int
    received: int  # base units of the wanted asset paid to the receiver
    paid_to: str


@dataclass(frozen=True)
class Cancelled:
    tx_id: str
    slot: int


@dataclass(frozen=True)
class Pending:
    slots_left: int


@dataclass(frozen=True)
class Overdue:
    """Not settled by its deadline: cancel it, then retry the swap."""

    slots_over: int


@dataclass(frozen=True)
class Underpaid:
    """A 'fill' that pays the receiver less than the order's minimum: refused as a fill."""

    tx_id: str
    received: int
    minimum: int


Fate = Filled | Cancelled | Pending | Overdue | Underpaid


def received_of(order: Order, fill: Fill) -> int:
    want = order.datum.want
    if want is None or want == "lovelace":
        return fill.received.lovelace
    return fill.received.assets.get(want, 0)


def order_fate(order: Order, settled: Iterable[tuple[int, Fill | Cancel]], *, now_slot: int,
               deadline_slot: int) -> Fate:
    """The fate of `order` from the (slot, fill-or-cancel) the chain showed, in chain
    order; the first that settles our order decides (a UTxO is spent once)."""
    for slot, event in settled:
        if isinstance(event, Cancel) and event.ref == order.ref:
            return Cancelled(event.tx_id, slot)
        if isinstance(event, Fill) and event.order_ref == order.ref:
            if event.paid_to != order.datum.receiver:
                continue  # not our payout (a batch pays many receivers)
            got = received_of(order, event)
            if got < order.datum.min_receive:
                return Underpaid(event.tx_id, got, order.datum.min_receive)
            return Filled(event.tx_id, slot, got, event.paid_to)
    if now_slot > deadline_slot:
        return Overdue(now_slot - deadline_slot)
    return Pending(deadline_slot - now_slot)


def booked(leg: Leg, filled: Filled, *, network_fee: int, service_fee: int) -> Leg:
    """The swap leg confirmed with what the chain says it received."""
    actual = Actual(tx_id=leg.tx_id or filled.tx_id, amount_in=leg.amount_in,
                    amount_out=filled.received, network_fee=network_fee,
                    service_fee=service_fee)
    return advance(leg, LegState.CONFIRMED, actual=actual)
