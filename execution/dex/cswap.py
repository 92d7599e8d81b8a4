"""CSWAP orders: inline datums.

Layout (Charli3's dendrite `CSwapOrderDatum` in dexs/amm/cswap.py; checked on the one
real datum, from a DexHunter build, in fixtures/dex/cswap): `Constr 0 [address: Address,
targets: [[policy, name, minimum]], inputs: [[policy, name, 0]], type: Constr 0 (swap),
slippage: Int, platformFee: Int]`. The address is the owner's and the receiver's. The
targets hold the wanted asset's minimum and, when a token is wanted, 2 ADA that rides
back with it (the deposit). The batcher fee is not in the datum: 0.69 ADA (the live
build: 22.69 ADA = 20 offered + 0.69 batcher fee + 2 deposit). Zap orders refused.
The pool script: dendrite's CSWAP pool address.
"""
from __future__ import annotations

from .fields import Reader, parse
from .model import OrderDatum, UnsupportedOrder

NAME = "cswap"
ORDER_SCRIPTS = frozenset({"da5b47aed3955c9132ee087796fa3b58a1ba6173fa31a7bc29e56d4e"})
POOL_SCRIPTS = frozenset({"ed97e0a1394724bb7cb94f20acf627abc253694c92b88bf8fb4b7f6f"})
BATCHER_FEE_LOVELACE = 690_000
MIN_ADA_LOVELACE = 2_000_000

_r = Reader(NAME)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "OrderDatum", 0, 6)
    address = _r.address(d.fields[0], "address", mainnet)
    targets: dict[str, int] = {}
    for i, item in enumerate(_r.list_(d.fields[1], "targets")):
        t = _r.list_(item, f"targets[{i}]", 3)
        unit = _r.unit(t[0], t[1], f"targets[{i}]")
        if unit in targets:
            raise _r.fail(f"targets[{i}]: {unit} twice")
        targets[unit] = _r.nat(t[2], f"targets[{i}].amount")
    for i, item in enumerate(_r.list_(d.fields[2], "inputs")):
        t = _r.list_(item, f"inputs[{i}]", 3)
        _r.unit(t[0], t[1], f"inputs[{i}]")
        _r.nat(t[2], f"inputs[{i}].amount")
    kind = _r.constr(d.fields[3], "type", arity=0)
    if kind.index != 0:
        raise UnsupportedOrder(NAME, f"order type {kind.index} is not a swap (0)")
    _r.nat(d.fields[4], "slippage")
    _r.nat(d.fields[5], "platformFee")
    tokens = [u for u in targets if u != "lovelace"]
    if len(tokens) > 1:
        raise UnsupportedOrder(NAME, f"{len(tokens)} tokens wanted, not one")
    if tokens:
        want, deposit = tokens[0], targets.get("lovelace", 0)
    elif "lovelace" in targets:
        want, deposit = "lovelace", MIN_ADA_LOVELACE
    else:
        raise _r.fail("targets: empty")
    return OrderDatum(dex=NAME, kind="swap", owner=_r.payment_key(address, "address"),
                      receiver=str(address), want=want, min_receive=targets[want],
                      batcher_fee=BATCHER_FEE_LOVELACE, deposit=deposit)
