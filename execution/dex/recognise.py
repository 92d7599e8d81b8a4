"""Orders placed, filled and cancelled, found in a `chain.ledger.Tx`. Pure.

- An order: an output at a known DEX order script whose datum (inline, or by hash in the
  tx's witness set) reads. An output at an order script without a readable datum is
  reported as an error, not skipped: it could pay anyone.
- A fill, for any DEX: the tx spends a known order and pays its receiver; what the
  receiver's outputs hold is the amount received. A batch usually pays a DEX pool output
  too. When the order itself was not seen (a batch read alone), a datum-by-hash order in
  the witness set still names its receiver: reported with `order_ref` None. A batch of
  a DEX with inline order datums (Minswap v2), read without its orders, is known by its
  pool output, a batcher's signature and at least two scripts run (pool and order): each
  output that goes neither to a script nor to a key that signed (the batcher) is reported
  as a payout, `order_ref` None. Both real batches in the fixtures have that shape.
- A cancel: the tx spends a known order, pays its owner back and touches no pool of the
  DEX (no batcher ran).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chain.ledger import Tx, TxOut
from protocols.errors import DatumLayoutError

from .model import Cancel, Fill, Order, Value
from .registry import DEXES, dex_of_order_address, dex_of_pool_address, is_mainnet


def value_of(out: TxOut) -> Value:
    return Value(out.lovelace, {f"{p.hex()}.{n.hex()}": q for (p, n), q in out.assets.items()})


def _sum(outs: list[TxOut]) -> Value:
    assets: dict[str, int] = {}
    for out in outs:
        for unit, q in value_of(out).assets.items():
            assets[unit] = assets.get(unit, 0) + q
    return Value(sum(o.lovelace for o in outs), assets)


@dataclass
class Found:
    orders: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<ref>: <why>" per unreadable order


def _datum(tx: Tx, out: TxOut) -> bytes | None:
    if out.inline_datum is not None:
        return out.inline_datum
    return None if out.datum_hash is None else tx.datums.get(out.datum_hash)


def find_orders(tx: Tx) -> tuple[list[Order], list[str]]:
    orders: list[Order] = []
    errors: list[str] = []
    if not tx.valid:
        return orders, errors
    tx_id = tx.id.hex()
    for index, out in enumerate(tx.outputs):
        dex = dex_of_order_address(out.address_bytes)
        if dex is None:
            continue
        ref = f"{tx_id}#{index}"
        cbor = _datum(tx, out)
        if cbor is None:
            errors.append(f"{ref}: {dex.name} order without its datum in this tx")
            continue
        try:
            datum = dex.read_datum(cbor, is_mainnet(out.address_bytes))
        except DatumLayoutError as error:
            errors.append(f"{ref}: {error}")
            continue
        orders.append(Order(ref, datum, value_of(out)))
    return orders, errors


def _pays(tx: Tx, address: str) -> list[TxOut]:
    return [o for o in tx.outputs if o.address == address]


def _touches_pool(tx: Tx, dex: str) -> bool:
    return any((d := dex_of_pool_address(o.address_bytes)) is not None and d.name == dex
               for o in tx.outputs)


def settle(tx: Tx, known: dict[str, Order]) -> tuple[list[Fill], list[Cancel], list[str]]:
    """Fills and cancels of the known orders this tx spends; an error for a known order
    spent by a tx that pays neither its receiver nor its owner (its script should not
    allow that: said, never booked as a fill)."""
    fills: list[Fill] = []
    cancels: list[Cancel] = []
    errors: list[str] = []
    if not tx.valid:
        return fills, cancels, errors
    tx_id = tx.id.hex()
    for t, i in tx.inputs:
        order = known.get(f"{t.hex()}#{i}")
        if order is None:
            continue
        datum = order.datum
        if _touches_pool(tx, datum.dex) or datum.owner not in {s.hex()
                                                               for s in tx.required_signers}:
            paid = _pays(tx, datum.receiver)
            if paid:
                fills.append(Fill(datum.dex, order.ref, tx_id, datum.receiver,
                                  _sum(paid)))
                continue
        owner_outs = [o for o in tx.outputs if _owner_key(o) == datum.owner]
        if owner_outs and not _touches_pool(tx, datum.dex):
            paid_to = owner_outs[0].address
            cancels.append(Cancel(datum.dex, order.ref, tx_id, paid_to,
                                  _sum([o for o in owner_outs if o.address == paid_to])))
            continue
        errors.append(f"{order.ref}: {datum.dex} order spent by tx {tx_id}, which pays "
                      "neither its receiver nor its owner")
    return fills, cancels, errors


def _owner_key(out: TxOut) -> str | None:
    a = out.address_bytes
    if len(a) >= 29 and a[0] >> 4 <= 7 and not (a[0] >> 4) & 1:
        return a[1:29].hex()
    return None


def witness_fills(tx: Tx, known: dict[str, Order]) -> tuple[list[Fill], list[str]]:
    """Fills of orders not seen before, read from order datums in the witness set of a tx
    that pays the DEX's pool (a batch): the receiver and the amount, order_ref None."""
    fills: list[Fill] = []
    errors: list[str] = []
    if not tx.valid:
        return fills, errors
    pools = {d.name: is_mainnet(o.address_bytes) for o in tx.outputs
             if (d := dex_of_pool_address(o.address_bytes)) is not None}
    seen_receivers = {o.datum.receiver for o in known.values()}
    for cbor in tx.datums.values():
        for dex in DEXES:
            if dex.name not in pools:
                continue
            try:
                datum = dex.read_datum(cbor, pools[dex.name])
            except DatumLayoutError:
                continue  # the pool's datum, or another DEX's
            if datum.receiver in seen_receivers:
                continue  # settled through its known order
            paid = _pays(tx, datum.receiver)
            if paid:
                fills.append(Fill(dex.name, None, tx.id.hex(), datum.receiver, _sum(paid)))
            else:
                errors.append(f"tx {tx.id.hex()}: a {dex.name} order datum whose receiver "
                              "this batch does not pay")
    settled = {f.dex for f in fills} | {o.datum.dex for o in known.values()
                                        if _spends(tx, o.ref)}
    for name in sorted(set(pools) - settled):
        fills.extend(_payouts(tx, name))
    return fills, errors


