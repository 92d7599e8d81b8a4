"""The borrow-rate watch and the move of a loan where it is cheaper (docs/guards.md):
above its bound, an alert naming the cheaper markets and whether a move pays within
RATE_HORIZON_DAYS after its costs; asked to, the move itself — begun once, the position
closed here, reopened there once settled with what came back, its guards carried over.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Mapping

from core.units import ADA, Asset
from store import guards as store
from store import positions as positions_store
from tasks.alerts import Alert
from tasks.guard_prices import NoPrice, fresh_price, guard_market
from tasks.guard_rules import Enqueue, Notify, apply_guards, user_of
from tasks.position_orders import Desk, OrderError, book_of, close_position
from trading.guards import GuardError, rate_move, rules_from
from trading.position_codec import position_from_dict

log = logging.getLogger(__name__)


#: Days over which a cheaper rate must repay the cost of moving the loan.
RATE_HORIZON_DAYS = Decimal(30)


def watch_rates(desk: Desk, notify: Notify, enqueue: Enqueue | None = None) -> int:
    """Every position with a borrow-rate rule: its market's rate now against its bound;
    above it (once per rise: re-armed when the rate is back under), an alert naming the
    cheaper markets for the same loan and whether a move pays within RATE_HORIZON_DAYS
    after its costs (closing here, opening there). Returns how many alerted."""
    now = desk.now_ms()
    markets = list(desk.markets(now))
    alerted = 0
    for trigger in store.by_kinds(desk.db, ("borrow_rate",)):
        doc = positions_store.read(desk.db, str(trigger["position"]))
        if doc is None or doc.get("state") != "open":
            continue
        position = position_from_dict(doc)
        here = next((m for m in markets if m.venue == position.venue
                     and m.market_id == doc["order"].get("market_id")), None)
        if here is None:
            continue
        bound = Decimal(str(trigger["max_apr"]))
        if here.borrow_apr <= bound:
            store.release_execution(desk.db, str(trigger["_id"]))
            continue
        seen = {"kind": "borrow_rate", "apr": str(here.borrow_apr), "max_apr": str(bound),
                "at_ms": now}
        if not store.claim_execution(desk.db, trigger, seen, now):
            continue
        text, moves = _cheaper(desk, doc, here, markets, now)
        store.mark_acted(desk.db, str(trigger["_id"]), now)
        paying = [m for m in moves if m["pays"]]
        if trigger.get("move") == "yes" and paying and enqueue is not None:
            text += "; " + _begin_move(desk, doc, trigger, here, paying[0], enqueue)
        notify(Alert(f"{trigger['_id']}:{now}", user_of(doc), "borrow_rate", "warning",
                     f"position {position.position_id}: the borrow rate at {here.venue} is "
                     f"{here.borrow_apr} a year, above {bound}; {text}", now,
                     position.position_id, {**seen, "moves": moves}))
        alerted += 1
    return alerted


def _begin_move(desk: Desk, doc: Mapping[str, Any], trigger: Mapping[str, Any], here: Any,
                best: Mapping[str, Any], enqueue: Enqueue) -> str:
    """Move the loan where it is cheaper: recorded once (`guard_moves`), then the
    position closed here; `continue_moves` reopens it there once it is settled."""
    position_id = str(doc["_id"])
    if doc["order"].get("posted_asset") != ADA.unit:
        return "not moved: only a position posted in ADA is moved (its ADA reopens it)"
    reason = (f"moving to {best['venue']}/{best['market']}: the borrow rate {here.borrow_apr} "
              f"is above {trigger['max_apr']}; {best['apr']} there saves "
              f"{best['saving_lovelace']} lovelace in {RATE_HORIZON_DAYS} days for about "
              f"{best['cost_lovelace']} of costs (guards version {trigger['version']})")
    if not store.start_move(desk.db, position_id, {
            "to_venue": best["venue"], "to_market": best["market"],
            "version": trigger["version"], "reason": reason, "at_ms": desk.now_ms()}):
        return "a move was begun before"
    try:
        answer = close_position(desk, position_id, Decimal(1), enqueue, reason=reason)
    except OrderError as error:
        answer = {"ok": False, "error": str(error)}
    if not answer.get("ok"):
        store.drop_move(desk.db, position_id)
        return f"not moved now: {answer.get('error') or answer}"
    store.clear(desk.db, position_id)
    return f"closing it to move: {reason}"


def continue_moves(desk: Desk, enqueue: Enqueue, notify: Notify) -> int:
    """Moves whose close has settled: the position reopened at the cheaper venue with
    what came back (its id derived from the old one, so asking twice opens once), same
    side, token and leverage, its guards carried over. Returns how many moved on."""
    moved = 0
    for move in store.moves_in(desk.db, ("closing", "reopening")):
        old_id = str(move["_id"])
        doc = positions_store.read(desk.db, old_id)
        if doc is None:
            continue
        if move["state"] == "closing":
            back_open = doc.get("state") == "open" and not doc.get("pending") \
                and desk.now_ms() - int(move.get("at_ms", 0)) > 60_000  # its close undone
            if doc.get("state") in ("failed", "cancelled") or back_open:
                store.move_to(desk.db, old_id, "closing", "abandoned")
                notify(Alert(f"{old_id}:move:abandoned", user_of(doc), "move", "critical",
                             f"position {old_id}: its close to move failed "
                             f"({doc.get('state')}); it was not moved", desk.now_ms(),
                             old_id, {"move": dict(move)}))
                continue
            if doc.get("state") != "settled" or not store.move_to(desk.db, old_id, "closing",
                                                                  "reopening"):
                continue
        new_id = f"{old_id}-moved"  # an id the event keys accept ([A-Za-z0-9_:-])
        outcome = _reopen(desk, doc, move, new_id, enqueue)
        store.move_to(desk.db, old_id, "reopening", "moved", {"position": new_id,
                                                               "outcome": outcome})
        notify(Alert(f"{old_id}:move:done", user_of(doc), "move", "warning",
                     f"position {old_id} moved to {move['to_venue']}: {outcome}",
                     desk.now_ms(), old_id, {"new_position": new_id}))
        moved += 1
    return moved


def _reopen(desk: Desk, doc: Mapping[str, Any], move: Mapping[str, Any], new_id: str,
            enqueue: Enqueue) -> str:
    from tasks.position_orders import OpenRequest, open_position

    if positions_store.read(desk.db, new_id) is None:
        position = position_from_dict(doc)
        order = doc["order"]
        returned = int(order["equity"]) + position.figures.realised_pnl
        if returned <= 0:
            return "nothing came back to reopen with"
        request = OpenRequest(position.side.value, Asset.from_unit(position.traded),
                              ADA, returned, Decimal(str(order["leverage"])),
                              venue=str(move["to_venue"]), owner=order.get("owner"),
                              live=doc.get("paper") is False,
                              signing=str(order.get("signing", "managed")),
                              user=order.get("user"), position_id=new_id)
        try:
            answer = open_position(desk, request, enqueue)
        except (OrderError, positions_store.PositionExists) as error:
            return f"not reopened: {error}"
        if answer.get("state") == "refused":
            return f"reopening was refused: {answer.get('reasons')}"
    stored = store.rules_version(desk.db, str(doc["_id"]), str(move["version"]))
    if stored is None:
        return f"reopened as {new_id}"
    try:
        guards = apply_guards(desk, new_id, rules_from(stored["rules"]))
    except (OrderError, GuardError) as error:
        return f"reopened as {new_id}, its guards not carried over: {error}"
    return f"reopened as {new_id} with guards version {guards['version']}"


def _cheaper(desk: Desk, doc: Mapping[str, Any], here: Any, markets: list[Any],
             now: int) -> tuple[str, list[dict[str, Any]]]:
    """The markets lending the same asset against the same collateral for less, each with
    whether moving there pays: the interest saved over the horizon against the swaps and
    venue transactions of a close here and an open there."""
    position = position_from_dict(doc)
    try:
        price, _, _ = fresh_price(desk, guard_market(doc), now)
    except NoPrice:
        return "no price now to weigh a move", []
    book_debt_value, exposure = _values(desk, doc, price)
    cost_swaps = exposure * 2 * Decimal("0.003") * 2  # unwind and rebuild, each way
    moves: list[dict[str, Any]] = []
    for market in markets:
        if market is here or market.borrow != here.borrow or market.borrow_apr >= here.borrow_apr \
                or market.collateral_for(Asset.from_unit(position.collateral_asset)) is None:
            continue
        cost = cost_swaps + 4 * (here.fees.batcher_lovelace + market.fees.batcher_lovelace)
        move = rate_move(book_debt_value, here.borrow_apr, market.venue, market.market_id,
                         market.borrow_apr, RATE_HORIZON_DAYS, cost)
        moves.append({"venue": move.venue, "market": move.market_id, "apr": str(move.apr),
                      "saving_lovelace": int(move.saving_lovelace),
                      "cost_lovelace": int(move.cost_lovelace), "pays": move.pays})
    moves.sort(key=lambda m: Decimal(m["apr"]))
    paying = [m for m in moves if m["pays"]]
    if paying:
        best = paying[0]
        return (f"moving to {best['venue']}/{best['market']} at {best['apr']} saves "
                f"{best['saving_lovelace']} lovelace in {RATE_HORIZON_DAYS} days for about "
                f"{best['cost_lovelace']} of costs (close here, open there)"), moves
    if moves:
        return "cheaper markets exist, but no move pays its costs within 30 days", moves
    return "no cheaper market lends it against this collateral", moves


def _values(desk: Desk, doc: Mapping[str, Any], price: Decimal) -> tuple[Decimal, Decimal]:
    """(debt value, exposure value) in lovelace at `price`."""
    position = position_from_dict(doc)
    book = book_of(doc, position)
    collateral_value, debt_value = book.exposure_values(price)
    return debt_value, collateral_value
