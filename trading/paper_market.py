"""The paper market: the price (ADA per whole token, Decimal) that paper fills use, and the
fill simulator. Pure: no I/O; the CSV is parsed from its text and the operator-set prices
are passed in (store/paper_prices.py keeps them).

A token's price at a time comes from, in this order:
- the CSV points of that token, if it has any: the last point at or before the time
  (step-wise), where an operator-set price at or after that point wins (from its time on,
  until a later CSV point or a later operator-set price);
- else the seeded geometric random walk, anchored at the last operator-set price at or
  before the time (the walk goes on from it), or at `Walk.start` at `Walk.origin_ms`.

The walk is deterministic for (seed, token): every step's shock is drawn from a blake2b
hash of (seed, token, step), never from Python's `hash()` (randomised per process) or a
float generator. It is built as a Brownian bridge over 2**LEVELS steps, so the value at any
step is reached in LEVELS hashes, without summing every step since the origin.

Tokens are named by their unit (policy id + asset name hex, lowercase); ADA has no price
here (it is the unit of account).
"""
from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import (MAX_EMAX, MIN_EMIN, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal,
                     DivisionByZero, InvalidOperation, Overflow)
from typing import Iterable, Literal, Mapping

#: One walk step per 20 s: a Cardano block on average, so a step is "the next block".
STEP_MS = 20_000
#: Where the walk starts without an operator-set price: 2026-01-01T00:00:00Z.
ORIGIN_MS = 1_767_225_600_000
#: The bridge spans 2**LEVELS steps centred on the origin (about 350,000 years of blocks).
LEVELS = 40
#: A per-step volatility above this is not a market but noise; settings refuse it.
MAX_VOLATILITY = Decimal("0.1")

# The walk's arithmetic: fixed here so it is the same whatever the caller's context, and
# with an exponent range wide enough that exp() of a very negative walk stays above zero.
_CTX = Context(prec=34, rounding=ROUND_HALF_EVEN, Emin=MIN_EMIN, Emax=MAX_EMAX,
               traps=[InvalidOperation, DivisionByZero, Overflow])
#: Significant digits of a price handed out.
PRICE_DIGITS = 20
_OUT = Context(prec=PRICE_DIGITS, rounding=ROUND_HALF_EVEN, Emin=MIN_EMIN, Emax=MAX_EMAX,
               traps=[InvalidOperation, DivisionByZero, Overflow])
_HALF_SPAN = 2 ** (LEVELS - 1)
_SPAN = 2 ** LEVELS
_UNIT = Decimal(2 ** 32)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = re.compile(r"-?[0-9]+")
#: Times (ms) are below this in size: year 33658, and far inside BSON's int64.
MAX_ABS_MS = 10 ** 15


class PaperMarketError(ValueError):
    """A price path or a fill that cannot be: a bad CSV row, a non-positive price, no price
    known at the time asked."""


@dataclass(frozen=True)
class PricePoint:
    at_ms: int
    price: Decimal  # ADA per whole token, > 0


@dataclass(frozen=True)
class Walk:
    seed: int
    volatility: Decimal  # standard deviation of the log-price per step
    start: Decimal = Decimal(1)
    origin_ms: int = ORIGIN_MS

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.volatility <= MAX_VOLATILITY:
            raise PaperMarketError(f"volatility per step must be in [0, {MAX_VOLATILITY}], "
                                   f"not {self.volatility}")
        check_price(self.start)


def check_price(price: Decimal) -> Decimal:
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0:
        raise PaperMarketError(f"a price must be a finite Decimal above 0, not {price!r}")
    return price


def _sorted_points(points: Iterable[PricePoint]) -> tuple[PricePoint, ...]:
    return tuple(sorted(points, key=lambda p: p.at_ms))


