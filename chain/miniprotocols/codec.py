"""Shared checks for decoding messages: every shape error becomes a DecodeError."""
from __future__ import annotations

from typing import Any

from chain.errors import DecodeError


def message_list(obj: Any, protocol: str) -> tuple[int, list[Any]]:
    """A message is `[type, args...]`: returns the type and the arguments."""
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], int) \
            or isinstance(obj[0], bool):
        raise DecodeError(f"{protocol}: not a message: {obj!r:.80}")
    return obj[0], obj[1:]


def arity(protocol: str, name: str, args: list[Any], n: int) -> list[Any]:
    if len(args) != n:
        raise DecodeError(f"{protocol}: {name} takes {n} fields, got {len(args)}")
    return args


def unknown(protocol: str, msg_type: int) -> DecodeError:
    return DecodeError(f"{protocol}: unknown message type {msg_type}")


def uint(protocol: str, value: Any, bits: int = 64) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**bits:
        raise DecodeError(f"{protocol}: expected an unsigned {bits}-bit integer, got {value!r:.40}")
    return value
