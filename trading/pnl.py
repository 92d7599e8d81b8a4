"""Profit and loss and carry of a leveraged position, with interest indexes and every
fee. Pure; the conventions (base units, ADA per whole token, Decimal lovelace values)
are trading/risk.py's.

Interest: a venue's debt grows by its borrow index (Liqwid's interest index, Aave's
variable borrow index) and supplied collateral by its supply index (Liqwid's qToken
rate, Surf's cToken rate): amount now = amount at open × index now / index at open.
Debt rounds up and collateral down, the way the venues round against the borrower.

Fees: `FeeBill` names every fee in lovelace. Swap fees are the value a swap lost (fee,
price impact, slippage): they are already inside the book (a fill delivers less), so they
are shown and never subtracted a second time. The others (origination charged on top,
batcher fees, network fees, anything else) were paid from the wallet beyond the equity
posted, and PnL subtracts them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from trading.risk import CONTEXT, Book, RiskError, ceil_int, floor_int, require_amount, \
    require_finite, require_fraction

DAYS_PER_YEAR = Decimal(365)


@dataclass(frozen=True)
class FeeBill:
    """Fees of a position so far, in lovelace (convert a fee paid in tokens first)."""

    origination: int = 0
    batcher: int = 0
    network: int = 0
    other: int = 0
    swap: int = 0  # inside the book already; shown, not subtracted again

    def __post_init__(self) -> None:
        for name in ("origination", "batcher", "network", "other", "swap"):
            require_amount(getattr(self, name), f"{name} fee")

    @property
    def outside(self) -> int:
        """The fees paid beyond the equity posted: what PnL subtracts."""
        return self.origination + self.batcher + self.network + self.other

    @property
    def total(self) -> int:
        return self.outside + self.swap

    def __add__(self, other: "FeeBill") -> "FeeBill":
        return FeeBill(self.origination + other.origination, self.batcher + other.batcher,
                       self.network + other.network, self.other + other.other,
                       self.swap + other.swap)


@dataclass(frozen=True)
class IndexSpan:
    """An interest index at the position's open and now (positive; never falls)."""

    at_open: Decimal
    now: Decimal

    def __post_init__(self) -> None:
        for name in ("at_open", "now"):
            if require_finite(getattr(self, name), f"index {name}") <= 0:
                raise RiskError(f"an interest index must be above 0, got {getattr(self, name)}")
        if self.now < self.at_open:
            raise RiskError(f"an interest index never falls: {self.at_open} at open, "
                            f"{self.now} now")


FLAT = IndexSpan(Decimal(1), Decimal(1))


def accrue(amount: int, index: IndexSpan, *, round_up: bool) -> int:
    """`amount` grown by the index from open to now, to whole base units."""
    require_amount(amount, "amount")
    with localcontext(CONTEXT):
        grown = amount * index.now / index.at_open
        return ceil_int(grown) if round_up else floor_int(grown)


def accrued(book: Book, *, borrow: IndexSpan = FLAT, supply: IndexSpan = FLAT) -> Book:
    """The book now: its debt grown by the borrow index (rounded up), its collateral by
    the supply index (rounded down; FLAT where the collateral earns nothing)."""
    return replace(book, collateral=accrue(book.collateral, supply, round_up=False),
                   debt=accrue(book.debt, borrow, round_up=True))


@dataclass(frozen=True)
class Pnl:
    """A position marked to a price, in lovelace."""

    equity: Decimal  # what closing now would return, after the close's costs
    pnl: Decimal  # equity − equity posted − fees paid outside the book
    roe: Decimal  # pnl / equity posted


def close_value(book: Book, price: Decimal, *, swap_cost: Decimal = Decimal(0)) -> Decimal:
    """What unwinding the book at `price` returns in lovelace: a long sells its tokens at
    P × (1 − s) and repays its ADA debt; a short buys its debt back at P / (1 − s) out of
    its ADA collateral. What it holds in its wallet (`Book.held`) counts. Negative when
    under water."""
    s = require_fraction(swap_cost, "swap cost")
    cv, dv = book.exposure_values(price)
    with localcontext(CONTEXT):
        if book.side == "long":
            return cv * (1 - s) - dv
        return cv - dv / (1 - s)


def unrealised_pnl(book: Book, price: Decimal, *, equity_posted: int, fees: FeeBill,
                   close_swap_cost: Decimal = Decimal(0), close_fees: int = 0) -> Pnl:
    """The PnL of `book` (already accrued to now, see `accrued`) if it closed at
    `price`, after the close's swap cost and its other fees (`close_fees`, lovelace)."""
    require_amount(equity_posted, "equity posted")
    require_amount(close_fees, "close fees")
    if equity_posted == 0:
        raise RiskError("equity posted must be above 0 to measure a return on it")
    with localcontext(CONTEXT):
        equity = close_value(book, price, swap_cost=close_swap_cost) - close_fees
        pnl = equity - equity_posted - fees.outside
        return Pnl(equity, pnl, pnl / equity_posted)


def realised_pnl(*, equity_posted: int, returned: int, fees: FeeBill) -> int:
    """The PnL of a settled position: the lovelace value returned to the wallet, less
    the equity posted and the fees paid beyond it (the close's included in `fees`)."""
    require_amount(equity_posted, "equity posted")
    require_amount(returned, "returned")
    return returned - equity_posted - fees.outside


@dataclass(frozen=True)
class Carry:
    """Supply earned by the collateral minus borrow paid on the debt, in lovelace;
    positive means the position is paid to be held."""

    per_year: Decimal
    over_holding: Decimal
    rate_on_equity: Decimal | None  # per_year / equity; None when equity ≤ 0


def carry(book: Book, price: Decimal, *, supply_apy: Decimal, borrow_apr: Decimal,
          holding_days: Decimal = Decimal(0)) -> Carry:
    """supply_apy × collateral value − borrow_apr × debt value per year, and pro rata
    over `holding_days` (the approximation trading/selection.py uses: exact for simple
    accrual, at most a little above compounding for under a year)."""
    for name, rate in (("supply APY", supply_apy), ("borrow APR", borrow_apr)):
        if require_finite(rate, name) < 0:
            raise RiskError(f"{name} must not be negative, got {rate}")
    if require_finite(holding_days, "holding days") < 0:
        raise RiskError(f"holding days must not be negative, got {holding_days}")
    cv, dv = book.values(price)
    with localcontext(CONTEXT):
        per_year = supply_apy * cv - borrow_apr * dv
        equity = cv - dv
        return Carry(per_year, per_year * holding_days / DAYS_PER_YEAR,
                     per_year / equity if equity > 0 else None)
