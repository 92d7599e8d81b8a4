"""A position's guard rules, pure (issue 11): what the trader set, as an immutable version,
and the price triggers it makes.

- **Immutable versions** (as DeFi Saver's subscriptions, identified by their hash):
  changing a guard writes a new version; an execution names the version that fired, and
  a fire of a version that is no longer the position's does nothing.
- **Price triggers**: a take-profit (each rung of a scale-out ladder) and a stop-loss are
  each one trigger on the position's market: `up` fires when the price is at or above
  its price, `down` when at or below. A long takes profit up and stops down; a short the
  other way round. Triggers are indexed by price (store/guards.py), so a tick reads only
  those its price crossed.

Prices are `Decimal` ADA per whole token, never float.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, ROUND_FLOOR, localcontext
from typing import Any, Literal, Mapping, Sequence

#: Trigger prices are indexed as integers of this many units per ADA (20 digits up to
#: MAX_PRICE): exact enough to pre-select; the exact comparison is `crossed`'s.
PRICE_SCALE = 10 ** 12
MAX_PRICE = Decimal(9_000_000)

Direction = Literal["up", "down"]


class GuardError(ValueError):
    """Rules that cannot be: the message names the field."""


@dataclass(frozen=True)
class TakeProfit:
    price: Decimal
    #: Of the position as it is when the rung fires (1: all that is left), so a ladder
    #: "0.5 at 0.7, the rest at 0.9" is (0.7, 0.5), (0.9, 1).
    fraction: Decimal = Decimal(1)


@dataclass(frozen=True)
class GuardRules:
    take_profit: tuple[TakeProfit, ...] = ()
    stop_loss: Decimal | None = None
    trailing_pct: Decimal | None = None
    deleverage_below: Decimal | None = None
    deleverage_to: Decimal | None = None
    alert_below: Decimal | None = None
    #: Add collateral (from the wallet) below this health, up to `margin_call_to`.
    margin_call_below: Decimal | None = None
    margin_call_to: Decimal | None = None
    #: Alert when the loan's borrow rate (a yearly fraction) is above this, naming the
    #: cheaper markets and whether moving there pays after costs; with
    #: `move_when_cheaper`, move there when it does (close here, reopen there).
    max_borrow_apr: Decimal | None = None
    move_when_cheaper: bool = False

    def __post_init__(self) -> None:
        for i, rung in enumerate(self.take_profit):
            _price(f"take_profit[{i}].price", rung.price)
            if not Decimal(0) < rung.fraction <= 1:
                raise GuardError(f"take_profit[{i}].fraction: in (0, 1], got {rung.fraction}")
        if len({rung.price for rung in self.take_profit}) != len(self.take_profit):
            raise GuardError("take_profit: two rungs at the same price")
        if self.stop_loss is not None:
            _price("stop_loss", self.stop_loss)
        if self.trailing_pct is not None and not Decimal(0) < self.trailing_pct < 100:
            raise GuardError(f"trailing_pct: in (0, 100), got {self.trailing_pct}")
        for name in ("deleverage_below", "deleverage_to", "alert_below", "margin_call_below",
                     "margin_call_to"):
            value = getattr(self, name)
            if value is not None and not (value.is_finite() and value > 1):
                raise GuardError(f"{name}: a health above 1, got {value}")
        for low, high in (("deleverage_below", "deleverage_to"),
                          ("margin_call_below", "margin_call_to")):
            below, to = getattr(self, low), getattr(self, high)
            if (below is None) != (to is None):
                raise GuardError(f"{high}: set with {low}, or neither")
            if below is not None and to <= below:
                raise GuardError(f"{high}: a health above {low}")
        if self.max_borrow_apr is not None and not (self.max_borrow_apr.is_finite()
                                                    and 0 < self.max_borrow_apr < 10):
            raise GuardError(f"max_borrow_apr: a yearly rate in (0, 10), got "
                             f"{self.max_borrow_apr}")
        if self.move_when_cheaper and self.max_borrow_apr is None:
            raise GuardError("move_when_cheaper: set with max_borrow_apr")


def _price(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or not 0 < value <= MAX_PRICE:
        raise GuardError(f"{name}: a price in ADA above 0 and at most {MAX_PRICE}, got {value}")


def canonical(rules: GuardRules) -> dict[str, Any]:
    """The rules as plain JSON values (decimals as their normalised strings), the same for
    the same rules whatever their spelling ("1.50" and "1.5" are one price)."""
    def text(value: Decimal | None) -> str | None:
        return None if value is None else format(value.normalize(), "f")

    return {"take_profit": [{"price": text(r.price), "fraction": text(r.fraction)}
                            for r in sorted(rules.take_profit, key=lambda r: r.price)],
            "stop_loss": text(rules.stop_loss), "trailing_pct": text(rules.trailing_pct),
            "deleverage_below": text(rules.deleverage_below),
            "deleverage_to": text(rules.deleverage_to), "alert_below": text(rules.alert_below),
            # Later rules only when set, so the versions of earlier rules keep their ids.
            **{name: text(getattr(rules, name)) for name in LATER_FIELDS
               if getattr(rules, name) is not None},
            **({"move_when_cheaper": True} if rules.move_when_cheaper else {})}


#: Rules added after versions were first stored (canonical only when set).
LATER_FIELDS = ("margin_call_below", "margin_call_to", "max_borrow_apr")


def rules_from(stored: Mapping[str, Any]) -> GuardRules:
    """`canonical`'s output read back (GuardError for anything else)."""
    def number(value: Any, name: str) -> Decimal | None:
        if value is None:
            return None
        try:
            return Decimal(str(value))
        except ArithmeticError:
            raise GuardError(f"{name}: not a number: {value!r}") from None

    rungs = tuple(TakeProfit(number(r["price"], "take_profit.price") or Decimal(0),
                             number(r["fraction"], "take_profit.fraction") or Decimal(0))
                  for r in stored.get("take_profit") or [])
    numbers = {name: number(stored.get(name), name) for name in
               ("stop_loss", "trailing_pct", "deleverage_below", "deleverage_to",
                "alert_below", *LATER_FIELDS)}
    return GuardRules(rungs, **numbers,
                      move_when_cheaper=stored.get("move_when_cheaper") in (True, 1))


