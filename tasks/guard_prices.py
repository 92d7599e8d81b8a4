"""The prices the guards act on, with their source and age, and the watchdog that alerts
when what they depend on grows old (docs/guards.md).

A paper position's triggers sit in its token's paper market (priced now by the paper
market; a CSV row's own time makes it old). A live position's sit in the token's live
market, `live:<unit>`, priced by DexHunter's executable quote, which `guards.prices`
refreshes and keeps with its time: a quote that stops refreshing ages until the guards
stop acting on it.
"""
from __future__ import annotations

import logging
from decimal import Decimal, localcontext
from typing import Any, Callable, Mapping

from core.units import ADA, Asset
from execution.dex.reader import unreadable_dexes
from execution.errors import DexHunterRefused, NotEnoughLiquidity
from protocols.errors import MalformedResponse, VenueUnavailable
from store import guards as store
from store import venue_markets
from tasks.alerts import Alert
from tasks.live_push import push_state
from tasks.position_orders import LIVE_PRICE_PREFIX, Desk
from trading.paper_market import PaperMarketError
from trading.risk import CONTEXT

log = logging.getLogger(__name__)

#: Who a market-wide alert (a stale price) is for: the operators.
SYSTEM_USER = "system"

Notify = Callable[[Alert], bool]


#: Live positions' triggers sit in markets of their own: their price is DexHunter's.
LIVE_PREFIX = LIVE_PRICE_PREFIX
#: The buy DexHunter is asked to quote for a live market's price.
PRICE_PROBE_LOVELACE = 100_000_000


class NoPrice(Exception):
    """No price for a market now (no paper price; DexHunter not quoting)."""


def guard_market(doc: Mapping[str, Any]) -> str:
    """Where a position's triggers sit: its token's paper market, or for a live position
    the token's live market (priced by DexHunter's executable quote)."""
    token = str(doc["traded"])
    return f"{LIVE_PREFIX}{token}" if doc.get("paper") is False else token


def fresh_price(desk: Desk, market: str, now: int) -> tuple[Decimal, str, int]:
    """(price in ADA per whole token, source, age ms) of `market` now. A paper market's
    from the paper market (a CSV row's time makes it old); a live market's from
    DexHunter's quote now. NoPrice when there is none."""
    if market.startswith(LIVE_PREFIX):
        stored = store.price_of(desk.db, market)
        if stored is None:
            raise NoPrice(f"{market} has not been quoted yet (guards.prices)")
        return (Decimal(str(stored["price"])), str(stored["source"]),
                max(0, now - int(stored["as_of_ms"])))
    try:
        price, source, as_of = desk.paper_market().priced_as_of(market, now)
    except PaperMarketError as error:
        raise NoPrice(str(error)) from None
    return price, source, max(0, now - as_of)


def refresh_prices(desk: Desk, markets: list[str] | None = None) -> int:
    """Every guarded live market's price quoted by DexHunter now and kept with its time
    (the beat's `guards.prices`); a market DexHunter does not quote keeps its last price,
    which ages until the guards stop acting on it and alert. Returns how many were kept."""
    kept = 0
    for market in markets if markets is not None else store.markets(desk.db):
        if not market.startswith(LIVE_PREFIX):
            continue
        try:
            price = quoted_price(desk, market[len(LIVE_PREFIX):])
        except NoPrice as error:
            log.warning("guards: %s not priced now: %s", market, error)
            continue
        store.set_price(desk.db, market, str(price), "dexhunter quote", desk.now_ms())
        push_state(desk.settings, "prices", {"unit": market[len(LIVE_PREFIX):],
                                             "price": str(price), "source": "dexhunter quote",
                                             "at_ms": desk.now_ms()})
        kept += 1
    if markets is None:
        store.note_run(desk.db, "prices", desk.now_ms(), {"quoted": kept})
    return kept


def quoted_price(desk: Desk, token: str) -> Decimal:
    """The token's price in ADA from DexHunter's estimate of a PRICE_PROBE_LOVELACE buy:
    its routes' initial (pre-impact) prices, weighted by what each takes."""
    try:
        quote = desk.dexhunter.estimate(ADA, Asset.from_unit(token),
                                        PRICE_PROBE_LOVELACE,
                                        desk.settings.swap_slippage_percent,
                                        blacklisted_dexes=unreadable_dexes())
    except (NotEnoughLiquidity, DexHunterRefused, VenueUnavailable, MalformedResponse) as error:
        raise NoPrice(f"DexHunter does not quote {token} now: {error}") from None
    priced = [(split.initial_price, split.amount_in) for split in quote.splits
              if split.initial_price > 0 and split.amount_in > 0]
    if not priced:
        raise NoPrice(f"DexHunter's quote for {token} names no price")
    with localcontext(CONTEXT):
        return sum((p * a for p, a in priced), Decimal(0)) / sum(a for _, a in priced)


def stale_alert(market: str, source: str, age_ms: int, as_of_ms: int, now: int,
                bound_s: int) -> Alert:
    """One alert per stale price (its id names the price's time), for the operators."""
    return Alert(f"stale-price:{market}:{as_of_ms}", SYSTEM_USER, "stale_price", "critical",
                 f"the {source} price of {market} is {age_ms // 1000} s old (bound "
                 f"{bound_s} s): its guards take no automatic action until a fresh one",
                 now, facts={"market": market, "source": source, "age_ms": age_ms,
                             "as_of_ms": as_of_ms})


def watchdog(desk: Desk, notify: Notify, venues: list[str]) -> list[str]:
    """What the guards depend on, checked for age: every guarded market's price (older
    than PRICE_MAX_AGE_SECONDS: its guards are not acting) and every venue's market
    snapshot (older than MARKET_MAX_AGE_SECONDS: health and rates are old). Each stale
    item alerts the operators once per stale value. Returns what is stale."""
    now = desk.now_ms()
    stale: list[str] = []
    price_bound = desk.settings.price_max_age_seconds
    for market in store.markets(desk.db):
        try:
            _, source, age = fresh_price(desk, market, now)
        except NoPrice:
            continue  # nothing to act on, nothing aging: the tick logs it
        if age > price_bound * 1000:
            stale.append(f"price {market}")
            notify(stale_alert(market, source, age, now - age, now, price_bound))
    market_bound = desk.settings.market_max_age_seconds
    for venue, snapshot in venue_markets.read_all(desk.db, venues).items():
        age = max(0, now - snapshot.fetched_ms)
        if age > market_bound * 1000:
            stale.append(f"markets {venue}")
            notify(Alert(f"stale-markets:{venue}:{snapshot.fetched_ms}", SYSTEM_USER,
                         "stale_markets", "warning",
                         f"{venue}'s markets were fetched {age // 1000} s ago (bound "
                         f"{market_bound} s): health, rates and new orders use old figures",
                         now, facts={"venue": venue, "age_ms": age,
                                     "fetched_ms": snapshot.fetched_ms}))
    store.note_run(desk.db, "watchdog", now, {"stale": stale})
    return stale
