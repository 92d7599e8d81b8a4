"""Local tx-submission messages (ouroboros-network local-tx-submission.cddl).
A transaction travels HFC-wrapped: `[era_idx, #6.24(bytes tx)]`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cbor2 import CBORTag

from chain.errors import DecodeError
from chain.miniprotocols.codec import arity, message_list, unknown
from chain.statemachine import Message

NAME = "local-tx-submission"


@dataclass
class SubmitTx(Message):
    era: int  # HFC era index: 1 Shelley ... 6 Conway
    tx: bytes
    TYPE = 0

    def to_cbor(self) -> list[Any]:
        return [0, [self.era, CBORTag(24, self.tx)]]


@dataclass
class AcceptTx(Message):
    TYPE = 1

    def to_cbor(self) -> list[Any]:
        return [1]


@dataclass
class RejectTx(Message):
    reason: Any
    TYPE = 2

    def to_cbor(self) -> list[Any]:
        return [2, self.reason]


@dataclass
class Done(Message):
    TYPE = 3

    def to_cbor(self) -> list[Any]:
        return [3]


def decode(obj: Any) -> Message:
    msg_type, args = message_list(obj, NAME)
    if msg_type == 0:
        (wrapped,) = arity(NAME, "SubmitTx", args, 1)
        if not (isinstance(wrapped, list) and len(wrapped) == 2 and isinstance(wrapped[0], int)
                and isinstance(wrapped[1], CBORTag) and wrapped[1].tag == 24
                and isinstance(wrapped[1].value, bytes)):
            raise DecodeError(f"{NAME}: SubmitTx needs [era, #6.24(bytes)]")
        return SubmitTx(wrapped[0], wrapped[1].value)
    if msg_type == 1:
        arity(NAME, "AcceptTx", args, 0)
        return AcceptTx()
    if msg_type == 2:
        (reason,) = arity(NAME, "RejectTx", args, 1)
        return RejectTx(reason)
    if msg_type == 3:
        arity(NAME, "Done", args, 0)
        return Done()
    raise unknown(NAME, msg_type)
