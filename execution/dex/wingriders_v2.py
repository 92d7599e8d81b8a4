"""WingRiders v2 orders ("requests"). No real datum is in the fixtures: read from the
public layout and tested on datums built from it.

Layout (Charli3's dendrite `WingRidersV2OrderDatum` in dexs/amm/wingriders.py):
`Constr 0 [oil: Int, beneficiary: Address, ownerAddress: Address, compensationDatum,
compensationDatumType: Constr 0..2, deadline: Int, aPolicy, aName, bPolicy, bName,
action, aScale: Int, bScale: Int]`; action `Constr 0 Swap [Constr 0 (A to B) | Constr 1
(B to A), minimumReceive]` (add and withdraw liquidity and the rest refused). The oil is
the deposit that comes back; the agent fee is not in the datum: at most 2 ADA (0.85 or
1.5 ADA for small orders). Order scripts: dendrite's order addresses (constant product
and stableswap), and its pool addresses for the pool scripts (the constant-product
one is confirmed by a real batch in fixtures/cardano/conway-block-mainnet-slot159835207).
"""
from __future__ import annotations

from .fields import Reader, parse
from .model import OrderDatum
from .wingriders_v1 import swap_action

NAME = "wingriders-v2"
ORDER_SCRIPTS = frozenset({"c134d839a64a5dfb9b155869ef3f34280751a622f69958baa8ffd29c",
                           "23680ea6701b56f2c12ae79d8af94fd36f509b7b007029c7ce114840"})
POOL_SCRIPTS = frozenset({"af97793b8702f381976cec83e303e9ce17781458c73c4bb16fe02b83",
                          "946ae228430f2fc64aa8b3acb910ee27e9b3e47aa8f925fac27834a1"})
AGENT_FEE_LOVELACE = 2_000_000

_r = Reader(NAME)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "RequestDatum", 0, 13)
    oil = _r.nat(d.fields[0], "oil")
    receiver = _r.address(d.fields[1], "beneficiary", mainnet)
    owner = _r.address(d.fields[2], "ownerAddress", mainnet)
    _r.constr(d.fields[4], "compensationDatumType", arity=0)
    _r.nat(d.fields[5], "deadline")
    a = _r.unit(d.fields[6], d.fields[7], "assetA")
    b = _r.unit(d.fields[8], d.fields[9], "assetB")
    a_to_b, min_receive = swap_action(_r, NAME, d.fields[10], "action.minimumReceive")
    _r.nat(d.fields[11], "aScale")
    _r.nat(d.fields[12], "bScale")
    return OrderDatum(
        dex=NAME, kind="swap", owner=_r.payment_key(owner, "ownerAddress"),
        receiver=str(receiver), want=b if a_to_b else a,
        min_receive=min_receive,
        batcher_fee=AGENT_FEE_LOVELACE, deposit=oil,
    )
