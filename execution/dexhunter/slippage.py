"""Slippage as DexHunter takes it, a percent (`2` is 2 %, not basis points), and how it
widens when a quote or build is retried because the pool moved (`pool_out_of_sync`).

The schedule is fixed and bounded: the requested slippage, then one `step` more per
retry, never above `cap`. A request above the cap is refused, not clipped: the caller asked
for more risk than the engine allows. DexHunter's `-1` ("infinite slippage") is refused
too. Pure.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

#: No swap of this engine accepts more than this, whatever is asked (percent).
HARD_CAP_PCT = Decimal(10)


class SlippageError(ValueError):
    """A slippage outside (0, cap]."""


@dataclass(frozen=True)
class Widening:
    step_pct: Decimal = Decimal("0.5")  # added per retry after pool_out_of_sync
    cap_pct: Decimal = Decimal(3)  # the most any retry may reach

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.step_pct:
            raise SlippageError(f"the widening step must not be negative, got {self.step_pct}")
        if not Decimal(0) < self.cap_pct <= HARD_CAP_PCT:
            raise SlippageError(f"the slippage cap must be in (0, {HARD_CAP_PCT}] %, "
                                f"got {self.cap_pct}")


def check_slippage(pct: Decimal, cap_pct: Decimal = HARD_CAP_PCT) -> Decimal:
    if not isinstance(pct, Decimal) or not pct.is_finite():
        raise SlippageError(f"slippage must be a finite Decimal percent, got {pct!r}")
    if not Decimal(0) < pct <= cap_pct:
        raise SlippageError(f"slippage {pct} % is outside (0, {cap_pct}] %")
    return pct


def widened(requested_pct: Decimal, retry: int, widening: Widening) -> Decimal:
    """The slippage of retry number `retry` (0: the first try): requested + retry × step,
    at most the cap."""
    check_slippage(requested_pct, widening.cap_pct)
    if retry < 0:
        raise ValueError(f"retry must be >= 0, got {retry}")
    return min(requested_pct + widening.step_pct * retry, widening.cap_pct)


def schedule(requested_pct: Decimal, tries: int, widening: Widening) -> tuple[Decimal, ...]:
    """The slippage of each of `tries` tries, in order."""
    return tuple(widened(requested_pct, i, widening) for i in range(tries))
