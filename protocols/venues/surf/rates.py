"""Surf's interest model, cToken rate, loan debt and health, as the validators compute them
(flow-lending-smart-contracts `lib/utils.ak` and `validators/pool.ak`; lending.md §3.5). Pure.

Every on-chain figure is an integer in basis points (`MULTIPLIER` = 10 000) and every
division floors, as Aiken's does; these functions reproduce the integers exactly, and give
`Decimal` / `Fraction` views of them for the venue-neutral model.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from core.units import ReceiptRate
from protocols.venues.surf.datums import OracleDatum, PoolDatum, PoolInfoDatum, VaultDatum

MULTIPLIER = 10_000
YEAR_MS = 31_536_000_000


def utilisation_bp(total_borrowed: int, total_supplied: int) -> int:
    """u as the pool validator computes it when a loan opens. An empty pool (nothing
    supplied) lends nothing; on chain the division would fail, here it is 0."""
    if total_supplied <= 0:
        return 0
    return total_borrowed * MULTIPLIER // total_supplied


def utilisation(pool: PoolDatum) -> Fraction:
    """Exact borrowed / supplied (0 for an empty pool), capped at 1."""
    if pool.total_supplied <= 0:
        return Fraction(0)
    return min(Fraction(pool.total_borrowed, pool.total_supplied), Fraction(1))


def borrow_rate_bp(u_bp: int, info: PoolInfoDatum) -> int:
    """`cal_interest_rate`: the kinked (jump-rate) model, basis points a year."""
    if u_bp < info.kink:
        return info.base_rate + u_bp * info.slope_low // MULTIPLIER
    return (info.base_rate + info.kink * info.slope_low // MULTIPLIER
            + (u_bp - info.kink) * info.slope_high // MULTIPLIER)


def rate_for_new_loan(pool: PoolDatum, info: PoolInfoDatum) -> int:
    """The rate a loan batched against this pool state gets, fixed for its life."""
    return borrow_rate_bp(utilisation_bp(pool.total_borrowed, pool.total_supplied), info)


def bp(value: int) -> Decimal:
    """Basis points as a Decimal fraction (500 -> 0.05)."""
    return Decimal(value) / MULTIPLIER


def supply_rate(pool: PoolDatum, info: PoolInfoDatum) -> Decimal:
    """What suppliers earn a year at the current rate and utilisation, after the reserve's
    share: rate(u) × u × (1 − reserve factor). An estimate: open loans keep the rates they
    were opened at, and interest reaches suppliers only when a loan is repaid."""
    rate = bp(rate_for_new_loan(pool, info))
    u = Decimal(utilisation(pool).numerator) / Decimal(utilisation(pool).denominator)
    return rate * u * (1 - bp(info.reserve_factor_percentage))


def debt_at(vault: VaultDatum, at_ms: int) -> int:
    """What repaying the loan at `at_ms` costs (principal + simple interest), exactly as the
    pool validator's `payment`: the interest term is floored to whole basis points."""
    elapsed = max(0, at_ms - vault.start_time)
    return vault.principal * (MULTIPLIER + vault.interest_rate * elapsed // YEAR_MS) // MULTIPLIER


def ltv_bp(payment: int, collateral_amount: int, oracle: OracleDatum) -> int:
    """`cal_ltv`: debt over collateral value in basis points, with the oracle's price."""
    if collateral_amount <= 0:
        raise ValueError("a loan without collateral has no LTV")
    return payment * MULTIPLIER * oracle.decimals // (collateral_amount * oracle.price)


def collateral_value(collateral_amount: int, oracle: OracleDatum) -> Fraction:
    """The collateral's value in base units of the pool asset."""
    return Fraction(collateral_amount * oracle.price, oracle.decimals)


@dataclass(frozen=True)
class VaultHealth:
    debt: int  # base units of the pool asset, at `at_ms`
    ltv_bp: int  # as the validator computes it
    liquidation_threshold_bp: int
    max_borrow_ltv_bp: int
    at_ms: int

    @property
    def ltv(self) -> Fraction:
        return Fraction(self.ltv_bp, MULTIPLIER)

    @property
    def liquidatable(self) -> bool:
        """ApplyLiquidate accepts a vault whose LTV is at or above the threshold."""
        return self.ltv_bp >= self.liquidation_threshold_bp

    @property
    def health_factor(self) -> Fraction | None:
        """threshold / LTV: below 1 the loan can be liquidated; None without debt."""
        return None if self.ltv_bp == 0 else Fraction(self.liquidation_threshold_bp, self.ltv_bp)


def vault_health(vault: VaultDatum, oracle: OracleDatum, info: PoolInfoDatum,
                 at_ms: int) -> VaultHealth:
    collateral = info.collateral(vault.collateral_asset)
    if collateral is None:
        raise ValueError(f"the pool takes no {vault.collateral_asset} as collateral")
    debt = debt_at(vault, at_ms)
    return VaultHealth(debt, ltv_bp(debt, vault.collateral_amount, oracle),
                       collateral.liquidation_threshold, collateral.max_borrow_ltv, at_ms)


def ctoken_rate(pool: PoolDatum) -> ReceiptRate:
    """Underlying per cToken = total_supplied / total_ctoken. A pool with no cTokens mints
    them 1:1 (the pool validator's rule for its first deposit), so 1 there."""
    if pool.total_ctoken == 0:
        return ReceiptRate(Fraction(1), "chain")
    if pool.total_supplied <= 0:
        raise ValueError("cTokens exist but nothing is supplied: no redemption rate")
    return ReceiptRate(Fraction(pool.total_supplied, pool.total_ctoken), "chain")


def ctokens_for_deposit(pool: PoolDatum, amount: int) -> int:
    """cTokens minted for a deposit, as ApplyDeposit computes them."""
    if pool.total_ctoken == 0:
        return amount
    return amount * pool.total_ctoken // pool.total_supplied


def withdraw_payment(pool: PoolDatum, ctokens: int) -> int:
    """What burning `ctokens` pays, as ApplyWithdraw computes it."""
    if pool.total_ctoken == 0:
        raise ValueError("no cTokens exist in this pool")
    return ctokens * pool.total_supplied // pool.total_ctoken


def available_liquidity(pool: PoolDatum) -> int:
    return max(0, pool.total_supplied - pool.total_borrowed)
