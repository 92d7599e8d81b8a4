"""Venue selection: which market to borrow from for a leveraged long or short. Pure.

The loop convention: a position of notional `size` (lovelace: the value of the
collateral it ends up holding) at leverage L borrows debt = size × (L−1)/L, so the
venue must lend debt/collateral = (L−1)/L of the collateral's value.

- long on token T: borrow ADA against T (a market whose borrow asset is ADA and that
  takes T as collateral); the borrowed ADA buys T;
- short on T: borrow T against ADA (a market whose borrow asset is T and that takes
  ADA); the borrowed T is sold for ADA. Its debt in tokens comes from the caller's price.

A market is eligible when its collateral's max LTV allows (L−1)/L, its available
liquidity covers the debt, the debt reaches its minimum size, its status is usable and
its figures are not stale. Effective cost, in lovelace over the holding time:
debt × borrow_apr × days/365 + origination × debt + batcher fee × batcher txs +
swap cost × debt × swap legs. The interest is pro rata of the effective yearly rate: exact
for simple accrual (Surf), and at most a little above the compounded cost for a holding
shorter than a year (Liqwid), so a compounding venue is never favoured by the approximation.
Every market comes back, ranked, with its reasons.
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any, Literal, Sequence

from core.units import ADA_TOKEN, Token, to_display
from protocols.model import CollateralOption, Market

Side = Literal["long", "short"]
SIDES: tuple[str, ...] = ("long", "short")
DAYS_PER_YEAR = Decimal(365)
LOVELACE_PER_ADA = Decimal(1_000_000)
#: Enough digits that no amount or rate in play is rounded.
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


class QuoteError(ValueError):
    """A quote request that cannot be answered as asked (bad side, leverage, size...)."""


@dataclass(frozen=True)
class QuoteRequest:
    side: str  # "long" | "short"
    asset: Token  # the token T the position is long or short
    size: int  # notional in lovelace: the collateral's value once the position is open
    leverage: Decimal  # > 1
    holding_days: Decimal = Decimal(30)
    #: ADA per whole token T; needed to size a short's debt in tokens.
    price_ada_per_token: Decimal | None = None
    swap_cost: Decimal = Decimal("0.003")  # fraction lost per swap (DexHunter's estimate)
    batcher_txs: int = 2  # batcher-processed transactions per flow (open and close)
    swap_legs: int = 2  # how often the debt's value is swapped (open, and back to repay)

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise QuoteError(f"side must be long or short, got {self.side!r}")
        if self.asset.asset.is_ada:
            raise QuoteError("the position's asset must be a token other than ADA")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size <= 0:
            raise QuoteError(f"size must be a positive number of lovelace, got {self.size!r}")
        for name in ("leverage", "holding_days", "swap_cost"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite():
                raise QuoteError(f"{name} must be a finite Decimal, got {value!r}")
        if self.leverage <= 1:
            raise QuoteError(f"leverage must be above 1, got {self.leverage}")
        if self.holding_days < 0:
            raise QuoteError(f"holding days must not be negative, got {self.holding_days}")
        if not 0 <= self.swap_cost < 1:
            raise QuoteError(f"swap cost must be a fraction in [0, 1), got {self.swap_cost}")
        for name in ("batcher_txs", "swap_legs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise QuoteError(f"{name} must be a non-negative integer, got {value!r}")
        price = self.price_ada_per_token
        if price is not None and (not isinstance(price, Decimal) or not price.is_finite()
                                  or price <= 0):
            raise QuoteError(f"the price must be a positive Decimal, got {price!r}")
        if self.side == "short" and price is None:
            raise QuoteError("a short needs the token's price in ADA to size its debt")

    @property
    def required_ltv(self) -> Fraction:
        """debt / collateral value the position needs: (L−1)/L, exact."""
        lev = Fraction(self.leverage)
        return (lev - 1) / lev

    @property
    def debt_lovelace(self) -> Decimal:
        return _CONTEXT.divide(_CONTEXT.multiply(Decimal(self.size), self.leverage - 1),
                               self.leverage)

    @property
    def borrow_token(self) -> Token:
        return ADA_TOKEN if self.side == "long" else self.asset

    @property
    def collateral_token(self) -> Token:
        return self.asset if self.side == "long" else ADA_TOKEN

    def debt_base_units(self) -> int:
        """The debt in base units of the borrowed asset, rounded up (never short)."""
        if self.side == "long":
            return int(self.debt_lovelace.to_integral_value(ROUND_CEILING))
        assert self.price_ada_per_token is not None
        tokens = _CONTEXT.divide(self.debt_lovelace,
                                 _CONTEXT.multiply(LOVELACE_PER_ADA, self.price_ada_per_token))
        return int(tokens.scaleb(self.asset.decimals, _CONTEXT).to_integral_value(ROUND_CEILING))


@dataclass(frozen=True)
class Reason:
    """Why a market was rejected: a stable code for programs, a sentence for people."""

    code: str  # pair, ltv, liquidity, min_size, status, stale
    text: str


@dataclass(frozen=True)
class CostBreakdown:
    """Effective cost over the holding time, in lovelace (exact Decimals)."""

    debt_lovelace: Decimal
    interest: Decimal
    origination: Decimal
    batcher: Decimal
    swap: Decimal

    @property
    def total(self) -> Decimal:
        return _CONTEXT.add(_CONTEXT.add(self.interest, self.origination),
                            _CONTEXT.add(self.batcher, self.swap))


@dataclass(frozen=True)
class Candidate:
    market: Market
    eligible: bool
    chosen: bool
    rank: int  # 1 = best; every market has one
    cost: CostBreakdown | None  # None when the market does not serve this pair at all
    debt: int | None  # base units of the borrowed asset
    collateral: CollateralOption | None
    max_leverage: Decimal | None  # what the collateral's max LTV allows (None: unbounded)
    reasons: tuple[Reason, ...] = ()  # every reason it was rejected
    notes: tuple[str, ...] = ()

    @property
    def venue(self) -> str:
        return self.market.venue

    @property
    def market_id(self) -> str:
        return self.market.market_id


@dataclass(frozen=True)
class Ranking:
    request: QuoteRequest
    candidates: tuple[Candidate, ...]  # best first
    now_ms: int
    max_age_s: float
    notes: tuple[str, ...] = field(default=())

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.chosen), None)

    @property
    def eligible(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.eligible)


# --- ranking -------------------------------------------------------------------------

def rank_venues(markets: Sequence[Market], request: QuoteRequest, *, now_ms: int,
                max_age_s: float) -> Ranking:
    """Every market, eligible ones first by effective cost (ties: venue, market id), the
    cheapest chosen; rejected ones after, each with every reason."""
    assessed = [_assess(m, request, now_ms, max_age_s) for m in markets]
    eligible = sorted((a for a in assessed if a.eligible), key=_cost_key)
    rejected = sorted((a for a in assessed if not a.eligible), key=_rejected_key)
    ranked: list[Candidate] = []
    best = eligible[0] if eligible else None
    for position, candidate in enumerate([*eligible, *rejected], start=1):
        notes = list(candidate.notes)
        chosen = candidate is best
        if chosen:
            notes.insert(0, f"lowest effective cost of {len(eligible)} eligible market(s)")
        elif candidate.eligible and best is not None and best.cost and candidate.cost:
            more = _CONTEXT.subtract(candidate.cost.total, best.cost.total)
            notes.insert(0, f"eligible; costs {_ada(more)} ADA more than "
                            f"{best.venue}/{best.market_id}")
        ranked.append(_replace(candidate, chosen=chosen, rank=position, notes=tuple(notes)))
    summary = () if eligible else ("no market is eligible for this position",)
    return Ranking(request, tuple(ranked), now_ms, max_age_s, summary)


def _cost_key(c: Candidate) -> tuple[Decimal, str, str]:
    assert c.cost is not None
    return (c.cost.total, c.venue, c.market_id)


def _rejected_key(c: Candidate) -> tuple[int, Decimal, int, str, str]:
    # Markets that serve the pair before those that do not; then cheaper, fewer reasons.
    total = c.cost.total if c.cost is not None else Decimal(0)
    return (0 if c.cost is not None else 1, total, len(c.reasons), c.venue, c.market_id)


def _replace(c: Candidate, **changes: Any) -> Candidate:
    from dataclasses import replace

    return replace(c, **changes)


def _assess(market: Market, request: QuoteRequest, now_ms: int, max_age_s: float) -> Candidate:
    reasons: list[Reason] = []
    notes: list[str] = []
    borrow, wanted = request.borrow_token, request.collateral_token
    serves_pair = market.borrow.asset == borrow.asset
    option = market.collateral_for(wanted.asset) if serves_pair else None
    if not serves_pair:
        reasons.append(Reason("pair", f"lends {_name(market.borrow)}, not {_name(borrow)}"))
    elif option is None and not market.collaterals:
        reasons.append(Reason("pair", "its collateral options are not known (the venue's "
                                      "markets gave none): it cannot be planned"))
    elif option is None:
        taken = ", ".join(_name(o.token) for o in market.collaterals)
        reasons.append(Reason("pair", f"does not take {_name(wanted)} as collateral "
                                      f"(takes {taken})"))
    stale_reason = _stale(market, now_ms, max_age_s)
    status = market.status.reasons()
    if status:
        reasons.append(Reason("status", "not usable now: " + ", ".join(status)))
    if stale_reason:
        reasons.append(stale_reason)
    if option is None:
        return Candidate(market, False, False, 0, None, None, None, None, tuple(reasons))

    debt = request.debt_base_units()
    required = request.required_ltv
    max_ltv = Fraction(option.max_ltv)
    max_leverage = (None if max_ltv >= 1
                    else _CONTEXT.divide(Decimal(1), Decimal(1) - option.max_ltv))
    if max_ltv < required:
        need = _decimal(required)
        # Rounded so as never to overstate what the market allows.
        allowed = _fixed(max_leverage, 4, decimal.ROUND_DOWN)
        short_by = _fixed(_CONTEXT.subtract(need, option.max_ltv), 6, decimal.ROUND_UP)
        reasons.append(Reason("ltv", f"max LTV {option.max_ltv} of {_name(wanted)} allows at "
                                     f"most {allowed}x; {request.leverage}x needs LTV "
                                     f"{_fixed(need, 6, decimal.ROUND_UP)} (short by "
                                     f"{short_by})"))
    decimals = market.borrow.decimals
    if market.available_liquidity < debt:
        reasons.append(Reason("liquidity", f"available liquidity "
                                           f"{_amount(market.available_liquidity, decimals)} "
                                           f"{_name(market.borrow)} < debt "
                                           f"{_amount(debt, decimals)}"))
    if market.min_size is not None and debt < market.min_size:
        reasons.append(Reason("min_size", f"debt {_amount(debt, decimals)} "
                                          f"{_name(market.borrow)} is below the market's "
                                          f"minimum {_amount(market.min_size, decimals)}"))
    cost = _cost(market, request)
    if market.rate_fixed_at_open:
        notes.append(f"borrow APR {market.borrow_apr} is fixed when the loan opens")
    if not market.partial_repay:
        notes.append("repays only in full")
    notes.extend(f"also charges: {other}" for other in market.fees.other)
    return Candidate(market, not reasons, False, 0, cost, debt, option, max_leverage,
                     tuple(reasons), tuple(notes))


def _cost(market: Market, request: QuoteRequest) -> CostBreakdown:
    c = _CONTEXT
    debt = request.debt_lovelace
    interest = c.divide(c.multiply(c.multiply(debt, market.borrow_apr), request.holding_days),
                        DAYS_PER_YEAR)
    origination = c.multiply(debt, market.fees.origination)
    batcher = Decimal(market.fees.batcher_lovelace * request.batcher_txs)
    swap = c.multiply(c.multiply(debt, request.swap_cost), Decimal(request.swap_legs))
    return CostBreakdown(debt, interest, origination, batcher, swap)


def _stale(market: Market, now_ms: int, max_age_s: float) -> Reason | None:
    if not market.stale(now_ms, max_age_s):
        return None
    age = market.provenance.age_s(now_ms)
    return Reason("stale", f"stale: its {market.provenance.source} figures are {age:.0f} s old "
                           f"(limit {max_age_s:.0f} s)")


# --- rendering (for people and JSON lines) --------------------------------------------

def _name(token: Token) -> str:
    return token.ticker or token.asset.unit


def _decimal(value: Fraction) -> Decimal:
    return _CONTEXT.divide(Decimal(value.numerator), Decimal(value.denominator))


def _fixed(value: Decimal | None, places: int, rounding: str = decimal.ROUND_HALF_EVEN) -> str:
    if value is None:
        return "unbounded"
    return _plain(value.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=_CONTEXT))


def _plain(value: Decimal) -> str:
    """Without an exponent and without trailing zeros: 1500, 0.75, 3.333."""
    return format(value.normalize(_CONTEXT), "f")


def _amount(base: int, decimals: int) -> str:
    return _plain(to_display(base, decimals))


def _ada(lovelace: Decimal) -> str:
    return str(_CONTEXT.divide(lovelace, LOVELACE_PER_ADA).quantize(Decimal("0.000001"),
                                                                      context=_CONTEXT))


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    """One line of `dhl venues quote --json`: Decimals as strings, integers as integers."""
    cost = candidate.cost
    option = candidate.collateral
    return {
        "rank": candidate.rank, "venue": candidate.venue, "market": candidate.market_id,
        "chosen": candidate.chosen, "eligible": candidate.eligible,
        "borrow": candidate.market.borrow.asset.unit,
        "collateral": None if option is None else option.token.asset.unit,
        "max_ltv": None if option is None else str(option.max_ltv),
        "max_leverage": None if candidate.max_leverage is None
        else _fixed(candidate.max_leverage, 6),
        "borrow_apr": str(candidate.market.borrow_apr),
        "debt": candidate.debt,
        "cost_lovelace": None if cost is None else {
            "interest": _fixed(cost.interest, 6), "origination": _fixed(cost.origination, 6),
            "batcher": _fixed(cost.batcher, 6), "swap": _fixed(cost.swap, 6),
            "total": _fixed(cost.total, 6)},
        "reasons": [{"code": r.code, "text": r.text} for r in candidate.reasons],
        "notes": list(candidate.notes),
        "source": candidate.market.provenance.source,
        "as_of_ms": candidate.market.provenance.as_of_ms,
    }