@dataclass(frozen=True)
class PaperMarket:
    """The whole path definition: `price_at` is a pure function of it."""
    walk: Walk
    csv: Mapping[str, tuple[PricePoint, ...]] = field(default_factory=dict)
    overrides: Mapping[str, tuple[PricePoint, ...]] = field(default_factory=dict)

    def with_overrides(self, overrides: Mapping[str, Iterable[PricePoint]]) -> PaperMarket:
        return PaperMarket(self.walk, self.csv,
                           {token.lower(): _sorted_points(points)
                            for token, points in overrides.items()})

    def source(self, token: str) -> str:
        return "csv" if self.csv.get(token.lower()) else "walk"

    def price_at(self, token: str, time_ms: int) -> Decimal:
        return self.priced(token, time_ms)[0]

    def priced(self, token: str, time_ms: int) -> tuple[Decimal, str]:
        """The price and what gave it: "set" (an operator-set price, held or walked from),
        "csv" or "walk"."""
        price, source, _ = self.priced_as_of(token, time_ms)
        return price, source

    def priced_as_of(self, token: str, time_ms: int) -> tuple[Decimal, str, int]:
        """`priced`, with the time the price is of: a CSV row's own time (a CSV that
        stopped gives an ever older price), `time_ms` for the walk and for an operator's
        set price (what the operator says the price is now)."""
        key = token.lower()
        if not key:
            raise PaperMarketError("ADA has no paper price: it is the unit of account")
        override = _last_at_or_before(self.overrides.get(key, ()), time_ms)
        points = self.csv.get(key, ())
        if points:
            point = _last_at_or_before(points, time_ms)
            if override is not None and (point is None or override.at_ms >= point.at_ms):
                return override.price, "set", time_ms
            if point is None:
                raise PaperMarketError(f"no price for {key} at {time_ms} ms: the CSV starts "
                                       f"at {points[0].at_ms} ms")
            return point.price, "csv", point.at_ms
        anchor = override or PricePoint(self.walk.origin_ms, self.walk.start)
        return (walk_price(self.walk, key, anchor, time_ms),
                "walk" if override is None else "set", time_ms)


def _last_at_or_before(points: tuple[PricePoint, ...], time_ms: int) -> PricePoint | None:
    index = bisect_right([p.at_ms for p in points], time_ms)
    return points[index - 1] if index else None


# --- the walk ------------------------------------------------------------------------------

def step_of(walk: Walk, time_ms: int) -> int:
    """The bridge index of the step `time_ms` falls in (clamped to the bridge's span)."""
    step = (time_ms - walk.origin_ms) // STEP_MS + _HALF_SPAN
    return min(max(step, 0), _SPAN)


def walk_price(walk: Walk, token: str, anchor: PricePoint, time_ms: int) -> Decimal:
    """anchor.price * exp(volatility * (B(t) - B(anchor))), B the token's standard walk."""
    if walk.volatility == 0:
        return _OUT.plus(anchor.price)
    here, there = step_of(walk, time_ms), step_of(walk, anchor.at_ms)
    if here == there:
        return _OUT.plus(anchor.price)
    moved = _CTX.subtract(bridge(walk.seed, token, here), bridge(walk.seed, token, there))
    return _OUT.multiply(anchor.price, _CTX.exp(_CTX.multiply(walk.volatility, moved)))


def shock(seed: int, token: str, low: int, high: int) -> Decimal:
    """An approximately standard normal draw for the bridge segment (low, high): the sum of
    12 uniforms less 6 (Irwin-Hall), the uniforms read from one blake2b digest."""
    digest = hashlib.blake2b(f"dhl-paper|{seed}|{token}|{low}|{high}".encode(),
                             digest_size=48).digest()
    total = sum(int.from_bytes(digest[i:i + 4], "big") for i in range(0, 48, 4))
    return _CTX.subtract(_CTX.divide(Decimal(total), _UNIT), 6)


def bridge(seed: int, token: str, step: int) -> Decimal:
    """The token's standard random walk (unit variance per step, 0 at step 0) at `step`,
    drawn top-down: the end from its own shock, each midpoint from its two ends."""
    low, high = 0, _SPAN
    at_low = Decimal(0)
    at_high = _CTX.multiply(_CTX.sqrt(Decimal(_SPAN)), shock(seed, token, -1, _SPAN))
    while True:
        if step == low:
            return at_low
        if step == high:
            return at_high
        mid = (low + high) // 2
        # A walk's midpoint given its ends: their mean, plus sd sqrt(span)/2.
        spread = _CTX.divide(_CTX.sqrt(Decimal(high - low)), 2)
        at_mid = _CTX.add(_CTX.divide(_CTX.add(at_low, at_high), 2),
                          _CTX.multiply(spread, shock(seed, token, low, high)))
        if step < mid:
            high, at_high = mid, at_mid
        else:
            low, at_low = mid, at_mid


# --- CSV of (token, time, price) ------------------------------------------------------------

def parse_time(text: str) -> int:
    """Milliseconds since the epoch from an integer of ms or an ISO 8601 time with a zone."""
    value = text.strip()
    if _MS.fullmatch(value):
        at = int(value)
        if abs(at) >= MAX_ABS_MS:
            raise PaperMarketError(f"a time in ms must be under {MAX_ABS_MS:.0e}: {value!r}")
        return at
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PaperMarketError(f"not a time (ms since the epoch or ISO 8601): {value!r}") \
            from None
    if when.tzinfo is None:
        raise PaperMarketError(f"an ISO time needs its zone (Z or +00:00): {value!r}")
    return (when - _EPOCH) // timedelta(milliseconds=1)


