"""Setting a position's guards and acting on them: the tick, the health refresh, one
fired trigger's execution and a kill switch's exit — trading/guards.py (the rules, their
versions and triggers) over store/guards.py (kept and indexed), store/kill_switches.py,
tasks/guard_prices.py (prices, their age) and tasks/alerts.py. docs/guards.md says what
each does; tasks/guard_moves.py moves loans where they are cheaper."""
from __future__ import annotations

import logging
import os
from decimal import Decimal
from typing import Any, Callable, Mapping

from core.decimals import significant_text
from store import guards as store
from store import kill_switches
from store import positions as positions_store
from store.mongo import Database
from tasks.alerts import Alert
from tasks.guard_prices import LIVE_PREFIX, NoPrice, Notify, fresh_price, guard_market, \
    refresh_prices, stale_alert
from tasks.position_orders import Desk, OrderError, add_collateral, close_position, \
    collateral_to_reach, deleverage_position, oracle_mark, position_health
from trading.guards import HEALTH_KINDS, GuardError, GuardRules, canonical, crossed, fired, health_price, \
    mark_spans, moved_trail, price_key, price_triggers, tick_spans, trigger_at, trigger_docs, \
    rules_from, version_of
from trading.position_codec import position_from_dict
from trading.positions import TERMINAL

log = logging.getLogger(__name__)

#: Position states with nothing left to guard.
FINISHED = frozenset(state.value for state in TERMINAL)
Enqueue = Callable[[str], None]


user_of = positions_store.user_of  # whose position it is


# --- setting guards ---------------------------------------------------------------------------

def set_guards(db: Database, position_id: str, market: str, side: str, rules: GuardRules,
               now_ms: int, price_now: Decimal | None = None,
               liquidation: Decimal | None = None) -> str:
    """Make `rules` the position's guards; returns the version id (the same rules set
    again: the same version, nothing changed — a trailing stop keeps its mark).
    `price_now`: a trailing stop's first mark; `liquidation`: where the health triggers go."""
    version = version_of(position_id, rules)
    store.set_rules(db, position_id, version,
                    {"market": market, "side": side, "rules": canonical(rules)},
                    trigger_docs(market, side, rules, price_now, liquidation), now_ms)
    return version


def rules_of(fields: Mapping[str, Any]) -> GuardRules:
    """Rules from plain fields (the API's JSON: decimals as strings, `take_profit` a list
    of {price, fraction}); OrderError naming the field when they cannot be."""
    try:
        return rules_from({**fields, "take_profit": [
            {"price": r["price"], "fraction": r.get("fraction", "1")}
            for r in fields.get("take_profit") or ()]})
    except (GuardError, ArithmeticError, KeyError, TypeError) as error:
        raise OrderError(f"guards: {error}") from None


def apply_guards(desk: Desk, position_id: str, rules: GuardRules) -> dict[str, Any]:
    """The command line's (and the API's) guards: checked against the position and the
    price now, then set as a new version. OrderError: why nothing was set."""
    doc = positions_store.read(desk.db, position_id)
    if doc is None:
        raise OrderError(f"no position {position_id}")
    if doc.get("state") not in ("open", "closing") and not doc.get("pending"):
        raise OrderError(f"position {position_id} is {doc.get('state')}: nothing to guard")
    position = position_from_dict(doc)
    market = guard_market(doc)
    if market.startswith(LIVE_PREFIX):
        refresh_prices(desk, [market])  # the price the rules are checked against: now
    try:
        price, _, _ = fresh_price(desk, market, desk.now_ms())
    except NoPrice as error:
        raise OrderError(f"no price for the position's token now: {error}") from None
    whole_only = bool(doc["order"].get("loan_per_borrow"))  # Surf: each loan repaid whole
    if whole_only and any(rung.fraction < 1 for rung in rules.take_profit):
        raise OrderError(f"--take-profit: {position.venue} repays each loan only in full: a "
                         f"rung closes all of the position (no :FRACTION)")
    if whole_only and rules.deleverage_below is not None:
        raise OrderError(f"--deleverage-below: {position.venue} repays each loan only in full, "
                         f"so nothing can be deleveraged; use --alert-below (or a stop-loss)")
    if whole_only and rules.margin_call_below is not None:
        raise OrderError(f"--margin-call-below: {position.venue} keeps each loan's collateral "
                         f"with it, so none can be added; use --alert-below (or a stop-loss)")
    for trigger in price_triggers(position.side.value, rules):
        if crossed(trigger.direction, trigger.price, price):
            raise OrderError(f"--{trigger.kind.replace('_', '-')} {trigger.price}: the price is "
                             f"{price} now, so it would fire at once; not set")
    health_now, liquidation = position_health(desk, doc, price)
    version = set_guards(desk.db, position_id, market, position.side.value, rules,
                         desk.now_ms(), price, liquidation)
    triggers = [{k: t.get(k) for k in ("kind", "direction", "price", "fraction", "health")
                 if t.get(k) is not None}
                | {"name": str(t["_id"]).rsplit(":", 1)[-1]}
                for t in store.current_triggers(desk.db, position_id)]
    return {"ok": True, "position": position_id, "version": version, "price_now": str(price),
            "health_now": significant_text(health_now),
            "liquidation_price": significant_text(liquidation),
            "triggers": sorted(triggers, key=lambda t: str(t["name"]))}


