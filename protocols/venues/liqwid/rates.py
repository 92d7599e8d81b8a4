"""Liqwid's rates from chain state alone. Pure, exact where the chain is (Fraction), Decimal
where a yearly figure is shown.

The borrow-rate model (lending.md §6.1; exact to 1e-11 on every recorded
marketParamsHistory row, and exactly the real Ada MarketState's own rate at its
utilisation, see `utilisation`):
    r(u) = base_rate + u·util_multiplier + max(0, u − kink)·jump_multiplier
per 2000-second period, compounded over a year of 15 768 periods:
    borrow APR(u) = (1 + r(u))^15768 − 1
Liqwid calls that figure the borrower APR; it is what its API's `borrowAPR` reports.

Suppliers earn the borrowers' interest on the lent part, less the protocol's cut:
    supplier APY(u) = borrow APR(u)·u·suppliers/sum + (1 − u)·staking APY
where the staking APY is what the unlent underlying earns besides (ADA staking rewards in
the Ada market; not on chain, so 0 unless the caller knows it). The recorded rows fit this
exactly, with their baseSupplierAPY (u = 0) as the staking APY.
"""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from protocols.venues.liqwid.datums import IncomeRatio, MarketState, RateModel

PERIOD_S = 2000
PERIODS_PER_YEAR = 31_536_000 // PERIOD_S  # 15 768
#: Decimal places of the yearly figures returned here.
PLACES = 18
_QUANTUM = Decimal(1).scaleb(-PLACES)
_PRECISION = 60


def utilisation(supply: int, principal: int, interest: int = 0) -> Fraction:
    """(principal + interest) / (supply + principal + interest): the lent share of the
    market, accrued interest counted as lent (0 when the market is empty).

    lending.md has principal / (supply + principal); the chain counts the interest: the
    real Ada MarketState's interest_rate is the rate model at this utilisation exactly,
    and 0.05 % away at principal / (supply + principal) (tests/venues/test_liqwid_rates.py).
    """
    lent = principal + interest
    total = supply + lent
    return Fraction(0) if total <= 0 else Fraction(lent, total)


def state_utilisation(state: MarketState) -> Fraction:
    return utilisation(state.supply, state.principal, state.interest)


def period_rate(model: RateModel, u: Fraction) -> Fraction:
    """The borrow rate per 2000-second period at utilisation u."""
    return (model.base_rate + u * model.util_multiplier
            + max(Fraction(0), u - model.kink) * model.jump_multiplier)


def yearly(period: Fraction) -> Decimal:
    """(1 + r)^15768 − 1, to PLACES decimal places."""
    with localcontext() as context:
        context.prec = _PRECISION
        one_plus = 1 + Decimal(period.numerator) / Decimal(period.denominator)
        return (one_plus ** PERIODS_PER_YEAR - 1).quantize(_QUANTUM, ROUND_HALF_EVEN)


def borrow_apr(model: RateModel, u: Fraction) -> Decimal:
    return yearly(period_rate(model, u))


def max_utilisation(model: RateModel) -> Fraction:
    """The borrow cap, or 1 where the market has none."""
    return model.borrow_cap if model.borrow_cap is not None else Fraction(1)


def base_borrow_apr(model: RateModel) -> Decimal:
    return borrow_apr(model, Fraction(0))


def optimal_borrow_apr(model: RateModel) -> Decimal:
    return borrow_apr(model, model.kink)


def max_borrow_apr(model: RateModel) -> Decimal:
    return borrow_apr(model, max_utilisation(model))


def supplier_apy(borrow: Decimal, u: Fraction, income: IncomeRatio,
                 staking_apy: Decimal = Decimal(0)) -> Decimal:
    with localcontext() as context:
        context.prec = _PRECISION
        share = Decimal(income.suppliers) / Decimal(income.sum)
        used = Decimal(u.numerator) / Decimal(u.denominator)
        return (borrow * used * share + (1 - used) * staking_apy).quantize(
            _QUANTUM, ROUND_HALF_EVEN)


def suppliers_interest(interest: int, income: IncomeRatio) -> int:
    """The suppliers' share of accrued interest, rounded down as the contracts do."""
    return interest * income.suppliers // income.sum


def qtoken_rate(supply: int, principal: int, interest: int, qtokens: int,
                income: IncomeRatio) -> Fraction:
    """Underlying per qToken: (supply + principal + floor(interest·suppliers/sum)) / qTokens
    (lending.md §1.2 and §6.1; equal to the MarketState's own qtoken_rate on every real
    datum in the fixtures)."""
    if qtokens <= 0:
        raise ValueError("a market without qTokens has no qToken rate")
    return Fraction(supply + principal + suppliers_interest(interest, income), qtokens)


def state_qtoken_rate(state: MarketState, income: IncomeRatio) -> Fraction:
    return qtoken_rate(state.supply, state.principal, state.interest, state.qtokens, income)


def qtokens_for_deposit(underlying: int, rate: Fraction) -> int:
    """qTokens a deposit mints: floor(underlying / rate)."""
    return underlying * rate.denominator // rate.numerator


def underlying_for_qtokens(qtokens: int, rate: Fraction) -> int:
    """What qTokens redeem for: floor(qTokens × rate)."""
    return qtokens * rate.numerator // rate.denominator


def available_to_borrow(state: MarketState, model: RateModel | None) -> int:
    """What can be borrowed now: the pool's supply, and no more than keeps utilisation
    within the borrow cap (borrowing x moves x from supply to principal)."""
    if model is None or model.borrow_cap is None:
        return max(0, state.supply)
    lent = state.principal + state.interest
    cap = model.borrow_cap
    within_cap = (state.supply + lent) * cap.numerator // cap.denominator - lent
    return max(0, min(state.supply, within_cap))


def decimal_text(value: Fraction) -> str:
    """A ratio as a plain decimal string: exact when it terminates, else 30 significant
    digits (never an exponent)."""
    with localcontext() as context:
        context.prec = _PRECISION
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        denominator = value.denominator
        for prime in (2, 5):
            while denominator % prime == 0:
                denominator //= prime
        if denominator != 1:
            context.prec = 30
            exact = Decimal(value.numerator) / Decimal(value.denominator)
        return format(exact, "f")


def rate_model_json(model: RateModel) -> dict[str, str | None]:
    """The rate model as the CLI prints it (issue 8, point 9): decimal strings."""
    def text(value: Fraction | int | None) -> str | None:
        return None if value is None else decimal_text(Fraction(value))

    return {"base_rate": text(model.base_rate), "util_multiplier": text(model.util_multiplier),
            "jump_multiplier": text(model.jump_multiplier), "kink": text(model.kink),
            "borrow_cap": text(model.borrow_cap), "supply_cap": text(model.supply_cap)}
