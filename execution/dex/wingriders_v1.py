"""WingRiders v1 orders ("requests"). No real datum is in the fixtures: read from the
public layout and tested on datums built from it.

Layout (Charli3's dendrite `WingRidersOrderDatum` in dexs/amm/wingriders.py; WingRiders'
own dex-serializer types name the same fields: beneficiary, owner, deadline, lpAssetA/B,
direction, minAmount): `Constr 0 [Constr 0 [beneficiary: Address, owner: pkh bytes,
deadline: Int, Constr 0 [assetA: Constr 0 [policy, name], assetB]], action]`; action
`Constr 0 Swap [Constr 0 (A to B) | Constr 1 (B to A), minWanted: Int]` (deposit 1,
withdraw 2 and the others refused). Neither fee is in the datum: every order attaches
4 ADA, a 2 ADA agent fee (the most the batcher keeps; small orders pay less) and 2 ADA
of "oil" that comes back. Order scripts: dendrite's order addresses (constant product
and stableswap), and its pool addresses for the pool scripts.
"""
from __future__ import annotations

from protocols.plutus import Data

from .fields import Reader, parse
from .model import OrderDatum, UnsupportedOrder

NAME = "wingriders-v1"
ORDER_SCRIPTS = frozenset({"86ae9eebd8b97944a45201e4aec1330a72291af2d071644bba015959",
                           "c5e0385012d5f010b1dc7ab42ba632944052de232051ec6ce3bfd72e"})
POOL_SCRIPTS = frozenset({"e6c90a5923713af5786963dee0fdffd830ca7e0c86a041d9e5833e91",
                          "9868d58fbfcc2b14cfc7d9eec0b765e7e6fc4e950c9c2748ace9ce61"})
AGENT_FEE_LOVELACE = 2_000_000
OIL_LOVELACE = 2_000_000

_r = Reader(NAME)


def swap_action(reader: Reader, name: str, value: Data, min_field: str) -> tuple[bool, int]:
    """WingRiders' request action (v1 and v2 alike): a swap `Constr 0 [direction, min]`,
    direction `Constr 0` (A to B) or `Constr 1` (B to A). Returns (A to B?, the minimum)."""
    action = reader.constr(value, "action")
    if action.index != 0:
        raise UnsupportedOrder(name, f"action {action.index} is not a swap (0)")
    reader.constr(action, "action", arity=2)
    direction = reader.constr(action.fields[0], "action.direction", arity=0)
    if direction.index not in (0, 1):
        raise reader.fail(f"action.direction: constructor {direction.index} "
                          f"(0 A to B, 1 B to A)")
    return direction.index == 0, reader.nat(action.fields[1], min_field)


def read_datum(cbor: bytes, mainnet: bool) -> OrderDatum:
    d = _r.constr(parse(NAME, cbor), "RequestDatum", 0, 2)
    config = _r.constr(d.fields[0], "config", 0, 4)
    receiver = _r.address(config.fields[0], "beneficiary", mainnet)
    owner = _r.bytes_(config.fields[1], "owner", 28).hex()
    _r.nat(config.fields[2], "deadline")
    assets = _r.constr(config.fields[3], "assets", 0, 2)
    a = _r.asset_class(assets.fields[0], "assets.a")
    b = _r.asset_class(assets.fields[1], "assets.b")
    a_to_b, min_wanted = swap_action(_r, NAME, d.fields[1], "action.minWanted")
    return OrderDatum(
        dex=NAME, kind="swap", owner=owner, receiver=str(receiver),
        want=b if a_to_b else a,
        min_receive=min_wanted,
        batcher_fee=AGENT_FEE_LOVELACE, deposit=OIL_LOVELACE,
    )
