"""Plutus data read strictly: one whole CBOR item, and shape checks that name the field.

Definite and indefinite lists decode alike (Liqwid writes both). Every failure is a
`DatumLayoutError`: in the block pipeline that makes the block poison for this venue
only, instead of a wrong number.
"""
from __future__ import annotations

import io
from fractions import Fraction
from typing import Any, Callable, TypeVar

from cbor2 import CBORDecoder, CBORTag

from protocols.errors import DatumLayoutError

VENUE = "liqwid"
HASH_SIZE = 28

T = TypeVar("T")


def layout_error(what: str, message: str) -> DatumLayoutError:
    return DatumLayoutError(VENUE, f"{what}: {message}")


def decode(data: bytes, what: str) -> Any:
    """The one CBOR item `data` holds (trailing bytes are a layout error too)."""
    stream = io.BytesIO(data)
    try:
        value = CBORDecoder(stream).decode()
    except Exception as exc:  # cbor2 raises several types (EOF, ValueError, ...)
        raise layout_error(what, f"not CBOR: {exc}") from exc
    if stream.tell() != len(data):
        raise layout_error(what, f"{len(data) - stream.tell()} bytes after the datum")
    return value


def describe(value: Any) -> str:
    if isinstance(value, CBORTag):
        return f"tag {value.tag}"
    return type(value).__name__


def as_int(value: Any, field: str) -> int:
    if type(value) is not int:  # bool is an int subclass: refused
        raise layout_error(field, f"expected an integer, found {describe(value)}")
    return value


def as_list(value: Any, field: str, size: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise layout_error(field, f"expected a list, found {describe(value)}")
    if size is not None and len(value) != size:
        raise layout_error(field, f"expected {size} items, found {len(value)}")
    return value


def as_ratio(value: Any, field: str) -> Fraction:
    """A Plutus Rational: [numerator, denominator] with a positive denominator."""
    items = as_list(value, field, 2)
    numerator = as_int(items[0], f"{field} numerator")
    denominator = as_int(items[1], f"{field} denominator")
    if denominator <= 0:
        raise layout_error(field, f"denominator {denominator} is not positive")
    return Fraction(numerator, denominator)


def as_hash(value: Any, field: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        found = f"{len(value)} bytes" if isinstance(value, bytes) else describe(value)
        raise layout_error(field, f"expected a {HASH_SIZE}-byte hash, found {found}")
    return value


def constr(value: Any) -> tuple[int, list[Any]] | None:
    """(constructor index, fields) of a Plutus constructor, or None if it is not one."""
    if not isinstance(value, CBORTag):
        return None
    tag, inner = value.tag, value.value
    if 121 <= tag <= 127 and isinstance(inner, list):
        return tag - 121, inner
    if 1280 <= tag <= 1400 and isinstance(inner, list):
        return tag - 1280 + 7, inner
    if tag == 102 and isinstance(inner, list) and len(inner) == 2 \
            and type(inner[0]) is int and isinstance(inner[1], list):
        return inner[0], inner[1]
    return None


def as_constr(value: Any, field: str) -> tuple[int, list[Any]]:
    found = constr(value)
    if found is None:
        raise layout_error(field, f"expected a constructor, found {describe(value)}")
    return found


def as_maybe(value: Any, field: str, inner: Callable[[Any, str], T]) -> T | None:
    """Plutus `Maybe`: Constr 0 [x] is Just x, Constr 1 [] is Nothing."""
    index, fields = as_constr(value, field)
    if index == 0 and len(fields) == 1:
        return inner(fields[0], field)
    if index == 1 and not fields:
        return None
    raise layout_error(field, f"expected Just x or Nothing, found constructor {index} "
                              f"with {len(fields)} fields")


def plain(value: Any, field: str) -> Any:
    """Plutus data of unknown meaning in the venue-record vocabulary: integers, bytes,
    lists, {"constructor", "fields"}, {"map": [[k, v], ...]}."""
    if type(value) is int or isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return [plain(item, f"{field}[{i}]") for i, item in enumerate(value)]
    found = constr(value)
    if found is not None:
        index, fields = found
        return {"constructor": index,
                "fields": [plain(item, f"{field}.{i}") for i, item in enumerate(fields)]}
    if isinstance(value, dict):
        return {"map": [[plain(k, f"{field} key"), plain(v, f"{field} value")]
                        for k, v in value.items()]}
    raise layout_error(field, f"not Plutus data: {describe(value)}")
