"""Risk maths of a two-asset leveraged position: health, liquidation price, leverage,
and the trades that deleverage or boost to a target health. Pure.

Conventions (one for the whole module):
- amounts are ints in base units (lovelace for ADA, the token's own base units);
- a price is a Decimal in **ADA per display unit of the token** (ADA per whole SNEK),
  as DexHunter and the venues show it; the token's decimals come from its `Token`;
- values are Decimal lovelace, computed in a 60-digit context so nothing in play rounds;
- a long holds the token as collateral and owes lovelace; a short holds lovelace as
  collateral and owes the token;
- leverage L = collateral value / equity for both sides, the convention of the flows and
  of trading/selection.py: the venue lends (L−1)/L of the collateral's value. A short at
  L therefore owes tokens worth (L−1) × equity.

Health is the venues' own: Liqwid's Σ collateral value × liquidation threshold / debt,
and Surf's LTV = debt / collateral value against its liquidation threshold, which is the
same test (liquidated when LTV ≥ LT ⟺ health ≤ 1). Levvy liquidates by time, not price:
its books carry no liquidation threshold, and their health and liquidation price are None.

`swap_cost` is the fraction of value a swap loses (DEX fee + price impact + slippage):
selling v lovelace of collateral yields v × (1 − s); buying back costs value / (1 − s).
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import Literal, Sequence

from core.errors import AppError
from core.units import ADA_TOKEN, Token

Side = Literal["long", "short"]
SIDES: tuple[str, ...] = ("long", "short")
#: Enough digits that no amount, price or rate in play is rounded.
CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)
_LOVELACE_PER_ADA = 10 ** ADA_TOKEN.decimals


class RiskError(AppError):
    """A risk computation asked with inputs that make no sense (a negative amount, a
    leverage not above 1, a target health not above 1) or that cannot be met."""


# --- checks --------------------------------------------------------------------------

def require_amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RiskError(f"{what} must be a non-negative integer of base units, got {value!r}")
    return value


def require_finite(value: Decimal, what: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise RiskError(f"{what} must be a finite Decimal, got {value!r}")
    return value


def _positive(value: Decimal, what: str) -> Decimal:
    if require_finite(value, what) <= 0:
        raise RiskError(f"{what} must be above 0, got {value}")
    return value


def require_fraction(value: Decimal, what: str, *, top_open: bool = True) -> Decimal:
    require_finite(value, what)
    if value < 0 or value > 1 or (top_open and value == 1):
        bound = "[0, 1)" if top_open else "[0, 1]"
        raise RiskError(f"{what} must be a fraction in {bound}, got {value}")
    return value


def _leverage(value: Decimal) -> Decimal:
    if require_finite(value, "leverage") <= 1:
        raise RiskError(f"leverage must be above 1, got {value}")
    return value


def _target(value: Decimal) -> Decimal:
    if require_finite(value, "target health") <= 1:
        raise RiskError(f"target health must be above 1 (1 is liquidation), got {value}")
    return value


def _side(side: str) -> Side:
    if side not in SIDES:
        raise RiskError(f"side must be long or short, got {side!r}")
    return "long" if side == "long" else "short"


def ceil_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=decimal.ROUND_CEILING))


def floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=decimal.ROUND_FLOOR))


# --- units ---------------------------------------------------------------------------

def lovelace_per_base_unit(token: Token, price: Decimal) -> Decimal:
    """The value in lovelace of one base unit of `token` at `price` ADA per whole token."""
    _positive(price, "price")
    with localcontext(CONTEXT):
        return price * _LOVELACE_PER_ADA / (Decimal(10) ** token.decimals)


def token_value(token: Token, amount: int, price: Decimal) -> Decimal:
    """The value in lovelace of `amount` base units of `token` at `price`."""
    require_amount(amount, "amount")
    with localcontext(CONTEXT):
        return amount * lovelace_per_base_unit(token, price)


# --- the book ------------------------------------------------------------------------

@dataclass(frozen=True)
class Book:
    """What a position holds at a venue: its collateral and its debt, in base units.
    A long: collateral in `token`, debt in lovelace; a short: the other way round."""

    side: Side
    token: Token  # the token the position is long or short
    collateral: int  # base units of the collateral asset
    debt: int  # base units of the debt asset
    #: The venue's liquidation threshold for this collateral (a fraction); None for a
    #: venue that liquidates by time only (Levvy).
    liquidation_threshold: Decimal | None
    #: Base units of the collateral asset the position holds in its wallet, outside the
    #: venue (where each borrow is its own loan, the last round's swap cannot be
    #: deposited): part of its exposure and equity, never of the venue's health.
    held: int = 0

    def __post_init__(self) -> None:
        _side(self.side)
        if self.token.asset.is_ada:
            raise RiskError("the position's token must be a token other than ADA")
        require_amount(self.collateral, "collateral")
        require_amount(self.debt, "debt")
        require_amount(self.held, "held")
        if self.liquidation_threshold is not None:
            lt = require_finite(self.liquidation_threshold, "liquidation threshold")
            if not 0 < lt <= 1:
                raise RiskError(f"liquidation threshold must be a fraction in (0, 1], got {lt}")

    def unit_values(self, price: Decimal) -> tuple[Decimal, Decimal]:
        """Lovelace per base unit of (the collateral asset, the debt asset) at `price`."""
        per_token = lovelace_per_base_unit(self.token, price)
        return (per_token, Decimal(1)) if self.side == "long" else (Decimal(1), per_token)

    def values(self, price: Decimal) -> tuple[Decimal, Decimal]:
        """(collateral value, debt value) in lovelace at `price`."""
        pc, pd = self.unit_values(price)
        with localcontext(CONTEXT):
            return self.collateral * pc, self.debt * pd

    def exposure_values(self, price: Decimal) -> tuple[Decimal, Decimal]:
        """(value of the collateral asset held, at the venue and in the wallet; debt
        value) in lovelace at `price`: what leverage and PnL are measured on."""
        pc, pd = self.unit_values(price)
        with localcontext(CONTEXT):
            return (self.collateral + self.held) * pc, self.debt * pd


# --- health --------------------------------------------------------------------------

def health_factor(collateral: Sequence[tuple[Decimal, Decimal]],
                  debt_value: Decimal) -> Decimal | None:
    """Σ value × liquidation threshold / debt value, over (value, threshold) pairs in
    the same unit as the debt (Liqwid's definition). None when there is no debt: a loan
    without debt cannot be liquidated."""
    if require_finite(debt_value, "debt value") < 0:
        raise RiskError(f"debt value must not be negative, got {debt_value}")
    with localcontext(CONTEXT):
        total = Decimal(0)
        for value, threshold in collateral:
            if require_finite(value, "collateral value") < 0:
                raise RiskError(f"collateral value must not be negative, got {value}")
            require_fraction(threshold, "liquidation threshold", top_open=False)
            total += value * threshold
        if debt_value == 0:
            return None
        return total / debt_value


def loan_to_value(collateral_value: Decimal, debt_value: Decimal) -> Decimal | None:
    """Debt / collateral value (Surf's LTV); None without collateral."""
    require_finite(collateral_value, "collateral value")
    require_finite(debt_value, "debt value")
    if collateral_value <= 0:
        return None
    with localcontext(CONTEXT):
        return debt_value / collateral_value


def health(book: Book, price: Decimal, *, swap_cost: Decimal = Decimal(0)) -> Decimal | None:
    """The book's health at `price`. With `swap_cost` s > 0 the collateral is valued as
    an unwind would realise it: a long's token at P × (1 − s), a short's debt bought
    back at P / (1 − s). With s = 0 it is the venue's own health. None: no debt, or a
    venue without price liquidation."""
    s = require_fraction(swap_cost, "swap cost")
    if book.liquidation_threshold is None:
        return None
    cv, dv = book.values(price)
    with localcontext(CONTEXT):
        if book.side == "long":
            cv = cv * (1 - s)
        else:
            dv = dv / (1 - s)
        return health_factor([(cv, book.liquidation_threshold)], dv)


def liquidation_price(book: Book, *, swap_cost: Decimal = Decimal(0)) -> Decimal | None:
    """The price (ADA per whole token) at which `health(book, price, swap_cost=s)` is 1:
    a long is liquidated below it, a short above it. With s > 0 it is the price where
    what an unwind would realise just meets the threshold (for a long, above the venue's
    own liquidation price; for a short, below it), the line a guard must act before.
    None with no debt, no collateral (long) or no price liquidation at the venue."""
    s = require_fraction(swap_cost, "swap cost")
    lt = book.liquidation_threshold
    if lt is None or book.debt == 0:
        return None
    with localcontext(CONTEXT):
        scale = Decimal(10) ** book.token.decimals / _LOVELACE_PER_ADA  # price per base unit
        if book.side == "long":
            if book.collateral == 0:
                return None
            # Q × p × LT × (1 − s) = D, p in lovelace per base unit
            return Decimal(book.debt) / (book.collateral * lt * (1 - s)) * scale
        # C × LT × (1 − s) = Qd × p
        return book.collateral * lt * (1 - s) / book.debt * scale


def distance_to_liquidation(book: Book, price: Decimal,
                            *, swap_cost: Decimal = Decimal(0)) -> Decimal | None:
    """How far the price may move before liquidation, as a fraction of `price`: for a
    long 1 − P_liq/P (a fall), for a short P_liq/P − 1 (a rise). Negative: past it."""
    _positive(price, "price")
    p_liq = liquidation_price(book, swap_cost=swap_cost)
    if p_liq is None:
        return None
    with localcontext(CONTEXT):
        return 1 - p_liq / price if book.side == "long" else p_liq / price - 1


# --- leverage ------------------------------------------------------------------------

def realised_leverage(book: Book, price: Decimal) -> Decimal | None:
    """Collateral value / equity (equity = collateral value − debt value) at `price`:
    what the position really is, not the nominal setting. None when the equity is not
    positive (the position is under water and leverage means nothing). Collateral held
    in the wallet (`Book.held`) counts: it is exposure all the same."""
    cv, dv = book.exposure_values(price)
    with localcontext(CONTEXT):
        equity = cv - dv
        if equity <= 0:
            return None
        return cv / equity


def ltv_for_leverage(leverage: Decimal) -> Decimal:
    """The LTV the venue must lend at for leverage L: (L − 1) / L."""
    _leverage(leverage)
    with localcontext(CONTEXT):
        return (leverage - 1) / leverage


def leverage_for_ltv(ltv: Decimal) -> Decimal:
    """The leverage an LTV gives when looped without end: 1 / (1 − LTV)."""
    require_fraction(ltv, "LTV")
    with localcontext(CONTEXT):
        return 1 / (1 - ltv)


def max_leverage(max_ltv: Decimal, *, swap_cost: Decimal = Decimal(0)) -> Decimal:
    """The limit of looping at `max_ltv` when each loop's swap keeps 1 − s of the value:
    1 / (1 − LTV × (1 − s))."""
    require_fraction(max_ltv, "max LTV")
    s = require_fraction(swap_cost, "swap cost")
    with localcontext(CONTEXT):
        return 1 / (1 - max_ltv * (1 - s))


def loop_leverage(ltv: Decimal, loops: int, *, swap_cost: Decimal = Decimal(0)) -> Decimal:
    """Exposure / equity after `loops` borrow-swap-deposit rounds at `ltv`:
    Σ_{k=0..n} (LTV × (1 − s))^k."""
    require_fraction(ltv, "LTV")
    s = require_fraction(swap_cost, "swap cost")
    require_amount(loops, "loops")
    with localcontext(CONTEXT):
        q = ltv * (1 - s)
        return sum((q ** k for k in range(loops + 1)), Decimal(0))


def loops_needed(leverage: Decimal, ltv: Decimal, *, swap_cost: Decimal = Decimal(0),
                 max_loops: int = 50) -> int:
    """The fewest loops at `ltv` that reach `leverage`; RiskError when the LTV (after
    swap costs) cannot reach it, or not within `max_loops`."""
    _leverage(leverage)
    limit = max_leverage(ltv, swap_cost=swap_cost)
    if leverage >= limit:
        raise RiskError(f"leverage {leverage} is out of reach at LTV {ltv} with swap cost "
                        f"{swap_cost}: looping tends to {limit:.6f}")
    for loops in range(max_loops + 1):
        if loop_leverage(ltv, loops, swap_cost=swap_cost) >= leverage:
            return loops
    raise RiskError(f"leverage {leverage} needs more than {max_loops} loops at LTV {ltv}")


# --- opening -------------------------------------------------------------------------

@dataclass(frozen=True)
class Opened:
    """The book a position opens with, and the value its swaps lost (lovelace)."""

    book: Book
    swap_fee: int


def open_book(side: str, token: Token, *, equity: int, leverage: Decimal, price: Decimal,
              liquidation_threshold: Decimal | None,
              swap_cost: Decimal = Decimal(0)) -> Opened:
    """The book of a position opened from `equity` lovelace at `leverage` and `price`.

    Long: the exposure L × E is bought with ADA (the equity and the (L − 1) × E borrowed),
    so Q = floor(L × E × (1 − s) / p) and D = floor((L − 1) × E).
    Short: Qd = floor((L − 1) × E / p) tokens borrowed and sold, so the collateral is
    E + floor(Qd × p × (1 − s)). Base units round down: never more than the trade gives.
    """
    side_ = _side(side)
    require_amount(equity, "equity")
    _leverage(leverage)
    s = require_fraction(swap_cost, "swap cost")
    per_unit = lovelace_per_base_unit(token, price)
    with localcontext(CONTEXT):
        borrowed_value = (leverage - 1) * equity
        if side_ == "long":
            swapped = leverage * equity
            collateral = floor_int(swapped * (1 - s) / per_unit)
            debt = floor_int(borrowed_value)
            fee = swapped - collateral * per_unit
        else:
            debt = floor_int(borrowed_value / per_unit)
            proceeds = floor_int(debt * per_unit * (1 - s))
            collateral = equity + proceeds
            fee = debt * per_unit - proceeds
    book = Book(side_, token, collateral, debt, liquidation_threshold)
    return Opened(book, floor_int(fee))


def liquidation_price_at_open(side: str, entry_price: Decimal, leverage: Decimal,
                              liquidation_threshold: Decimal,
                              *, swap_cost: Decimal = Decimal(0)) -> Decimal:
    """The closed forms from the leverage alone (no rounding to base units):
    long  P0 × (L − 1) / (L × LT × (1 − s));
    short P0 × LT × (1 + (L − 1)(1 − s)) / (L − 1)."""
    side_ = _side(side)
    _positive(entry_price, "entry price")
    _leverage(leverage)
    lt = require_fraction(liquidation_threshold, "liquidation threshold", top_open=False)
    if lt == 0:
        raise RiskError("liquidation threshold must be above 0")
    s = require_fraction(swap_cost, "swap cost")
    with localcontext(CONTEXT):
        if side_ == "long":
            return entry_price * (leverage - 1) / (leverage * lt * (1 - s))
        k = leverage - 1
        return entry_price * lt * (1 + k * (1 - s)) / k


# --- deleverage and boost ------------------------------------------------------------

@dataclass(frozen=True)
class Adjustment:
    """A trade that moves a book's health. Deleverage: sell `collateral_delta` base
    units of collateral and repay `debt_delta` of debt with the proceeds. Boost: borrow
    `debt_delta` more and deposit the `collateral_delta` it buys."""

    collateral_delta: int
    debt_delta: int
    book: Book  # the book after the trade
    health: Decimal | None  # the venue's health after it, at the price asked


def _check_adjust(book: Book, price: Decimal, target: Decimal,
                  swap_cost: Decimal) -> tuple[Decimal, Decimal]:
    _target(target)
    s = require_fraction(swap_cost, "swap cost")
    _positive(price, "price")
    if book.liquidation_threshold is None:
        raise RiskError("this venue liquidates by time, not price: no health to target")
    return book.liquidation_threshold, s


def deleverage(book: Book, price: Decimal, target: Decimal,
               *, swap_cost: Decimal = Decimal(0)) -> Adjustment:
    """Sell collateral and repay debt with what the sale yields, so that the venue's
    health at `price` reaches at least `target`.

    In value terms (C, D lovelace; v sold; v × (1 − s) repaid):
    (C − v) × LT / (D − v(1 − s)) = H  ⟹  v = (H × D − C × LT) / (H(1 − s) − LT),
    solved with one more base unit of debt than owed, then rounded up, so the
    rounding of the swap's output never leaves the health below the target. Nothing
    to do when the health is already at or above it.
    """
    lt, s = _check_adjust(book, price, target, swap_cost)
    now = health(book, price)
    if now is None or now >= target:
        return Adjustment(0, 0, book, now)
    pc, pd = book.unit_values(price)
    cv, dv = book.values(price)
    with localcontext(CONTEXT):
        slope = target * (1 - s) - lt
        if slope <= 0:
            raise RiskError(f"health {target} cannot be reached by selling: each sale's swap "
                            f"cost ({s}) frees less than the threshold ({lt}) gives up")
        value = (target * (dv + pd) - cv * lt) / slope
        sell = min(ceil_int(value / pc), book.collateral)
        repay = min(floor_int(sell * pc * (1 - s) / pd), book.debt)
    after = replace(book, collateral=book.collateral - sell, debt=book.debt - repay)
    reached = health(after, price)
    if reached is not None and reached < target:
        raise RiskError(f"health {target} cannot be reached by selling: the collateral "
                        f"after swap costs does not cover the debt (health now {now:.6f})")
    return Adjustment(sell, repay, after, reached)


def collateral_for_health(book: Book, price: Decimal, target: Decimal) -> int:
    """Base units of collateral to add (a margin call) so the venue's health at `price`
    reaches at least `target`: the health is proportional to the collateral,
    (C + x) × p_c × LT = H × D × p_d  ⟹  x = H × D × p_d / (p_c × LT) − C, rounded up.
    0 when it is there already, or with no debt."""
    _target(target)
    _positive(price, "price")
    if book.liquidation_threshold is None:
        raise RiskError("this venue liquidates by time, not price: no health to target")
    if book.debt == 0:
        return 0
    pc, _ = book.unit_values(price)
    _, dv = book.values(price)
    with localcontext(CONTEXT):
        needed = target * dv / (pc * book.liquidation_threshold)
    return max(0, ceil_int(needed) - book.collateral)


def boost(book: Book, price: Decimal, target: Decimal,
          *, swap_cost: Decimal = Decimal(0)) -> Adjustment:
    """Borrow more and buy collateral with it, as much as keeps the venue's health at
    `price` at or above `target`.

    In value terms (u borrowed, u × (1 − s) of collateral bought):
    (C + u(1 − s)) × LT / (D + u) = H  ⟹  u = (C × LT − H × D) / (H − (1 − s) × LT),
    solved with one base unit of collateral less than held, then rounded down, so the
    rounding of the swap's output never leaves the health below the target. Nothing
    to do when the health is already at or below it.
    """
    lt, s = _check_adjust(book, price, target, swap_cost)
    now = health(book, price)
    if now is not None and now <= target:
        return Adjustment(0, 0, book, now)
    pc, pd = book.unit_values(price)
    cv, dv = book.values(price)
    with localcontext(CONTEXT):
        # H > 1 ≥ LT ≥ (1 − s) × LT, so the denominator is positive.
        value = ((cv - pc) * lt - target * dv) / (target - (1 - s) * lt)
        borrow = max(floor_int(value / pd), 0)
        bought = floor_int(borrow * pd * (1 - s) / pc)
    after = replace(book, collateral=book.collateral + bought, debt=book.debt + borrow)
    return Adjustment(bought, borrow, after, health(after, price))


def reduce_share(book: Book, fraction: Decimal) -> Adjustment:
    """A proportional partial close of `fraction` (0, 1] of the book: repay that share of
    the debt, rounded up, and withdraw that share of the collateral, rounded down, so the
    rest is never less healthy than the whole was. The swap between them (selling the
    withdrawn collateral for a long, buying the repaid tokens for a short) is the flow's.
    A venue that repays only in full (Surf) must be refused before this is asked."""
    require_finite(fraction, "fraction")
    if not 0 < fraction <= 1:
        raise RiskError(f"the share to close must be a fraction in (0, 1], got {fraction}")
    with localcontext(CONTEXT):
        repay = min(ceil_int(book.debt * fraction), book.debt)
        withdraw = floor_int(book.collateral * fraction)
        held = floor_int(book.held * fraction)
    after = replace(book, collateral=book.collateral - withdraw, debt=book.debt - repay,
                    held=book.held - held)
    return Adjustment(withdraw, repay, after, None)