def _spends(tx: Tx, ref: str) -> bool:
    return ref in {f"{t.hex()}#{i}" for t, i in tx.inputs}


def _payouts(tx: Tx, dex: str) -> list[Fill]:
    signers = {s.hex() for s in tx.required_signers}
    fills: list[Fill] = []
    if not signers or tx.redeemers < 2:
        return fills  # no batcher signed, or no order script ran: not a batch
    for out in tx.outputs:
        pool = dex_of_pool_address(out.address_bytes)
        if pool is not None or _owner_key(out) in signers or _owner_key(out) is None:
            continue
        fills.append(Fill(dex, None, tx.id.hex(), out.address, value_of(out)))
    return fills


def read_tx(tx: Tx, known: dict[str, Order]) -> Found:
    """Everything DEX in one tx; `known` (order ref -> Order) is updated with the orders
    placed, so a later tx's fill or cancel is matched to them, and loses those settled."""
    found = Found()
    found.fills, found.cancels, errors = settle(tx, known)
    found.errors.extend(errors)
    more, errors = witness_fills(tx, known)
    found.fills.extend(more)
    found.errors.extend(errors)
    for settled in [f.order_ref for f in found.fills] + [c.ref for c in found.cancels]:
        if settled is not None:
            known.pop(settled, None)  # spent: a UTxO is settled once
    found.orders, errors = find_orders(tx)
    found.errors.extend(errors)
    for order in found.orders:
        known[order.ref] = order
    return found
