"""Chain-sync messages (ouroboros-network chain-sync.cddl). The same messages serve
node-to-node (RollForward carries a wrapped header) and node-to-client (a whole block)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.errors import DecodeError
from chain.miniprotocols.codec import arity, message_list, unknown
from chain.points import Point, Tip
from chain.statemachine import Message

NAME = "chain-sync"


@dataclass
class RequestNext(Message):
    TYPE = 0

    def to_cbor(self) -> list[Any]:
        return [0]


@dataclass
class AwaitReply(Message):
    TYPE = 1

    def to_cbor(self) -> list[Any]:
        return [1]


@dataclass
class RollForward(Message):
    """N2N: `content` = `[era_idx, #6.24(header)]` (Byron: `[0, [[kind, size], #6.24(header)]]`).
    N2C: `content` = `#6.24(bytes [block_tag, block])`. Kept as decoded, so it re-encodes
    to the bytes it came as."""

    content: Any
    tip: Tip
    TYPE = 2

    def to_cbor(self) -> list[Any]:
        return [2, self.content, self.tip.to_cbor()]


@dataclass
class RollBackward(Message):
    point: Point
    tip: Tip
    TYPE = 3

    def to_cbor(self) -> list[Any]:
        return [3, self.point.to_cbor(), self.tip.to_cbor()]


@dataclass
class FindIntersect(Message):
    points: list[Point]
    TYPE = 4

    def to_cbor(self) -> list[Any]:
        return [4, [p.to_cbor() for p in self.points]]


@dataclass
class IntersectFound(Message):
    point: Point
    tip: Tip
    TYPE = 5

    def to_cbor(self) -> list[Any]:
        return [5, self.point.to_cbor(), self.tip.to_cbor()]


@dataclass
class IntersectNotFound(Message):
    tip: Tip
    TYPE = 6

    def to_cbor(self) -> list[Any]:
        return [6, self.tip.to_cbor()]


@dataclass
class Done(Message):
    TYPE = 7

    def to_cbor(self) -> list[Any]:
        return [7]


def decode(obj: Any) -> Message:
    msg_type, args = message_list(obj, NAME)
    if msg_type == 0:
        arity(NAME, "RequestNext", args, 0)
        return RequestNext()
    if msg_type == 1:
        arity(NAME, "AwaitReply", args, 0)
        return AwaitReply()
    if msg_type == 2:
        content, tip = arity(NAME, "RollForward", args, 2)
        return RollForward(content, Tip.from_cbor(tip))
    if msg_type == 3:
        point, tip = arity(NAME, "RollBackward", args, 2)
        return RollBackward(Point.from_cbor(point), Tip.from_cbor(tip))
    if msg_type == 4:
        (points,) = arity(NAME, "FindIntersect", args, 1)
        if not isinstance(points, list):
            raise DecodeError(f"{NAME}: FindIntersect needs a list of points")
        return FindIntersect([Point.from_cbor(p) for p in points])
    if msg_type == 5:
        point, tip = arity(NAME, "IntersectFound", args, 2)
        return IntersectFound(Point.from_cbor(point), Tip.from_cbor(tip))
    if msg_type == 6:
        (tip,) = arity(NAME, "IntersectNotFound", args, 1)
        return IntersectNotFound(Tip.from_cbor(tip))
    if msg_type == 7:
        arity(NAME, "Done", args, 0)
        return Done()
    raise unknown(NAME, msg_type)
