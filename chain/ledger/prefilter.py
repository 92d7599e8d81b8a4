"""A cheap test run on raw block bytes before any decoding.

Most blocks touch no watched script hash, policy id or address: a substring search over
the bytes (byte strings appear verbatim in CBOR) rules them out at memory speed. A hit
may be a false positive (the bytes can occur by chance inside some other field), never
a false negative for values stored as whole byte strings or as address payloads.
"""
from __future__ import annotations

from collections.abc import Iterable


def block_mentions(data: bytes, needles: Iterable[bytes]) -> bool:
    """True when any needle occurs in `data`. An empty needle is refused (it would match
    every block and hide a configuration mistake)."""
    for needle in needles:
        if not needle:
            raise ValueError("block_mentions: empty needle")
        if needle in data:
            return True
    return False
