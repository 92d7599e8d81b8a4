"""What the check needs from the DEX order datum decoders (execution/dex/ implements it):
given an output and its datum, the order it places, or None when the output is not an
order of a DEX the reader knows."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from chain.ledger import TxOut
from core.units import Asset


@dataclass(frozen=True)
class DexOrder:
    dex: str  # DexHunter's id of the DEX, e.g. "MINSWAPV2"
    receiver: str  # bech32: where the batcher pays what the order buys
    want: Asset
    min_receive: int  # base units of `want`
    batcher_fee: int  # lovelace
    deposit: int  # lovelace, returned to the receiver with the fill


class DexOrderReader(Protocol):
    """A DEX's order datum decoder. `read` returns None when `out` is not at one of this
    DEX's order scripts, and raises (DatumLayoutError) when it is but the datum (None when
    the output carries none) does not decode: an order this code cannot read is never
    guessed at."""

    @property
    def dex_ids(self) -> tuple[str, ...]: ...  # DexHunter's ids of the DEXs it reads

    @property
    def order_scripts(self) -> frozenset[str]: ...  # payment script hashes (hex)

    def read(self, out: TxOut, datum: bytes | None) -> DexOrder | None: ...


def readable_dexes(readers: Iterable[DexOrderReader]) -> frozenset[str]:
    return frozenset(dex for reader in readers for dex in reader.dex_ids)


def blacklisted_dexes(all_dexes: Iterable[str],
                      readers: Sequence[DexOrderReader]) -> list[str]:
    """The DEX ids DexHunter must route around: those whose orders the check cannot read
    (for the `blacklisted_dexes` member of a DexHunter estimate or build request)."""
    readable = readable_dexes(readers)
    return sorted({dex.upper() for dex in all_dexes} - {d.upper() for d in readable})