def arm_on_open(desk: Desk, position_id: str, notify: Notify) -> str | None:
    """An order's guards set once its position is open (checked against the price then:
    a stop the price already crossed is refused, and the trader alerted). Applying twice
    makes the same version, so a worker that dies before noting it does no harm; once
    noted, a later change of guards is never undone. What came of them, or None."""
    doc = positions_store.read(desk.db, position_id)
    if doc is None or doc.get("order_guards") != positions_store.GUARDS_TO_ARM \
            or doc.get("state") != "open":
        return None
    try:
        outcome = "armed " + str(apply_guards(desk, position_id,
                                              rules_of(doc["guards_on_open"]))["version"])
    except OrderError as error:
        outcome = f"refused: {error}"
    if positions_store.note_order_guards(desk.db, position_id, outcome) \
            and outcome.startswith("refused"):
        notify(Alert(f"{position_id}:order-guards", str(positions_store.user_of(doc)),
                     "guard", "warning", f"{position_id} is open, but the guards of its "
                     f"order were not set: {outcome[len('refused: '):]}", desk.now_ms(),
                     position_id))
    return outcome


# --- a tick ----------------------------------------------------------------------------------

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


def tick(desk: Desk, execute: Callable[[str], None], notify: Notify,
         exit_position: Callable[[str, int], None] | None = None) -> int:
    """The kill switches swept (`exit_position(id, since_ms)` per open position they
    cover), then every guarded market's price now: trailing marks moved, and
    `execute(trigger id)` for each trigger it fires (a duplicate fire is harmless: the
    execution re-checks and claims). A market whose price is older than
    PRICE_MAX_AGE_SECONDS fires nothing and raises an alert. Returns how many fired."""
    now = desk.now_ms()
    if exit_position is not None:
        for position_id, since in covered_open_positions(desk.db):
            exit_position(position_id, since)
    bound_s = desk.settings.price_max_age_seconds
    count = 0
    stale: list[str] = []
    for market in store.markets(desk.db):
        try:
            price, source, age = fresh_price(desk, market, now)
        except NoPrice as error:
            log.info("guards: no price for %s now (%s): its triggers wait", market, error)
            continue
        if age > bound_s * 1000:
            stale.append(market)
            notify(stale_alert(market, source, age, now - age, now, bound_s))
            continue
        move_marks(desk.db, market, price)
        for fired_one in fired_triggers(desk.db, market, price):
            execute(str(fired_one["_id"]))
            count += 1
    store.note_run(desk.db, "tick", now, {"fired": count, "stale_markets": stale})
    return count


def covered_open_positions(db: Database) -> list[tuple[str, int]]:
    """(position, switch-on time) of every open position a kill switch that is on covers."""
    switches = kill_switches.switches_on(db)
    if not switches:
        return []
    found = []
    for doc in positions_store.find_by_state(db, ["open"]):
        switch = switches.get(kill_switches.GLOBAL) or \
            switches.get(kill_switches.scope_of(user_of(doc)))
        if switch is not None:
            found.append((str(doc["_id"]), int(switch["since_ms"])))
    return found


