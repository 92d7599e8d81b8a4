"""The DexOrderReader (execution/order_reader.py) over this package's datum decoders, so
the pre-signing check can read the orders DexHunter builds.

DexHunter's ids (dexhunter.md "DEX codes") for our decoders: CSWAP, MINSWAP (v1),
SUNDAESWAPV3, WINGRIDER, WINGRIDERV2. MINSWAPV2 and SUNDAESWAP (v1) are *not* claimed:
their swap datums name only the pool's side, not the token bought (the pair lives in the
pool datum), so the check could not verify what the order buys. A swap routes around them
(they are blacklisted); if such an order shows up anyway, reading it raises
UnsupportedOrder and the check refuses the transaction."""
from __future__ import annotations

from chain.ledger import TxOut
from core.units import ADA, Asset
from collections.abc import Sequence

from execution.order_reader import DexOrder, DexOrderReader, blacklisted_dexes

from .model import DexDatumError, UnsupportedOrder
from .registry import BY_NAME, Dex, is_mainnet, payment_script

#: DexHunter's id of each DEX we decode, where the decoded order names what it buys.
DEXHUNTER_IDS: dict[str, str] = {
    "cswap": "CSWAP",
    "minswap-v1": "MINSWAP",
    "sundaeswap-v3": "SUNDAESWAPV3",
    "wingriders-v1": "WINGRIDER",
    "wingriders-v2": "WINGRIDERV2",
}
#: Decoded, but the swap datum does not name the bought token: reading one raises.
WANT_UNKNOWN: dict[str, str] = {"minswap-v2": "MINSWAPV2", "sundaeswap-v1": "SUNDAESWAP"}

#: Every DEX code DexHunter took in a live request (dexhunter.md): the ones we cannot read
#: are blacklisted from this list.
DEXHUNTER_DEXES: tuple[str, ...] = (
    "MINSWAP", "MINSWAPV2", "MS2HOP", "SUNDAESWAP", "SUNDAESWAPV3", "WINGRIDER",
    "WINGRIDERV2", "SPLASH", "VYFI", "MUESLISWAP", "CSWAP", "CHADSWAP", "SNEKFUN", "CHAKRA",
    "SHADOWBOOK")


def _want(unit: str) -> Asset:
    return ADA if unit == "lovelace" else Asset.from_unit(unit.replace(".", ""))


class DexReader:
    """Reads the swap orders of one decoded DEX."""

    def __init__(self, dex: Dex, dexhunter_id: str, *, want_known: bool = True) -> None:
        self.dex = dex
        self.dexhunter_id = dexhunter_id
        self.want_known = want_known

    @property
    def dex_ids(self) -> tuple[str, ...]:
        return (self.dexhunter_id,) if self.want_known else ()

    @property
    def order_scripts(self) -> frozenset[str]:
        return self.dex.order_scripts

    def read(self, out: TxOut, datum: bytes | None) -> DexOrder | None:
        script = payment_script(out.address_bytes)
        if script is None or script not in self.dex.order_scripts:
            return None
        if datum is None:
            raise DexDatumError(self.dex.name, "order output carries no datum")
        decoded = self.dex.read_datum(datum, is_mainnet(out.address_bytes))
        if decoded.kind != "swap":
            raise UnsupportedOrder(self.dex.name, f"order is a {decoded.kind}, not a swap")
        if decoded.want is None:
            raise UnsupportedOrder(self.dex.name, "swap datum does not name the token "
                                   "it buys (it is in the pool datum): not verifiable")
        return DexOrder(dex=self.dexhunter_id, receiver=decoded.receiver,
                        want=_want(decoded.want), min_receive=decoded.min_receive,
                        batcher_fee=decoded.batcher_fee, deposit=decoded.deposit)


def unreadable_dexes(readers: Sequence[DexOrderReader] | None = None) -> list[str]:
    """The DexHunter DEX codes to route around: those none of `readers` (default: every
    decoded DEX) can read, whose orders could pay anyone."""
    return blacklisted_dexes(DEXHUNTER_DEXES, dex_readers() if readers is None else readers)


def dex_readers() -> tuple[DexReader, ...]:
    """One reader per decoded DEX; those whose swaps do not name what they buy claim no
    DexHunter id (so they are blacklisted) and raise on read."""
    readers = [DexReader(BY_NAME[name], dh) for name, dh in DEXHUNTER_IDS.items()]
    readers += [DexReader(BY_NAME[name], dh, want_known=False)
                for name, dh in WANT_UNKNOWN.items()]
    return tuple(readers)
