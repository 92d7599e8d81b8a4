"""Minswap v1 (legacy) orders: datum by hash, the datum in the placing tx's witness set.

Layout (minswap/sdk `OrderV1` in src/types/order.ts; checked on the real datums in
fixtures/dex/minswap-v1): `Constr 0 [sender: Address, receiver: Address,
receiverDatumHash: Maybe, step, batcherFee: Int, depositADA: Int]`, step
`Constr 0 SwapExactIn [desiredAsset: Constr 0 [policy, name], minimumReceived]` or
`Constr 1 SwapExactOut [desiredAsset, expectedReceived]`; Deposit (2), Withdraw (3) and
ZapIn (4) are refused. Script hashes: fixtures/dex/minswap-v1/SOURCES.md (the real txs).
"""
from __future__ import annotations

from .fields import Reader, parse
from .model import OrderDatum, UnsupportedOrder

NAME = "minswap-v1"
ORDER_SCRIPTS = frozenset({"a65ca58a4e9c755fa830173d2a5caed458ac0c73f97db7faae2e7e3b"})
POOL_SCRIPTS = frozenset({"e1317b152faac13426e6a83e06ff88a4d62cce3c1634ab0a5ec13309"})

_r = Reader(NAME)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "OrderDatum", 0, 6)
    sender = _r.address(d.fields[0], "sender", mainnet)
    receiver = _r.address(d.fields[1], "receiver", mainnet)
    _r.constr(d.fields[2], "receiverDatumHash")
    step = _r.constr(d.fields[3], "step", arity=2)
    if step.index not in (0, 1):
        raise UnsupportedOrder(NAME, f"step {step.index} is not a swap (0 exact in, 1 exact out)")
    return OrderDatum(
        dex=NAME, kind="swap",
        owner=_r.payment_key(sender, "sender"),
        receiver=str(receiver),
        want=_r.asset_class(step.fields[0], "step.desiredAsset"),
        min_receive=_r.nat(step.fields[1], "step.minimumReceived"),
        batcher_fee=_r.nat(d.fields[4], "batcherFee"),
        deposit=_r.nat(d.fields[5], "depositADA"),
    )
