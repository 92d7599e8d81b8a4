"""Keep-alive messages (ouroboros-network keep-alive.cddl)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.miniprotocols.codec import arity, message_list, uint, unknown
from chain.statemachine import Message

NAME = "keep-alive"


@dataclass
class KeepAlive(Message):
    cookie: int
    TYPE = 0

    def to_cbor(self) -> list[Any]:
        return [0, self.cookie]


@dataclass
class KeepAliveResponse(Message):
    cookie: int
    TYPE = 1

    def to_cbor(self) -> list[Any]:
        return [1, self.cookie]


@dataclass
class Done(Message):
    TYPE = 2

    def to_cbor(self) -> list[Any]:
        return [2]


def decode(obj: Any) -> Message:
    msg_type, args = message_list(obj, NAME)
    if msg_type == 0:
        (cookie,) = arity(NAME, "KeepAlive", args, 1)
        return KeepAlive(uint(NAME, cookie, 16))
    if msg_type == 1:
        (cookie,) = arity(NAME, "KeepAliveResponse", args, 1)
        return KeepAliveResponse(uint(NAME, cookie, 16))
    if msg_type == 2:
        arity(NAME, "Done", args, 0)
        return Done()
    raise unknown(NAME, msg_type)
