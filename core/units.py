"""Units in one place: display units, base units, and venue receipt tokens (Liqwid's
qTokens, Surf's cTokens).

Pure. Every conversion needs the facts it depends on: a token's decimals come from its
venue or token endpoint, a receipt token's exchange rate from chain state or the venue's
API. A missing fact refuses (`UnitError`); nothing assumes 6 decimals or a 1:1 rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from fractions import Fraction

from core.errors import AppError

#: The unit string of ADA (lovelace) where a unit is policy id + asset name in hex.
LOVELACE = "lovelace"


class UnitError(AppError):
    """A conversion lacks what it needs (decimals, an exchange rate) or gets a bad value."""


@dataclass(frozen=True, order=True)
class Asset:
    """A Cardano asset: policy id and asset name in hex; ADA is ("", "")."""

    policy: str = ""
    name: str = ""

    @property
    def is_ada(self) -> bool:
        return not self.policy

    @property
    def unit(self) -> str:
        """`lovelace` or policy id + name hex, the form DexHunter and Koios use."""
        return LOVELACE if self.is_ada else self.policy + self.name

    @classmethod
    def from_unit(cls, unit: str) -> "Asset":
        text = unit.strip().lower()
        if text in ("", LOVELACE, "ada"):
            return ADA
        if "." in text:
            policy, _, name = text.partition(".")
        else:
            policy, name = text[:56], text[56:]
        if len(policy) != 56 or len(name) > 64 or len(name) % 2:
            raise UnitError(f"not an asset unit (policy id + asset name in hex): {unit!r}")
        try:
            bytes.fromhex(policy + name)
        except ValueError:
            raise UnitError(f"not an asset unit (policy id + asset name in hex): {unit!r}") from None
        return cls(policy, name)

    def __str__(self) -> str:
        return "ADA" if self.is_ada else f"{self.policy}.{self.name}"


ADA = Asset()


@dataclass(frozen=True)
class Token:
    """An asset with its decimals, as a venue or DexHunter's token endpoint reports them."""

    asset: Asset
    decimals: int
    ticker: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.decimals, int) or isinstance(self.decimals, bool) \
                or not 0 <= self.decimals <= 38:
            raise UnitError(f"decimals of {self.ticker or self.asset} must be an integer "
                            f"0..38, got {self.decimals!r}")


ADA_TOKEN = Token(ADA, 6, "ADA")


def decimals_of(asset: Asset, known: dict[Asset, int]) -> int:
    if asset.is_ada:
        return 6  # lovelace: fixed by the ledger, not assumed
    try:
        return known[asset]
    except KeyError:
        raise UnitError(f"the decimals of {asset} are unknown; refusing to guess") from None


def to_base(display: Decimal | int | str, decimals: int | None, *, what: str = "amount") -> int:
    """Display units (e.g. 12.5 ADA) to base units (12_500_000 lovelace), exactly; a
    fraction of a base unit is refused rather than rounded away."""
    if decimals is None:
        raise UnitError(f"{what}: decimals unknown; refusing to assume")
    value = Decimal(display) if not isinstance(display, Decimal) else display
    if not value.is_finite():
        raise UnitError(f"{what}: not a finite number: {display!r}")
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise UnitError(f"{what}: {display} has more than {decimals} decimals")
    return int(scaled)


def to_display(base: int, decimals: int | None) -> Decimal:
    if decimals is None:
        raise UnitError("decimals unknown; refusing to assume")
    return Decimal(base).scaleb(-decimals)


@dataclass(frozen=True)
class ReceiptRate:
    """How much underlying (base units) one receipt token unit is worth: Liqwid's qToken
    rate, Surf's cToken redemption rate. Exact (a Fraction), with where it came from."""

    underlying_per_receipt: Fraction
    source: str  # "chain" or "api"

    def __post_init__(self) -> None:
        if self.underlying_per_receipt <= 0:
            raise UnitError(f"a receipt rate must be positive, got {self.underlying_per_receipt}")

    def underlying(self, receipt_units: int) -> int:
        """What `receipt_units` redeem for, rounded down (the venue keeps the dust)."""
        return int(receipt_units * self.underlying_per_receipt.numerator
                   // self.underlying_per_receipt.denominator)

    def receipts_to_burn(self, underlying: int) -> int:
        """Receipt units to burn to withdraw `underlying`, rounded up (never short)."""
        return -((-underlying * self.underlying_per_receipt.denominator)
                 // self.underlying_per_receipt.numerator)

    def receipts_for_deposit(self, underlying: int) -> int:
        """Receipt units a deposit of `underlying` mints, rounded down."""
        return (underlying * self.underlying_per_receipt.denominator
                // self.underlying_per_receipt.numerator)


def require_rate(rate: ReceiptRate | None, what: str) -> ReceiptRate:
    if rate is None:
        raise UnitError(f"{what}: no exchange rate known; refusing to assume 1:1")
    return rate


def fraction_to_decimal(value: Fraction, places: int = 18) -> Decimal:
    """A Fraction as a Decimal to `places` decimal places (for display and APRs)."""
    quantum = Decimal(1).scaleb(-places)
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        quantum, rounding=ROUND_DOWN if value >= 0 else ROUND_UP)