# --- health triggers: re-priced as books move ------------------------------------------------

def refresh_health(desk: Desk) -> int:
    """Every health trigger re-priced from its position's book now (debt grown to now,
    collateral and debt moved by confirmed legs), and re-armed — its execution's claim
    released — where the health is back above its level, so the next fall alerts or
    deleverages again. Returns how many moved."""
    moved = 0
    now = desk.now_ms()
    docs: dict[str, dict[str, Any] | None] = {}
    for trigger in store.by_kinds(desk.db, HEALTH_KINDS):
        position_id = str(trigger["position"])
        if position_id not in docs:
            docs[position_id] = positions_store.read(desk.db, position_id)
        doc = docs[position_id]
        if doc is None or doc.get("state") != "open":
            continue
        try:
            price, _, _ = fresh_price(desk, str(trigger["market"]), now)
        except NoPrice:
            continue
        health_now, liquidation = position_health(desk, doc, price)
        if reprice_health(desk.db, trigger, liquidation):
            moved += 1
        if health_now is not None and health_now >= Decimal(str(trigger["health"])):
            store.release_execution(desk.db, str(trigger["_id"]))
    store.note_run(desk.db, "health", now, {"repriced": moved})
    return moved


def reprice_health(db: Database, trigger: Mapping[str, Any], liquidation: Decimal | None) -> bool:
    if liquidation is None:
        return False
    side = "long" if trigger["direction"] == "down" else "short"
    price = health_price(side, liquidation, Decimal(str(trigger["health"])))
    if str(price) == str(trigger["price"]):
        return False
    return store.reprice(db, str(trigger["_id"]), {
        "price": str(price), "at": trigger_at(str(trigger["market"]), trigger["direction"],
                                              price_key(price))})


# --- one fired trigger's execution ----------------------------------------------------------

def execute_trigger(desk: Desk, trigger_id: str, enqueue: Enqueue, notify: Notify) -> str:
    """One fired trigger, re-checked now — still the position's current guards, the
    position open, no kill switch on it, a fresh price, the trigger still across (a
    health trigger: the health itself below its level) — then claimed once for good and
    acted on, the action's event saying which rule of which version fired, at what
    price and health. Returns what happened."""
    found = store.trigger(desk.db, trigger_id)
    if found is None:
        return "stale: not the position's current guards"
    position_id = str(found["position"])
    doc = positions_store.read(desk.db, position_id)
    if doc is None or doc.get("state") in FINISHED:
        store.clear(desk.db, position_id)
        return f"position {position_id} is {doc.get('state') if doc else 'gone'}: guards cleared"
    if doc.get("state") != "open":
        return f"position {position_id} is {doc.get('state')}: the trigger waits"
    switch = kill_switches.covering(desk.db, user_of(doc))
    if switch is not None:
        return f"kill switch {switch['_id']} is on: no automatic action but its exit"
    now = desk.now_ms()
    try:
        price, source, age = fresh_price(desk, str(found["market"]), now)
    except NoPrice as error:
        return f"no price now ({error}): the trigger waits"
    if age > desk.settings.price_max_age_seconds * 1000:
        return f"the {source} price is {age // 1000} s old: no automatic action on it"
    trigger_price = Decimal(str(found["price"]))
    seen = {"kind": found["kind"], "rung": found["rung"], "price": str(price),
            "source": source, "price_age_ms": age, "trigger_price": str(trigger_price),
            "at_ms": now}
    if found["kind"] in HEALTH_KINDS:
        return _execute_health(desk, found, doc, price, seen, enqueue, notify)
    if not crossed(found["direction"], trigger_price, price):
        return f"not crossed any more: {price} against {trigger_price}"
    health_now, _ = position_health(desk, doc, price)
    seen["health_before"] = significant_text(health_now)
    if not store.claim_execution(desk.db, found, seen, now):
        return "executed before"
    _test_exit(desk, str(found["_id"]))
    fraction = Decimal(str(found["fraction"])) if found["kind"] == "take_profit" \
        else Decimal(1)  # a stop, fixed or trailing: all of it
    reason = (f"{found['kind'].replace('_', '-')} of guards version {found['version']}: the "
              f"paper price {price} ({source}) crossed {trigger_price}"
              f"{_health_text(health_now)}")
    return _close(desk, found, position_id, fraction, reason, enqueue)


