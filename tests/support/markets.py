"""Markets for tests: one builder with sensible defaults, and a few tokens."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from core.units import ADA_TOKEN, Asset, ReceiptRate, Token
from protocols.model import CollateralOption, Fees, Market, MarketStatus, Provenance

SNEK = Token(Asset("279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f", "534e454b"), 0,
             "SNEK")
DJED = Token(Asset("8db269c3ec630e06ae29f74bc39edb1f87c819e1ff0ea2c1b7f4d5d5", "444a4544"), 6,
             "DJED")
NOW_MS = 1_780_000_000_000


def option(token: Token, max_ltv: str, threshold: str | None = None,
           penalty: str | None = "0.1") -> CollateralOption:
    ltv = Decimal(max_ltv)
    return CollateralOption(token, ltv, Decimal(threshold) if threshold else ltv + Decimal("0.05"),
                            None if penalty is None else Decimal(penalty))


def market(venue: str, market_id: str, borrow: Token = ADA_TOKEN,
           collaterals: tuple[CollateralOption, ...] = (), *, apr: str = "0.05",
           supply_apy: str = "0.02", utilisation: str = "0.5",
           liquidity: int = 10**15, min_size: int | None = None, origination: str = "0",
           batcher: int = 0, status: MarketStatus = MarketStatus(), source: str = "api",
           as_of_ms: int = NOW_MS, fixed: bool = False,
           receipt_rate: ReceiptRate | None = None, other_fees: tuple[str, ...] = ()) -> Market:
    return Market(
        venue=venue, market_id=market_id, borrow=borrow, collaterals=collaterals,
        borrow_apr=Decimal(apr), supply_apy=Decimal(supply_apy),
        utilisation=Decimal(utilisation), available_liquidity=liquidity, min_size=min_size,
        fees=Fees(Decimal(origination), batcher, other_fees), status=status,
        provenance=Provenance(source, as_of_ms, f"{source} test"),  # type: ignore[arg-type]
        receipt=Asset("ab" * 28, "71") if receipt_rate else None, receipt_rate=receipt_rate,
        rate_fixed_at_open=fixed)


def rate(num: int, den: int) -> ReceiptRate:
    return ReceiptRate(Fraction(num, den), "api")
