"""The DEXs this project reads, by the script hash of their order (and pool) addresses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import cswap, minswap_v1, minswap_v2, sundaeswap_v1, sundaeswap_v3, wingriders_v1, \
    wingriders_v2
from .model import OrderDatum


@dataclass(frozen=True)
class Dex:
    name: str
    order_scripts: frozenset[str]
    pool_scripts: frozenset[str]
    read_datum: Callable[[bytes, bool], OrderDatum]


DEXES: tuple[Dex, ...] = tuple(
    Dex(m.NAME, m.ORDER_SCRIPTS, m.POOL_SCRIPTS, m.read_datum)
    for m in (minswap_v1, minswap_v2, sundaeswap_v1, sundaeswap_v3, wingriders_v1,
              wingriders_v2, cswap))

BY_NAME = {d.name: d for d in DEXES}
_BY_ORDER_SCRIPT = {h: d for d in DEXES for h in d.order_scripts}
_BY_POOL_SCRIPT = {h: d for d in DEXES for h in d.pool_scripts}


def payment_script(address: bytes) -> str | None:
    """The payment script hash (hex) of a Shelley address, None for a key or Byron one.
    Header types 1, 3, 5 and 7 have a script payment part."""
    if len(address) < 29 or address[0] >> 4 > 7 or not (address[0] >> 4) & 1:
        return None
    return address[1:29].hex()


def is_mainnet(address: bytes) -> bool:
    return bool(address) and address[0] & 0x0F == 1


def dex_of_order_address(address: bytes) -> Dex | None:
    script = payment_script(address)
    return None if script is None else _BY_ORDER_SCRIPT.get(script)


def dex_of_pool_address(address: bytes) -> Dex | None:
    script = payment_script(address)
    return None if script is None else _BY_POOL_SCRIPT.get(script)


def read_order_datum(dex: str, cbor: bytes, mainnet: bool = True) -> OrderDatum:
    """The order datum of a named DEX; KeyError for a DEX not in DEXES."""
    return BY_NAME[dex].read_datum(cbor, mainnet)
