"""Block-fetch messages (ouroboros-network block-fetch.cddl). MsgBlock carries
`#6.24(bytes [block_tag, block])`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbor2 import CBORTag

from chain.errors import DecodeError
from chain.miniprotocols.codec import arity, message_list, unknown
from chain.points import Point
from chain.statemachine import Message

NAME = "block-fetch"


@dataclass
class RequestRange(Message):
    start: Point
    end: Point
    TYPE = 0

    def to_cbor(self) -> list[Any]:
        return [0, self.start.to_cbor(), self.end.to_cbor()]


@dataclass
class ClientDone(Message):
    TYPE = 1

    def to_cbor(self) -> list[Any]:
        return [1]


@dataclass
class StartBatch(Message):
    TYPE = 2

    def to_cbor(self) -> list[Any]:
        return [2]


@dataclass
class NoBlocks(Message):
    TYPE = 3

    def to_cbor(self) -> list[Any]:
        return [3]


@dataclass
class Block(Message):
    wrapped: bytes  # CBOR of [block_tag, block]
    TYPE = 4

    def to_cbor(self) -> list[Any]:
        return [4, CBORTag(24, self.wrapped)]


@dataclass
class BatchDone(Message):
    TYPE = 5

    def to_cbor(self) -> list[Any]:
        return [5]


def _range_point(obj: Any) -> Point:
    # Block-fetch points are never origin; the synthetic GO vectors use short fake hashes.
    if (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], int)
            and isinstance(obj[1], bytes)):
        return Point(obj[0], obj[1])
    raise DecodeError(f"{NAME}: not a point: {obj!r:.60}")


def decode(obj: Any) -> Message:
    msg_type, args = message_list(obj, NAME)
    if msg_type == 0:
        start, end = arity(NAME, "RequestRange", args, 2)
        return RequestRange(_range_point(start), _range_point(end))
    if msg_type == 4:
        (content,) = arity(NAME, "Block", args, 1)
        if not (isinstance(content, CBORTag) and content.tag == 24
                and isinstance(content.value, bytes)):
            raise DecodeError(f"{NAME}: MsgBlock must carry #6.24(bytes)")
        return Block(content.value)
    simple = {1: ClientDone, 2: StartBatch, 3: NoBlocks, 5: BatchDone}
    if msg_type in simple:
        cls = simple[msg_type]
        arity(NAME, cls.__name__, args, 0)
        return cls()
    raise unknown(NAME, msg_type)
