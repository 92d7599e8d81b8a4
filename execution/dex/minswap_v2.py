"""Minswap v2 orders: inline datums.

Layout (minswap/sdk `OrderV2` in src/types/order.ts; checked on the real datum in
fixtures/dex/minswap-v2/datums): `Constr 0 [canceller: AuthorizationMethod,
refundReceiver: Address, refundReceiverDatum, successReceiver: Address,
successReceiverDatum, lpAsset: Constr 0 [policy, name], step, maxBatcherFee: Int,
expiredOptions: Maybe]`. Steps read: 0 SwapExactIn [direction, swapAmount,
minimumReceived, killable], 3 SwapExactOut [direction, maximumSwapAmount,
expectedReceived, killable], 4 Deposit [depositAmount, minimumLP, killable]. A swap's
datum names the pool (its LP asset) and a direction, not the wanted asset: `want` is None
there. The deposit is not in the datum: 2 ADA, minswap/sdk's `FIXED_DEPOSIT_ADA`.
Script hashes: Minswap's constants (IndigoProtocol/dexter src/dex/minswap-v2.ts) as
fixtures/dex/minswap-v2/SOURCES.md quotes them.
"""
from __future__ import annotations

from .fields import Reader, parse
from .model import Kind, OrderDatum, UnsupportedOrder

NAME = "minswap-v2"
ORDER_SCRIPTS = frozenset({"c3e28c36c3447315ba5a56f33da6a6ddc1770a876a8d9f0cb3a97c4c"})
POOL_SCRIPTS = frozenset({"ea07b733d932129c378af627436e7cbc2ef0bf96e0036bb51b3bde6b"})
DEPOSIT_LOVELACE = 2_000_000

_r = Reader(NAME)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "OrderDatum", 0, 9)
    canceller = _r.constr(d.fields[0], "canceller", arity=1)
    if canceller.index != 0:
        raise UnsupportedOrder(NAME, f"canceller kind {canceller.index}: not a key signature")
    owner = _r.bytes_(canceller.fields[0], "canceller.hash", 28).hex()
    _r.address(d.fields[1], "refundReceiver", mainnet)
    receiver = _r.address(d.fields[3], "successReceiver", mainnet)
    lp = _r.asset_class(d.fields[5], "lpAsset")
    step = _r.constr(d.fields[6], "step")
    if step.index in (0, 3):
        _r.constr(step, "step", arity=4)
        _r.constr(step.fields[0], "step.direction", arity=0)
        _r.constr(step.fields[1], "step.swapAmount", arity=1)
        kind: Kind = "swap"
        want: str | None = None
        minimum = _r.nat(step.fields[2], "step.minimumReceived")
        _r.constr(step.fields[3], "step.killable", arity=0)
    elif step.index == 4:
        _r.constr(step, "step", arity=3)
        _r.constr(step.fields[0], "step.depositAmount", arity=2)
        kind, want = "deposit", lp
        minimum = _r.nat(step.fields[1], "step.minimumLP")
        _r.constr(step.fields[2], "step.killable", arity=0)
    else:
        raise UnsupportedOrder(NAME, f"step {step.index} is not read (0 swap in, 3 swap out, "
                                     "4 deposit)")
    _r.constr(d.fields[8], "expiredOptions")
    return OrderDatum(dex=NAME, kind=kind, owner=owner, receiver=str(receiver), want=want,
                      min_receive=minimum,
                      batcher_fee=_r.nat(d.fields[7], "maxBatcherFee"),
                      deposit=DEPOSIT_LOVELACE)
