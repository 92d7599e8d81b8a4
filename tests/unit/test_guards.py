"""trading/guards.py: guard rules as immutable versions and the price triggers they make."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from trading.guards import (MAX_PRICE, PRICE_SCALE, GuardError, GuardRules, TakeProfit,
                            canonical, crossed, fired, price_key, price_triggers, rules_from,
                            tick_spans, trigger_docs, version_of)

D = Decimal


def test_rules_are_checked_field_by_field() -> None:
    cases = [
        (lambda: GuardRules(stop_loss=D(0)), "stop_loss"),
        (lambda: GuardRules(stop_loss=MAX_PRICE + 1), "stop_loss"),
        (lambda: GuardRules(stop_loss=D("NaN")), "stop_loss"),
        (lambda: GuardRules((TakeProfit(D("0.6"), D(0)),)), r"take_profit\[0\].fraction"),
        (lambda: GuardRules((TakeProfit(D("0.6"), D("1.01")),)), r"take_profit\[0\].fraction"),
        (lambda: GuardRules((TakeProfit(D("0.6"), D("0.5")), TakeProfit(D("0.60"), D("0.5")))),
         "same price"),
        (lambda: GuardRules(trailing_pct=D(100)), "trailing_pct"),
        (lambda: GuardRules(alert_below=D(1)), "alert_below"),
        (lambda: GuardRules(deleverage_below=D("1.2")), "deleverage_to"),
        (lambda: GuardRules(deleverage_below=D("1.2"), deleverage_to=D("1.1")), "deleverage_to"),
    ]
    for make, field in cases:
        with pytest.raises(GuardError, match=field):
            make()
    GuardRules((TakeProfit(D("0.6"), D("0.5")), TakeProfit(D("0.7"), D("0.5"))),
               stop_loss=D("0.4"), trailing_pct=D(5), deleverage_below=D("1.2"),
               deleverage_to=D("1.5"), alert_below=D("1.5"))


def test_a_version_is_the_rules_whatever_their_spelling() -> None:
    one = GuardRules((TakeProfit(D("0.70"), D("0.5")), TakeProfit(D("0.6"), D("0.50"))),
                     stop_loss=D("0.40"))
    same = GuardRules((TakeProfit(D("0.6"), D("0.5")), TakeProfit(D("0.7"), D("0.5"))),
                      stop_loss=D("0.4"))
    assert version_of("pos-1", one) == version_of("pos-1", same)
    assert version_of("pos-2", one) != version_of("pos-1", one)  # another position's
    moved = GuardRules(same.take_profit, stop_loss=D("0.41"))
    assert version_of("pos-1", moved) != version_of("pos-1", one)
    assert rules_from(canonical(one)) == GuardRules(tuple(sorted(one.take_profit,
                                                                 key=lambda r: r.price)),
                                                    stop_loss=D("0.40"))
    assert canonical(rules_from(canonical(one))) == canonical(one)


def test_a_long_takes_profit_up_and_stops_down_a_short_the_other_way() -> None:
    rules = GuardRules((TakeProfit(D("0.7"), D("0.5")), TakeProfit(D("0.6"), D("0.5"))),
                       stop_loss=D("0.4"))
    long = {(t.name, t.direction, t.price) for t in price_triggers("long", rules)}
    assert long == {("take_profit-0", "up", D("0.6")), ("take_profit-1", "up", D("0.7")),
                    ("stop_loss-0", "down", D("0.4"))}
    short = {(t.name, t.direction) for t in price_triggers("short", rules)}
    assert short == {("take_profit-0", "down"), ("take_profit-1", "down"),
                     ("stop_loss-0", "up")}
    with pytest.raises(GuardError, match="side"):
        price_triggers("sideways", rules)
    assert price_triggers("long", GuardRules()) == []


def test_a_trigger_fires_at_its_price_and_beyond() -> None:
    assert crossed("up", D("0.6"), D("0.6")) and crossed("up", D("0.6"), D("0.61"))
    assert not crossed("up", D("0.6"), D("0.5999999999999"))
    assert crossed("down", D("0.4"), D("0.4")) and not crossed("down", D("0.4"), D("0.4000001"))


def test_the_index_key_preselects_a_superset_and_fired_is_exact() -> None:
    """For random prices, including ones closer than a key unit: what the key's range
    pre-selects always holds what fires, and `fired` keeps exactly what fires."""
    rng = random.Random(11)
    assert price_key(D("0.5")) == PRICE_SCALE // 2
    for _ in range(2000):
        base = D(rng.randint(1, 10 ** 9)) / 10 ** 9
        trigger = base + D(rng.randint(-5, 5)) / 10 ** 13  # within a key unit, often
        price = base + D(rng.randint(-5, 5)) / 10 ** 13
        if trigger <= 0 or price <= 0:
            continue
        for side in ("long", "short"):
            docs = trigger_docs("m", side, GuardRules(stop_loss=trigger))
            [doc] = docs
            preselected = any(low <= doc["at"] <= high for low, high in tick_spans("m", price))
            fires = crossed(doc["direction"], trigger, price)
            assert preselected or not fires, (side, trigger, price)
            assert (fired(docs, price) == docs) == fires


def test_a_trailing_stop_follows_the_best_price_since() -> None:
    from trading.guards import mark_at, mark_spans, moved_trail, trailing_trigger

    long = trailing_trigger("long", D(10), D("0.6"))
    assert (long.direction, long.price) == ("down", D("0.54"))
    short = trailing_trigger("short", D(10), D("0.4"))
    assert (short.direction, short.price) == ("up", D("0.44"))
    [doc] = [d for d in trigger_docs("m", "long", GuardRules(trailing_pct=D(10)), D("0.5"))]
    assert doc["kind"] == "trailing_stop" and D(doc["price"]) == D("0.45")
    assert moved_trail(doc, D("0.5")) is None and moved_trail(doc, D("0.49")) is None
    moved = moved_trail(doc, D("0.6"))
    assert moved is not None and D(moved["price"]) == D("0.54") and moved["mark"] == "0.6"
    with pytest.raises(GuardError, match="trailing_pct"):
        trigger_docs("m", "long", GuardRules(trailing_pct=D(10)))  # no price to start from
    # The mark index pre-selects every mark a price moves (a superset; moved_trail decides).
    rng = random.Random(3)
    for _ in range(500):
        mark, price = (D(rng.randint(1, 10 ** 6)) / 10 ** 6 for _ in range(2))
        for side, moves in (("long", price > mark), ("short", price < mark)):
            inside = any(low <= mark_at("m", side, mark) <= high
                         for low, high in mark_spans("m", price))
            assert inside or not moves, (side, mark, price)


def test_health_triggers_without_a_liquidation_price_wait_unpriced() -> None:
    """Guards set while the position opens (no debt yet): the health triggers are kept
    out of the price index until the refresh prices them from the book."""
    from trading.guards import trigger_docs

    rules = GuardRules(stop_loss=Decimal("0.4"), alert_below=Decimal("1.5"),
                       margin_call_below=Decimal("1.3"), margin_call_to=Decimal("1.6"))
    docs = {d["name"]: d for d in trigger_docs("m", "long", rules)}
    assert set(docs) == {"stop_loss-0", "health_alert-0", "margin_call-0"}
    assert "at" in docs["stop_loss-0"]
    for name in ("health_alert-0", "margin_call-0"):
        assert docs[name]["price"] is None and "at" not in docs[name]
    assert docs["margin_call-0"]["target"] == "1.6"
    priced = {d["name"]: d for d in trigger_docs("m", "long", rules,
                                                 liquidation=Decimal("0.3"))}
    assert priced["health_alert-0"]["price"] == "0.45" and "at" in priced["health_alert-0"]