def version_of(position_id: str, rules: GuardRules) -> str:
    """The version's id: a hash of the position and its canonical rules, so the same
    rules set twice are one version, and any change is another."""
    body = json.dumps({"position": position_id, "rules": canonical(rules)}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:20]


#: Triggers on the position's health, placed at the price where it reaches their level.
HEALTH_KINDS = ("health_alert", "deleverage", "margin_call")


@dataclass(frozen=True)
class Trigger:
    kind: Literal["take_profit", "stop_loss", "trailing_stop", "health_alert", "deleverage",
                  "margin_call"]
    index: int  # the rung, for a ladder
    direction: Direction
    price: Decimal
    fraction: Decimal = field(default=Decimal(1))

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}"


def price_triggers(side: str, rules: GuardRules) -> list[Trigger]:
    """The price triggers of a long's or a short's rules."""
    if side not in ("long", "short"):
        raise GuardError(f"side: long or short, got {side!r}")
    profit: Direction = "up" if side == "long" else "down"
    stop: Direction = "down" if side == "long" else "up"
    found = [Trigger("take_profit", i, profit, rung.price, rung.fraction)
             for i, rung in enumerate(sorted(rules.take_profit, key=lambda r: r.price))]
    if rules.stop_loss is not None:
        found.append(Trigger("stop_loss", 0, stop, rules.stop_loss))
    return found


def health_price(side: str, liquidation: Decimal, level: Decimal) -> Decimal:
    """The price at which the health is `level`, from the one (`liquidation`) at which
    it is 1: a long's health is proportional to the price (Q × P × LT / D), so it is
    `level` at P_liq × level; a short's is inversely so, at P_liq / level."""
    with localcontext() as context:  # a trigger's place: 12 digits (the health is
        context.prec = 12              # checked exactly when it fires)
        return +(liquidation * level if side == "long" else liquidation / level)


