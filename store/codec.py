"""How money and chain quantities are written to MongoDB, chosen once for the whole project.

Cardano quantities are unsigned 64-bit: up to 2^64-1, past BSON's int64. Decimal128
is not an option (the test server rejects it, see mongo-options.md). So:

- a quantity (lovelace, token units) is stored as a 20-digit zero-padded decimal
  string. It is exact for the whole u64 range, and fixed width keeps string order
  equal to numeric order, so range queries and sorts still work;
- a price or rate (`Decimal`) is stored as its canonical string, which
  round-trips exactly, trailing zeros included;
- a point in time is stored as integer milliseconds since the Unix epoch (UTC):
  nx-27017 turns a datetime written by `$set` on an existing document into a
  naive string, and integers sort and compare the same on every server.

Nothing outside store/ knows about these encodings.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from core.decimals import finite_decimal

U64_MAX = 2**64 - 1
U64_WIDTH = len(str(U64_MAX))  # 20


class EncodingError(ValueError):
    """A value cannot be stored, or a stored value is not what the schema says."""


def encode_u64(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodingError(f"a quantity must be an int, got {type(value).__name__}")
    if not 0 <= value <= U64_MAX:
        raise EncodingError(f"a quantity must be within 0..2^64-1, got {value}")
    return str(value).zfill(U64_WIDTH)


def decode_u64(stored: str) -> int:
    if not isinstance(stored, str) or len(stored) != U64_WIDTH or not stored.isdigit():
        raise EncodingError(f"not a stored quantity: {stored!r}")
    value = int(stored, 10)
    if value > U64_MAX:
        raise EncodingError(f"stored quantity out of range: {stored!r}")
    return value


def encode_decimal(value: Decimal) -> str:
    if not isinstance(value, Decimal):
        raise EncodingError(f"a price or rate must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise EncodingError(f"a price or rate must be finite, got {value}")
    return str(value)


def decode_decimal(stored: str) -> Decimal:
    if not isinstance(stored, str):
        raise EncodingError(f"not a stored decimal: {stored!r}")
    try:
        return finite_decimal(stored)
    except ValueError:
        raise EncodingError(f"not a stored decimal: {stored!r}") from None


def now_ms() -> int:
    """Now, as stored: epoch milliseconds (UTC)."""
    return encode_time(datetime.now(timezone.utc))


def encode_time(moment: datetime) -> int:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise EncodingError(f"a time must be a timezone-aware datetime, got {moment!r}")
    delta = moment - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def decode_time(stored: int) -> datetime:
    if isinstance(stored, bool) or not isinstance(stored, int):
        raise EncodingError(f"not a stored time: {stored!r}")
    return _EPOCH + timedelta(milliseconds=stored)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
