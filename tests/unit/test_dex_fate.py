"""execution/dex/fate.py: what became of our order — on the real Minswap v1 order placed
in the fixtures, settled by a fill, an underpaying 'fill', a cancel, or nothing by its
deadline."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chain.ledger import decode_transaction
from execution.dex.fate import Cancelled, Filled, Overdue, Pending, Underpaid, booked, \
    order_fate
from trading.legs import Leg, LegKind, LegState
from execution.dex.model import Cancel, Fill, Order, Value
from execution.dex.recognise import read_tx
from tests.support.fixtures import fixtures_dir, require


@pytest.fixture(scope="module")
def order() -> Order:
    file = require(fixtures_dir() / "dex" / "minswap-v1" / "txs" /
                   "tx_d1cb4d70_order_placement.hex", "DEX fixtures")
    found = read_tx(decode_transaction(bytes.fromhex(file.read_text().strip())), {})
    [placed] = found.orders
    return placed


def fill(order: Order, received: int, *, paid_to: str | None = None,
         ref: str | None = None) -> Fill:
    want = order.datum.want
    assert want is not None and want != "lovelace"
    return Fill("minswap-v1", ref or order.ref, "f" * 64, paid_to or order.datum.receiver,
                Value(2_000_000, {want: received}))


def test_a_fill_books_what_the_receiver_was_paid_not_the_quote(order: Order) -> None:
    minimum = order.datum.min_receive
    fate = order_fate(order, [(100, fill(order, minimum + 12_345))], now_slot=120,
                      deadline_slot=110)
    assert fate == Filled("f" * 64, 100, minimum + 12_345, order.datum.receiver)


def test_a_fill_below_the_minimum_is_not_accepted(order: Order) -> None:
    fate = order_fate(order, [(100, fill(order, order.datum.min_receive - 1))], now_slot=100,
                      deadline_slot=200)
    assert isinstance(fate, Underpaid) and fate.minimum == order.datum.min_receive


def test_other_orders_and_other_receivers_do_not_settle_ours(order: Order) -> None:
    others = [(100, fill(order, 10 ** 15, ref="0" * 64 + "#0")),
              (101, fill(order, 10 ** 15, paid_to="addr1somebodyelse")),
              (102, Cancel("minswap-v1", "0" * 64 + "#1", "e" * 64, "x", Value(1)))]
    assert order_fate(order, others, now_slot=150, deadline_slot=200) == Pending(50)
    assert order_fate(order, others, now_slot=230, deadline_slot=200) == Overdue(30)


def test_a_cancel_settles_it_and_the_first_settlement_decides(order: Order) -> None:
    cancel = Cancel("minswap-v1", order.ref, "c" * 64, order.datum.receiver,
                    replace(order.offer))
    fate = order_fate(order, [(90, cancel), (95, fill(order, 10 ** 15))], now_slot=99,
                      deadline_slot=200)
    assert fate == Cancelled("c" * 64, 90)


def test_the_leg_is_booked_with_the_amount_received(order: Order) -> None:
    want = order.datum.want or ""
    leg = Leg("open-00-swap-a1", LegKind.SWAP, "surf", "open-00-swap", 1, "lovelace",
              2_000_000_000, want, order.datum.min_receive, LegState.SUBMITTED, tx_id="d1" * 32)
    got = booked(leg, Filled("f" * 64, 100, order.datum.min_receive + 7, order.datum.receiver),
                 network_fee=200_000, service_fee=1_500_000)
    assert got.state is LegState.CONFIRMED and got.actual is not None
    assert got.actual.amount_out == order.datum.min_receive + 7
    assert (got.actual.tx_id, got.actual.amount_in) == ("d1" * 32, 2_000_000_000)
