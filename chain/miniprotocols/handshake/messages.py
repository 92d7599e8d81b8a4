"""Handshake messages (ouroboros-network handshake-node-to-node-v14.cddl, handshake-node-to-client.cddl)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chain.errors import DecodeError
from chain.miniprotocols.codec import arity, message_list, unknown
from chain.statemachine import Message

NAME = "handshake"


@dataclass
class ProposeVersions(Message):
    versions: dict[int, Any]
    TYPE = 0

    def to_cbor(self) -> list[Any]:
        # A definite-length map with keys ascending, as the CDDL asks.
        return [0, dict(sorted(self.versions.items()))]


@dataclass
class AcceptVersion(Message):
    version: int
    data: Any
    TYPE = 1

    def to_cbor(self) -> list[Any]:
        return [1, self.version, self.data]


@dataclass
class Refuse(Message):
    reason: list[Any]  # [0, [versions]] | [1, version, text] | [2, version, text]
    TYPE = 2

    def to_cbor(self) -> list[Any]:
        return [2, self.reason]

    def describe(self) -> str:
        kind = self.reason[0] if self.reason else None
        if kind == 0:
            return f"version mismatch (the peer speaks {self.reason[1]})"
        if kind == 1:
            return f"handshake decode error for version {self.reason[1]}: {self.reason[2]}"
        if kind == 2:
            return f"refused version {self.reason[1]}: {self.reason[2]}"
        return f"refused: {self.reason!r:.80}"


@dataclass
class QueryReply(Message):
    versions: dict[int, Any]
    TYPE = 3

    def to_cbor(self) -> list[Any]:
        return [3, self.versions]


def decode(obj: Any) -> Message:
    msg_type, args = message_list(obj, NAME)
    if msg_type == 0:
        (versions,) = arity(NAME, "ProposeVersions", args, 1)
        if not isinstance(versions, dict) or not all(isinstance(k, int) for k in versions):
            raise DecodeError(f"{NAME}: a version table must map numbers to data")
        return ProposeVersions(versions)
    if msg_type == 1:
        version, data = arity(NAME, "AcceptVersion", args, 2)
        if not isinstance(version, int):
            raise DecodeError(f"{NAME}: AcceptVersion needs a version number")
        return AcceptVersion(version, data)
    if msg_type == 2:
        (reason,) = arity(NAME, "Refuse", args, 1)
        if not isinstance(reason, list) or not reason or reason[0] not in (0, 1, 2):
            raise DecodeError(f"{NAME}: malformed refuse reason {reason!r:.60}")
        return Refuse(reason)
    if msg_type == 3:
        (versions,) = arity(NAME, "QueryReply", args, 1)
        return QueryReply(versions)
    raise unknown(NAME, msg_type)
