"""SundaeSwap v1 (legacy) orders: datum by hash, in the placing tx's witness set.

Layout (IndigoProtocol/dexter's sundaeswap-v1 order definition, and Charli3's dendrite
`SundaeOrderDatum`; checked on the real datums in fixtures/dex/sundaeswap-v1):
`Constr 0 [poolIdent: bytes, Constr 0 [Constr 0 [destination: Address, datumHash: Maybe],
alternate: Maybe pkh], scooperFee: Int, action]`; action `Constr 0 Swap [coin: Constr 0
(gives A) | Constr 1 (gives B), amount: Int, minimumReceive: Maybe Int]`; deposits (2)
and withdrawals (1) are refused. The datum names the pool by ident, not the wanted asset:
`want` is None. The deposit is not in the datum: 2 ADA (the real placement: 497.737353
ADA = 493.237353 offered + 2.5 scooper fee + 2 deposit).
"""
from __future__ import annotations

from .fields import Reader, parse
from .model import OrderDatum, UnsupportedOrder

NAME = "sundaeswap-v1"
ORDER_SCRIPTS = frozenset({"ba158766c1bae60e2117ee8987621441fac66a5e0fb9c7aca58cf20a"})
POOL_SCRIPTS = frozenset({"4020e7fc2de75a0729c3cc3af715b34d98381e0cdbcfa99c950bc3ac"})
DEPOSIT_LOVELACE = 2_000_000

_r = Reader(NAME)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "OrderDatum", 0, 4)
    _r.bytes_(d.fields[0], "poolIdent")
    addresses = _r.constr(d.fields[1], "orderAddresses", 0, 2)
    destination = _r.constr(addresses.fields[0], "destination", 0, 2)
    receiver = _r.address(destination.fields[0], "destination.address", mainnet)
    _r.constr(destination.fields[1], "destination.datumHash")
    _r.constr(addresses.fields[1], "alternate")
    action = _r.constr(d.fields[3], "action")
    if action.index != 0:
        raise UnsupportedOrder(NAME, f"action {action.index} is not a swap (0)")
    _r.constr(action, "action", arity=3)
    _r.constr(action.fields[0], "action.coin", arity=0)
    _r.nat(action.fields[1], "action.amount")
    minimum = _r.constr(action.fields[2], "action.minimumReceive")
    if minimum.index != 0 or len(minimum.fields) != 1:
        raise UnsupportedOrder(NAME, "a swap without a minimum to receive")
    return OrderDatum(
        dex=NAME, kind="swap",
        owner=_r.payment_key(receiver, "destination"),
        receiver=str(receiver), want=None,
        min_receive=_r.nat(minimum.fields[0], "action.minimumReceive"),
        batcher_fee=_r.nat(d.fields[2], "scooperFee"),
        deposit=DEPOSIT_LOVELACE,
    )
