"""Setting a position's guards and finding what a price fires: trading/guards.py (the
rules, their versions and triggers) over store/guards.py (kept and indexed)."""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Callable, Mapping

from store import guards as store
from store import positions as positions_store
from store.mongo import Database
from tasks.position_orders import Desk, OrderError, close_position
from trading.guards import GuardRules, canonical, crossed, fired, mark_spans, moved_trail, \
    tick_spans, trigger_docs, version_of
from trading.paper_market import PaperMarketError
from trading.positions import TERMINAL

log = logging.getLogger(__name__)

#: Position states with nothing left to guard.
FINISHED = frozenset(state.value for state in TERMINAL)


def set_guards(db: Database, position_id: str, market: str, side: str, rules: GuardRules,
               now_ms: int, price_now: Decimal | None = None) -> str:
    """Make `rules` the position's guards; returns the version id (the same rules set
    again: the same version, nothing changed — a trailing stop keeps its mark).
    `price_now`: a trailing stop's first mark."""
    version = version_of(position_id, rules)
    store.set_rules(db, position_id, version,
                    {"market": market, "side": side, "rules": canonical(rules)},
                    trigger_docs(market, side, rules, price_now), now_ms)
    return version


def fired_triggers(db: Database, market: str, price: Decimal) -> list[Mapping[str, Any]]:
    """The current triggers of `market` that `price` fires, and no other."""
    return fired(store.candidates(db, tick_spans(market, price)), price)


def move_marks(db: Database, market: str, price: Decimal) -> int:
    """Trailing stops whose high-water mark (a short's low) `price` beats: the mark and
    the stop follow it, kept on the trigger. Reads only the marks the price may move."""
    moved = 0
    for doc in store.trails(db, mark_spans(market, price)):
        fields = moved_trail(doc, price)
        if fields is not None and store.move_trail(db, str(doc["_id"]), str(doc["mark_at"]),
                                                   fields):
            moved += 1
    return moved


# --- a tick, and one fired trigger's execution ------------------------------------------------

def tick(desk: Desk, execute: Callable[[str], None]) -> int:
    """Every market's paper price now against its triggers; `execute(trigger id)` for
    each one it fires (a duplicate fire is harmless: the execution re-checks and claims).
    Returns how many fired."""
    now = desk.now_ms()
    market_prices = desk.paper_market()
    count = 0
    for market in store.markets(desk.db):
        try:
            price, _ = market_prices.priced(market, now)
        except PaperMarketError as error:
            log.warning("guards: no price for %s now (%s): its triggers wait", market, error)
            continue
        move_marks(desk.db, market, price)
        for fired_one in fired_triggers(desk.db, market, price):
            execute(str(fired_one["_id"]))
            count += 1
    return count


def execute_trigger(desk: Desk, trigger_id: str, enqueue: Callable[[str], None]) -> str:
    """One fired trigger, re-checked now — still the position's current guards, the
    position open, the fresh price still across — then claimed once for good and acted
    on: the position (or the rung's fraction of it) closed, the close's event saying
    which rule of which version fired at what price. Returns what happened."""
    found = store.trigger(desk.db, trigger_id)
    if found is None:
        return "stale: not the position's current guards"
    position_id = str(found["position"])
    doc = positions_store.read(desk.db, position_id)
    if doc is None or doc.get("state") in FINISHED:
        store.clear(desk.db, position_id)
        return f"position {position_id} is {doc.get('state') if doc else 'gone'}: guards cleared"
    if doc.get("paper") is False:
        return "live positions' guards are not acted on yet (docs/guards.md)"
    if doc.get("state") != "open":
        return f"position {position_id} is {doc.get('state')}: the trigger waits"
    now = desk.now_ms()
    price, source = desk.paper_market().priced(str(found["market"]), now)
    trigger_price = Decimal(str(found["price"]))
    if not crossed(found["direction"], trigger_price, price):
        return f"not crossed any more: {price} against {trigger_price}"
    facts = {"kind": found["kind"], "rung": found["rung"], "price": str(price),
             "source": source, "trigger_price": str(trigger_price), "at_ms": now}
    if not store.claim_execution(desk.db, found, facts):
        return "executed before"
    fraction = Decimal(str(found["fraction"])) if found["kind"] == "take_profit" \
        else Decimal(1)  # a stop, fixed or trailing: all of it
    reason = (f"{found['kind'].replace('_', '-')} of guards version {found['version']}: the "
              f"paper price {price} ({source}) crossed {trigger_price}")
    try:
        answer = close_position(desk, position_id, fraction, enqueue, reason=reason)
    except OrderError as error:
        store.release_execution(desk.db, trigger_id)
        return f"not closed now: {error}"
    if not answer.get("ok"):
        store.release_execution(desk.db, trigger_id)
        return f"the close was refused: {answer}"
    if fraction == 1:
        store.clear(desk.db, position_id)
    return f"closing {fraction} of {position_id}: {reason}"