def _test_exit(desk: Desk, execution_id: str) -> None:
    """Tests: die right after a first claim (not a takeover), before acting, as a kill
    would."""
    if desk.settings.test_exit_after_guard_claim:
        claim = store.execution(desk.db, execution_id)
        if claim is not None and "taken_over_ms" not in claim:
            log.warning("TEST_EXIT_AFTER_GUARD_CLAIM: exiting after claiming %s", execution_id)
            logging.shutdown()
            os._exit(72)


def _health_text(health_now: Decimal | None) -> str:
    return "" if health_now is None else f"; health {health_now:.4f}"


def _close(desk: Desk, found: Mapping[str, Any], position_id: str, fraction: Decimal,
           reason: str, enqueue: Enqueue) -> str:
    trigger_id = str(found["_id"])
    try:
        answer = close_position(desk, position_id, fraction, enqueue, reason=reason)
    except OrderError as error:
        store.release_execution(desk.db, trigger_id)
        return f"not closed now: {error}"
    if not answer.get("ok"):
        store.release_execution(desk.db, trigger_id)
        return f"the close was refused: {answer}"
    store.mark_acted(desk.db, trigger_id, desk.now_ms())
    store.note_execution(desk.db, trigger_id, {
        "health_after_expected": answer.get("health_after"),
        "returned_lovelace_expected": answer.get("returned_lovelace")})
    if fraction == 1:
        store.clear(desk.db, position_id)
    return f"closing {fraction} of {position_id}: {reason}"


def _execute_health(desk: Desk, found: Mapping[str, Any], doc: Mapping[str, Any],
                    price: Decimal, seen: dict[str, Any], enqueue: Enqueue,
                    notify: Notify) -> str:
    """A health trigger: acts only on the health itself, computed now from the book
    (the trigger's price is where it was expected to cross; a moved book re-prices it)."""
    position_id = str(found["position"])
    level = Decimal(str(found["health"]))
    oracle = oracle_mark(desk, doc)
    if oracle is not None:  # the venue judges health by its own oracle: so do we
        price, source, as_of = oracle
        age = max(0, int(seen["at_ms"]) - as_of)
        seen.update(health_price=str(price), health_source=source, health_price_age_ms=age)
        if age > desk.settings.price_max_age_seconds * 1000:
            return f"the venue's oracle price ({source}) is {age // 1000} s old: no action"
    health_now, liquidation = position_health(desk, doc, price)
    if health_now is None or health_now >= level:
        reprice_health(desk.db, found, liquidation)
        return f"health {health_now} is not below {level}: the trigger is re-priced"
    seen.update(health_before=significant_text(health_now), health_level=str(level),
                liquidation_price=significant_text(liquidation))
    if not store.claim_execution(desk.db, found, seen, int(seen["at_ms"])):
        return "executed before"
    _test_exit(desk, str(found["_id"]))
    version = found["version"]
    what = (f"health {health_now:.4f} below {level} (guards version {version}) at the "
            f"{'oracle' if oracle else 'paper'} price {price} "
            f"({seen.get('health_source', seen['source'])}); liquidation at "
            f"{significant_text(liquidation) or 'none'}")
    if found["kind"] == "health_alert":
        notify(Alert(f"{found['_id']}:{seen['at_ms']}", user_of(doc), "health", "warning",
                     f"position {position_id}: {what}", int(seen["at_ms"]), position_id,
                     seen))
        store.mark_acted(desk.db, str(found["_id"]), int(seen["at_ms"]))
        return f"alerted: {what}"
    target = Decimal(str(found["target"]))
    if found["kind"] == "margin_call":
        return _margin_call(desk, found, doc, price, target, what, seen, enqueue, notify)
    reason = f"auto-deleverage to health {target}: {what}"
    try:
        answer = deleverage_position(desk, position_id, target, enqueue, reason)
    except OrderError as error:
        answer = {"ok": False, "reasons": [{"code": "not_now", "text": str(error)}]}
    store.mark_acted(desk.db, str(found["_id"]), desk.now_ms())
    if answer.get("ok"):
        facts = {**seen, "health_after_expected": answer.get("health_after")}
        store.note_execution(desk.db, str(found["_id"]), facts)
        return f"deleveraging {position_id}: {reason}; expected after {facts['health_after_expected']}"
    why = "; ".join(str(r.get("text")) for r in answer.get("reasons") or []) or str(answer)
    notify(Alert(f"{found['_id']}:{seen['at_ms']}", user_of(doc), "health", "critical",
                 f"position {position_id}: {what}; could not deleverage: {why}",
                 int(seen["at_ms"]), position_id, {**seen, "refused": why}))
    return f"could not deleverage {position_id} ({why}): alerted"


