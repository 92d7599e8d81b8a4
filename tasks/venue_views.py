"""What the API shows of the venues (issue 12), over the same functions as `dhl venues`:
each venue and whether it is on, the current markets (stored API snapshots merged with
chain state), and a quote — every eligible market ranked by effective cost, the cheapest
chosen, the others with their reasons (trading/selection.py)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

from core.settings import Settings
from core.units import Asset, Token
from indexer.venue_state import off_reason
from protocols.market_codec import market_json
from protocols.model import Market
from tasks.positions import all_markets
from tasks.venues import venue_sources
from trading.selection import QuoteError, QuoteRequest, candidate_json, rank_venues


class QuoteAskError(ValueError):
    """A quote asked wrongly: the message names the field."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field, self.why = field, why


def venues(settings: Settings) -> list[dict[str, Any]]:
    found = []
    for name, source in sorted(venue_sources(settings).items()):
        reason = off_reason(settings, source)
        found.append({"venue": name, "enabled": reason is None, "reason": reason,
                      "experimental": source.experimental, "network": source.network.name})
    return found


def markets(settings: Settings, now: int) -> list[dict[str, Any]]:
    max_age = settings.market_max_age_seconds
    return [{**market_json(m), "stale": m.stale(now, max_age),
             "age_s": round(m.provenance.age_s(now), 3)} for m in all_markets(settings, now)]


def quote(settings: Settings, now: int, *, side: str, asset: str, size: int,
          leverage: Decimal, days: Decimal, price: Decimal | None) -> dict[str, Any]:
    """Every market for a position of `size` lovelace at `leverage`, ranked."""
    found = all_markets(settings, now)
    token = _token(asset, found)
    try:
        request = QuoteRequest(side, token, size, leverage, days, price)
    except QuoteError as error:
        raise QuoteAskError("request", str(error)) from None
    ranking = rank_venues(found, request, now_ms=now,
                          max_age_s=settings.market_max_age_seconds)
    chosen = ranking.chosen
    return {"chosen": None if chosen is None else f"{chosen.venue}/{chosen.market_id}",
            "notes": list(ranking.notes),
            "candidates": [candidate_json(c) for c in ranking.candidates]}


def _token(unit: str, found: Sequence[Market]) -> Token:
    try:
        asset = Asset.from_unit(unit)
    except ValueError as error:
        raise QuoteAskError("asset", str(error)) from None
    for market in found:
        for token in (market.borrow, *(o.token for o in market.collaterals)):
            if token.asset == asset:
                return Token(token.asset, token.decimals, token.ticker)
    raise QuoteAskError("asset", "no venue lends or takes this token")