def health_levels(rules: GuardRules) -> list[tuple[str, Decimal]]:
    """(kind, health level) of each health rule set."""
    return [(kind, level) for kind, level in (("health_alert", rules.alert_below),
                                              ("deleverage", rules.deleverage_below),
                                              ("margin_call", rules.margin_call_below))
            if level is not None]


def health_triggers(side: str, rules: GuardRules, liquidation: Decimal | None) -> list[Trigger]:
    """An alert below `alert_below`, an auto-deleverage below `deleverage_below` and a
    margin call below `margin_call_below`, as price triggers at the price where the
    health reaches them (a long's falling, a short's rising); none without a liquidation
    price (no debt yet, or a venue that liquidates by time)."""
    if liquidation is None:
        return []
    direction: Direction = "down" if side == "long" else "up"
    return [Trigger(kind, 0, direction, health_price(side, liquidation, level))  # type: ignore[arg-type]
            for kind, level in health_levels(rules)]


def health_fields(kind: str, rules: GuardRules) -> dict[str, str]:
    """What a health trigger's execution needs: its level and, to deleverage, the target."""
    if kind == "health_alert":
        return {"health": str(rules.alert_below)}
    if kind == "margin_call":
        return {"health": str(rules.margin_call_below), "target": str(rules.margin_call_to)}
    return {"health": str(rules.deleverage_below), "target": str(rules.deleverage_to)}


def trailing_trigger(side: str, pct: Decimal, mark: Decimal) -> Trigger:
    """A trailing stop `pct` below a long's high-water mark (`mark`), or above a short's
    low-water mark."""
    if side == "long":
        return Trigger("trailing_stop", 0, "down", mark * (1 - pct / 100))
    return Trigger("trailing_stop", 0, "up", mark * (1 + pct / 100))


def mark_moves(side: str, mark: Decimal, price: Decimal) -> bool:
    """Whether `price` is a new high-water mark for a long (low-water for a short)."""
    return price > mark if side == "long" else price < mark


def mark_at(market: str, side: str, mark: Decimal) -> str:
    """Where a trailing stop's mark sits in its index (as `trigger_at` for prices)."""
    return f"{market}:trail-{side}:{price_key(mark):020d}"


def mark_spans(market: str, price: Decimal) -> list[tuple[str, str]]:
    """The index ranges holding every trailing mark `price` may move: a long's marks
    keyed at or below its key, a short's at or above it (`mark_moves` decides)."""
    key = price_key(price)
    return [(f"{market}:trail-long:", mark_at(market, "long", price)),
            (f"{market}:trail-short:{key:020d}", f"{market}:trail-short:~")]


def crossed(direction: Direction, trigger_price: Decimal, price: Decimal) -> bool:
    """Whether `price` fires a trigger at `trigger_price` going `direction`."""
    return price >= trigger_price if direction == "up" else price <= trigger_price


def price_key(price: Decimal) -> int:
    """The trigger price as the index stores it: PRICE_SCALE units, rounded down."""
    return int((price * PRICE_SCALE).to_integral_value(rounding=ROUND_FLOOR))


def trigger_at(market: str, direction: Direction, key: int) -> str:
    """Where a trigger sits in the index: market, direction, then the price key as 20
    digits, so one string orders them by price within a market's direction (a range read
    on one indexed field, which every server the project uses serves from its index)."""
    return f"{market}:{direction}:{key:020d}"


def tick_spans(market: str, price: Decimal) -> list[tuple[str, str]]:
    """The index ranges (low, high, both included) holding every trigger of `market` that
    `price` may fire: `up` ones keyed at or below its key, `down` ones at or above it."""
    key = price_key(price)
    return [(f"{market}:up:", trigger_at(market, "up", key)),
            (trigger_at(market, "down", key), f"{market}:down:~")]  # "~" sorts after digits


