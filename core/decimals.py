"""A finite Decimal read from its text: prices, rates and ratios come as text from the
command line and from stored documents, and an infinity or NaN is never one of them."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext


class NotFinite(ValueError):
    """The text is a number, but an infinity or NaN."""


def finite_decimal(text: str) -> Decimal:
    """The Decimal `text` spells, exactly. ValueError if it spells no number; NotFinite (a
    ValueError too) if it spells an infinity or NaN."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise NotFinite(f"not a finite number: {text!r}")
    return value


def decimal_option(text: str, what: str, *, positive: bool = False) -> Decimal:
    """A command-line option's Decimal; ValueError naming the option (`what`) otherwise."""
    try:
        value = finite_decimal(text.strip())
    except NotFinite:
        raise ValueError(f"{what} must be a finite number, got {text!r}") from None
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None
    if positive and value <= 0:
        raise ValueError(f"{what} must be a positive number, got {text!r}")
    return value


def significant(value: Decimal, digits: int = 10) -> Decimal:
    """`value` rounded to `digits` significant digits (half even): a figure to show or
    record (a health, a derived price), never an amount."""
    with localcontext() as context:
        context.prec = digits
        return +value


def significant_text(value: Decimal | None, digits: int = 10) -> str | None:
    """`significant` as plain digits (no exponent); None stays None."""
    return None if value is None else format(significant(value, digits), "f")
