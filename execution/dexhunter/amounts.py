"""The one place where DexHunter's display units meet the project's base units.

DexHunter speaks display units (`amount_in: 20` is 20 ADA; fees and deposits in ADA,
dexhunter.md "Conventions"); the project speaks integer base units. Every conversion goes
through here, with the decimals of the token as DexHunter's token endpoint reported them
(ADA's 6 are the ledger's). Rounding is explicit and always against us: what we may
receive rounds down, what we may pay rounds up.

Pure: no I/O.
"""
from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from core.units import ADA_TOKEN, Token, UnitError, to_display
from execution.errors import DEXHUNTER
from protocols.errors import MalformedResponse

#: Rounding for an amount we receive (an output, a floor) and for one we pay (an input, a fee).
RECEIVED = ROUND_DOWN
PAID = ROUND_UP


#: A decimal number of at most this many significant digits survives the trip through
#: an IEEE double (DBL_DIG): what DexHunter's Go server parses every JSON number into.
EXACT_DIGITS = 15


def wire_amount(base: int, token: Token) -> int | Decimal:
    """A base-unit amount as the JSON number DexHunter takes (display units), written
    exactly from the Decimal (protocols/http.py encodes Decimals as JSON numbers)."""
    if type(base) is not int or base <= 0:
        raise UnitError(f"an amount to send must be a positive integer of base units, "
                        f"got {base!r}")
    return wire_number(to_display(base, token.decimals))


def wire_number(value: Decimal) -> int | Decimal:
    """`value` for a JSON body: refused when the server's double could not hold it exactly
    (more than EXACT_DIGITS significant digits), rather than let it arrive as another
    amount."""
    digits = len(value.normalize().as_tuple().digits)
    if digits > EXACT_DIGITS:
        raise UnitError(f"{value} cannot be sent as a JSON number exactly "
                        f"({digits} significant digits; a double holds {EXACT_DIGITS})")
    if value == value.to_integral_value():
        return int(value)
    return value


def base_amount(value: Any, token: Token, path: str, rounding: str, *,
                signed: bool = False) -> int:
    """A display-unit number of an answer in base units of `token`, rounded `rounding`
    (RECEIVED or PAID) to a whole base unit. Strings, booleans and (unless `signed`)
    negative numbers are malformed."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise MalformedResponse(DEXHUNTER, f"{path}: expected a number, got "
                                           f"{type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise MalformedResponse(DEXHUNTER, f"{path}: not a finite number")
    if number < 0 and not signed:
        raise MalformedResponse(DEXHUNTER, f"{path}: negative amount {number}")
    return int(number.scaleb(token.decimals).quantize(Decimal(1), rounding=rounding))


def lovelace(value: Any, path: str, rounding: str = PAID) -> int:
    """A fee or deposit, which DexHunter gives in ADA, in lovelace (a cost: rounds up)."""
    return base_amount(value, ADA_TOKEN, path, rounding)
