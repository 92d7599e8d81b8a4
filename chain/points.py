"""Points and tips: where on the chain, as chain-sync and block-fetch say it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.errors import DecodeError


@dataclass(frozen=True, order=True)
class Point:
    """A block's slot and header hash; `ORIGIN` (slot and hash None) is before the first block."""

    slot: int | None
    hash: bytes | None

    @property
    def is_origin(self) -> bool:
        return self.slot is None

    def to_cbor(self) -> list[Any]:
        return [] if self.slot is None else [self.slot, self.hash]

    @classmethod
    def from_cbor(cls, obj: Any) -> "Point":
        if obj == []:
            return ORIGIN
        if (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], int)
                and not isinstance(obj[0], bool) and obj[0] >= 0
                and isinstance(obj[1], bytes) and len(obj[1]) == 32):
            return cls(obj[0], obj[1])
        raise DecodeError(f"not a point: {obj!r:.80}")

    @classmethod
    def parse(cls, text: str) -> "Point":
        """`origin` or `SLOT.HASH` (64 hex digits), as operators write it on the command line."""
        if text == "origin":
            return ORIGIN
        slot, sep, hex_hash = text.partition(".")
        if not sep or not slot.isdigit() or len(hex_hash) != 64:
            raise ValueError(f"expected origin or SLOT.HASH with a 64-hex-digit hash, got {text!r}")
        try:
            return cls(int(slot), bytes.fromhex(hex_hash))
        except ValueError:
            raise ValueError(f"expected a hex block hash, got {hex_hash!r}") from None

    def __str__(self) -> str:
        return "origin" if self.hash is None else f"{self.slot}.{self.hash.hex()}"

    def to_json(self) -> dict[str, Any]:
        return {"slot": self.slot, "hash": None if self.hash is None else self.hash.hex()}


ORIGIN = Point(None, None)


@dataclass(frozen=True)
class Tip:
    point: Point
    block_no: int

    def to_cbor(self) -> list[Any]:
        return [self.point.to_cbor(), self.block_no]

    @classmethod
    def from_cbor(cls, obj: Any) -> "Tip":
        if isinstance(obj, list) and len(obj) == 2 and isinstance(obj[1], int):
            return cls(Point.from_cbor(obj[0]), obj[1])
        raise DecodeError(f"not a tip: {obj!r:.80}")