def trigger_docs(market: str, side: str, rules: GuardRules, mark: Decimal | None = None,
                 liquidation: Decimal | None = None) -> list[dict[str, Any]]:
    """The triggers as store/guards.py keeps them; a trailing stop's with its mark (the
    price when the guards are set, then each new high — a short's, low); the health
    triggers at the prices `liquidation` gives (re-priced as the position's book moves)."""
    docs = [trigger_doc(market, t) for t in price_triggers(side, rules)]
    docs += [{**trigger_doc(market, t), **health_fields(t.kind, rules)}
             for t in health_triggers(side, rules, liquidation)]
    if liquidation is None:  # no debt yet (opening): kept unpriced, out of the price
        # index, until the health refresh prices them from the book
        docs += [{"name": f"{kind}-0", "market": market, "kind": kind, "rung": 0,
                  "direction": "down" if side == "long" else "up", "price": None,
                  "fraction": "1", **health_fields(kind, rules)}
                 for kind, _ in health_levels(rules)]
    if rules.max_borrow_apr is not None:  # watched by the health refresh, not by price
        docs.append({"name": "borrow_rate-0", "market": market, "kind": "borrow_rate",
                     "rung": 0, "max_apr": str(rules.max_borrow_apr),
                     "move": "yes" if rules.move_when_cheaper else "no"})
    if rules.trailing_pct is not None:
        if mark is None:
            raise GuardError("trailing_pct: a trailing stop starts from the price now")
        docs.append({**trigger_doc(market, trailing_trigger(side, rules.trailing_pct, mark)),
                     **trail_fields(market, side, rules.trailing_pct, mark)})
    return docs


def trigger_doc(market: str, t: Trigger) -> dict[str, Any]:
    return {"name": t.name, "market": market, "kind": t.kind, "rung": t.index,
            "direction": t.direction, "price": str(t.price),
            "at": trigger_at(market, t.direction, price_key(t.price)),
            "fraction": str(t.fraction)}


def trail_fields(market: str, side: str, pct: Decimal, mark: Decimal) -> dict[str, Any]:
    return {"side": side, "trailing_pct": str(pct), "mark": str(mark),
            "mark_at": mark_at(market, side, mark)}


def moved_trail(doc: Mapping[str, Any], price: Decimal) -> dict[str, Any] | None:
    """A trailing stop's new mark, trigger price and index strings at `price`, or None
    when `price` does not move its mark."""
    side, mark = str(doc["side"]), Decimal(str(doc["mark"]))
    if not mark_moves(side, mark, price):
        return None
    pct = Decimal(str(doc["trailing_pct"]))
    trigger = trailing_trigger(side, pct, price)
    market = str(doc["market"])
    return {"price": str(trigger.price),
            "at": trigger_at(market, trigger.direction, price_key(trigger.price)),
            **trail_fields(market, side, pct, price)}


def fired(candidates: Sequence[Mapping[str, Any]], price: Decimal) -> list[Mapping[str, Any]]:
    """Of the stored triggers the index pre-selected, those `price` really fires."""
    return [doc for doc in candidates
            if crossed(doc["direction"], Decimal(str(doc["price"])), price)]


# --- the borrow rate ------------------------------------------------------------------------

@dataclass(frozen=True)
class RateMove:
    """Moving a loan to a cheaper market: what it saves over the horizon and costs."""

    venue: str
    market_id: str
    apr: Decimal
    saving_lovelace: Decimal  # over the horizon, at the rates now
    cost_lovelace: Decimal  # closing here and opening there
    pays: bool


def rate_move(debt_value: Decimal, apr_now: Decimal, venue: str, market_id: str,
              apr_there: Decimal, horizon_days: Decimal, cost_lovelace: Decimal) -> RateMove:
    """Whether moving a debt worth `debt_value` lovelace from `apr_now` to `apr_there`
    pays within `horizon_days`: the simple interest saved against what the move costs."""
    saving = debt_value * (apr_now - apr_there) * horizon_days / 365
    return RateMove(venue, market_id, apr_there, saving, cost_lovelace, saving > cost_lovelace)
