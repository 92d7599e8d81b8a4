"""Reading the fields of Liqwid's GraphQL answers: each of the type its contract says, or
MalformedResponse naming the path. Pure.

JSON numbers arrive as int, or Decimal when they have a fraction (protocols/http.py never
makes floats); Liqwid sends amounts in whole units with float precision, so turning them
into base units rounds explicitly, in the safe direction for the figure.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Mapping

from protocols.errors import MalformedResponse

VENUE = "liqwid"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def bad(path: str, message: str) -> MalformedResponse:
    return MalformedResponse(VENUE, f"{path}: {message}")


def obj(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad(path, f"expected an object, got {type(value).__name__}")
    return value


def field(parent: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in parent:
        raise bad(f"{path}.{key}", "missing")
    return parent[key]


def items(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad(path, f"expected a list, got {type(value).__name__}")
    return value


def text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise bad(path, f"expected a string, got {type(value).__name__}")
    return value


def opt_text(value: Any, path: str) -> str | None:
    return None if value is None else text(value, path)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise bad(path, f"expected true or false, got {type(value).__name__}")
    return value


def integer(value: Any, path: str) -> int:
    if type(value) is not int:
        raise bad(path, f"expected an integer, got {type(value).__name__}")
    return value


def number(value: Any, path: str) -> Decimal:
    """A finite JSON number as Decimal (never a float, never a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise bad(path, f"expected a number, got {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise bad(path, f"not a finite number: {value}")
    return result


def opt_number(value: Any, path: str) -> Decimal | None:
    return None if value is None else number(value, path)


def fraction_of_one(value: Any, path: str) -> Decimal:
    """A ratio the API gives as a fraction of 1 (0.0378 = 3.78 %)."""
    result = number(value, path)
    if not Decimal(0) <= result <= Decimal(1):
        raise bad(path, f"expected a fraction between 0 and 1, got {result}")
    return result


def non_negative(value: Any, path: str) -> Decimal:
    result = number(value, path)
    if result < 0:
        raise bad(path, f"expected a number >= 0, got {result}")
    return result


def hex_text(value: Any, path: str, *, length: int | None = None,
             max_length: int | None = None) -> str:
    result = text(value, path).lower()
    if (length is not None and len(result) != length) or \
            (max_length is not None and len(result) > max_length) or len(result) % 2:
        raise bad(path, f"expected hex of {length or f'at most {max_length}'} characters, "
                        f"got {len(result)}")
    try:
        bytes.fromhex(result)
    except ValueError:
        raise bad(path, "not hex") from None
    return result


def whole_to_base(whole: Decimal, decimals: int, *, round_up: bool) -> int:
    """Whole units (the API's floats) to base units: rounded up for what we must pay or
    bring (a debt, a minimum), down for what we may take (liquidity)."""
    scaled = whole.scaleb(decimals)
    return int(scaled.to_integral_value(rounding=ROUND_CEILING if round_up else ROUND_FLOOR))


def exact_base(whole: Decimal, decimals: int, path: str) -> int:
    """Whole units that must be a whole number of base units (a token quantity the API
    reports back to us, e.g. a loan's qTokens)."""
    scaled = whole.scaleb(decimals)
    integral = scaled.to_integral_value()
    if scaled != integral:
        raise bad(path, f"{whole} is not a whole number of base units at {decimals} decimals")
    return int(integral)


def iso_ms(value: Any, path: str) -> int:
    """An ISO 8601 time (`2026-07-23T07:59:38.865Z`) as Unix milliseconds."""
    raw = text(value, path)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad(path, f"not an ISO time: {raw!r:.40}") from None
    if moment.tzinfo is None:
        raise bad(path, f"an ISO time without a zone: {raw!r:.40}")
    return (moment - _EPOCH) // timedelta(milliseconds=1)  # exact, no float


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text for JSON lines (positional, never an exponent)."""
    return format(value, "f")
