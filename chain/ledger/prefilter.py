"""A cheap test run on block bytes before any transaction is decoded.

Most blocks touch no watched script hash, policy id or address: a substring search over
the bytes (byte strings appear verbatim in CBOR) rules them out at memory speed. A hit
may be a false positive (the bytes can occur by chance inside some other field), never
a false negative for values stored as whole byte strings or inside address bytes. The
cost is one scan per needle, so keep watch sets to the few hashes that matter.
"""
from __future__ import annotations

from collections.abc import Iterable


def block_mentions(data: bytes, needles: Iterable[bytes], start: int = 0) -> bool:
    """True when any needle occurs in `data[start:]` (searched in place, no copy). An
    empty needle is refused: it would match every block and hide a configuration
    mistake."""
    for needle in needles:
        if not needle:
            raise ValueError("block_mentions: empty needle")
        if data.find(needle, start) != -1:
            return True
    return False