def _margin_call(desk: Desk, found: Mapping[str, Any], doc: Mapping[str, Any], price: Decimal,
                 target: Decimal, what: str, seen: dict[str, Any], enqueue: Enqueue,
                 notify: Notify) -> str:
    """Add the collateral that brings the health to `target` (from the wallet); where it
    cannot be added (Surf keeps each loan's collateral with it, nothing to add at this
    price), alert the user to act before liquidation."""
    position_id = str(found["position"])
    at_ms = int(seen["at_ms"])
    try:
        amount = collateral_to_reach(desk, doc, price, target)
        answer = add_collateral(desk, position_id, amount, enqueue)
    except OrderError as error:
        answer = {"ok": False, "error": str(error)}
    store.mark_acted(desk.db, str(found["_id"]), desk.now_ms())
    if answer.get("ok"):
        facts = {**seen, "added": str(amount), "health_after_expected": str(target)}
        store.note_execution(desk.db, str(found["_id"]), facts)
        notify(Alert(f"{found['_id']}:{at_ms}", user_of(doc), "margin_call", "warning",
                     f"position {position_id}: margin call: adding {amount} base units of "
                     f"{answer.get('asset')} for health {target}; {what}", at_ms,
                     position_id, facts))
        return f"margin call on {position_id}: adding {amount} for health {target}"
    notify(Alert(f"{found['_id']}:{at_ms}", user_of(doc), "margin_call", "critical",
                 f"position {position_id}: margin call: {what}; could not add collateral "
                 f"({answer.get('error')}): add collateral or reduce the position before "
                 f"liquidation", at_ms, position_id, {**seen, "refused": answer.get("error")}))
    return f"margin call on {position_id} could not add collateral: alerted"


# --- a kill switch's emergency exit ---------------------------------------------------------

def exit_position(desk: Desk, position_id: str, since_ms: int, enqueue: Enqueue,
                  notify: Notify) -> str:
    """Close a position a kill switch covers, once per switch-on (claimed), whatever its
    guards; the close's event names the switch."""
    doc = positions_store.read(desk.db, position_id)
    if doc is None or doc.get("state") != "open":
        return f"position {position_id} is {doc.get('state') if doc else 'gone'}: no exit"
    switch = kill_switches.covering(desk.db, user_of(doc))
    if switch is None or int(switch["since_ms"]) != since_ms:
        return "the kill switch is off (or was turned on again since): no exit"
    now = desk.now_ms()
    facts = {"kind": "kill_switch", "switch": switch["_id"], "at_ms": now}
    if not store.claim_exit(desk.db, position_id, since_ms, facts):
        return "exited before"
    reason = f"emergency exit: kill switch {switch['_id']} on since {since_ms} ms"
    try:
        answer = close_position(desk, position_id, Decimal(1), enqueue, reason=reason)
    except OrderError as error:
        answer = {"ok": False, "error": str(error)}
    if not answer.get("ok"):
        store.release_execution(desk.db, f"{position_id}:kill-switch:{since_ms}")
        return f"not closed now: {answer}"
    store.clear(desk.db, position_id)
    notify(Alert(f"{position_id}:kill-switch:{since_ms}", user_of(doc), "kill_switch",
                 "critical", f"position {position_id} is being closed: {reason}", now,
                 position_id, facts))
    return f"closing {position_id}: {reason}"