def parse_price(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise PaperMarketError(f"not a price: {text.strip()!r}") from None
    if not value.is_finite() or value <= 0:
        raise PaperMarketError(f"a price must be above 0: {text.strip()!r}")
    return value


def is_unit(text: str) -> bool:
    """A token unit: a 28-byte policy id and an asset name of up to 32 bytes, in hex."""
    value = text.strip().lower()
    return (56 <= len(value) <= 120 and len(value) % 2 == 0
            and all(c in "0123456789abcdef" for c in value))


def parse_price_csv(text: str) -> dict[str, tuple[PricePoint, ...]]:
    """Rows `token,time,price` (token: unit hex; time: ms or ISO 8601 with zone; price: ADA
    per whole token). Blank lines and `#` comments are skipped, and a first row
    `token,time,price` is a header. Any bad row refuses the whole file with its line number."""
    found: dict[str, dict[int, Decimal]] = {}
    seen_row = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(",")]
        if not seen_row and [c.lower() for c in cells] == ["token", "time", "price"]:
            seen_row = True
            continue
        seen_row = True
        try:
            if len(cells) != 3:
                raise PaperMarketError(f"expected 3 cells (token,time,price), got {len(cells)}")
            token, at_ms, price = cells[0].lower(), parse_time(cells[1]), parse_price(cells[2])
            if not is_unit(token):
                raise PaperMarketError(f"not a token unit (policy id + asset name hex): "
                                       f"{cells[0]!r}")
            if at_ms in found.setdefault(token, {}):
                raise PaperMarketError(f"a second price for {token[:16]}… at {at_ms} ms")
        except PaperMarketError as error:
            raise PaperMarketError(f"line {number}: {error}") from None
        found[token][at_ms] = price
    return {token: tuple(PricePoint(t, p) for t, p in sorted(points.items()))
            for token, points in found.items()}


# --- fills ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuoteFees:
    """The quote's costs that change what a fill pays: `lovelace` is every fixed fee paid
    in ADA (batcher, partner, DexHunter; not the deposit, which comes back), `pool_fee` the
    DEX's fee as a fraction of what goes in (0.003 = 0.3%)."""
    lovelace: int = 0
    pool_fee: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.lovelace < 0 or not Decimal(0) <= self.pool_fee < 1:
            raise PaperMarketError(f"bad quote fees: {self}")


Side = Literal["buy", "sell"]  # buy: ADA in, token out; sell: token in, ADA out
LOVELACE_PER_ADA = 10 ** 6


def paper_fill(side: Side, amount_in: int, price_at_execution: Decimal, quote_fees: QuoteFees,
               price_impact: Decimal, *, token_decimals: int) -> int:
    """What a swap of `amount_in` (base units: lovelace to buy, token units to sell) pays out
    (base units of the other side), filled at `price_at_execution` — the paper market's price
    at the block the order executes in, never the price that triggered it — less the pool
    fee and the quote's price impact (a fraction: 0.0065 for 0.65%), and less the fixed ADA
    fees (from the ADA going in on a buy, from the ADA coming out on a sell). Rounded down:
    a paper fill never pays more than the maths. Refuses a fill the fees eat whole."""
    check_price(price_at_execution)
    if amount_in <= 0:
        raise PaperMarketError(f"amount in must be above 0, not {amount_in}")
    if not Decimal(0) <= price_impact < 1:
        raise PaperMarketError(f"price impact must be a fraction in [0, 1), not {price_impact}")
    if token_decimals < 0:
        raise PaperMarketError(f"token decimals must be >= 0, not {token_decimals}")
    keep = _CTX.multiply(1 - quote_fees.pool_fee, 1 - price_impact)
    # lovelace per base unit of the token
    per_unit = _CTX.divide(_CTX.multiply(price_at_execution, LOVELACE_PER_ADA),
                           Decimal(10) ** token_decimals)
    if side == "buy":
        spend = amount_in - quote_fees.lovelace
        if spend <= 0:
            raise PaperMarketError(f"fees of {quote_fees.lovelace} lovelace take the whole "
                                   f"{amount_in} lovelace")
        out = _CTX.divide(_CTX.multiply(Decimal(spend), keep), per_unit)
    elif side == "sell":
        out = _CTX.subtract(_CTX.multiply(_CTX.multiply(Decimal(amount_in), per_unit), keep),
                            quote_fees.lovelace)
    else:
        raise PaperMarketError(f"side must be buy or sell, not {side!r}")
    paid = int(out.to_integral_value(rounding=ROUND_FLOOR))
    if paid <= 0:
        raise PaperMarketError(f"a {side} of {amount_in} pays nothing after fees and impact")
    return paid
