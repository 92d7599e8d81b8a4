"""Guards over the MongoDB server (store/guards.py, tasks/guard_rules.py): versions kept
for good, one version's triggers current per position, and a tick at a price reads what
it fires and nothing else."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest

from store import guards as store
from store.indexes import ensure_indexes
from tasks.guard_rules import fired_triggers, set_guards
from trading.guards import GuardRules, TakeProfit, crossed

pytestmark = pytest.mark.integration

D = Decimal
MARKET, OTHER = "ab" * 28 + "5354", "cd" * 28 + "5354"


def test_a_new_version_replaces_the_triggers_and_every_version_is_kept(db) -> None:  # type: ignore[no-untyped-def]
    ensure_indexes(db)
    first = GuardRules((TakeProfit(D("0.6"), D("0.5")), TakeProfit(D("0.7"), D("0.5"))),
                       stop_loss=D("0.4"))
    v1 = set_guards(db, "pos-1", MARKET, "long", first, now_ms=1)
    assert set_guards(db, "pos-1", MARKET, "long", first, now_ms=2) == v1  # the same rules
    assert sorted(t["_id"] for t in store.current_triggers(db, "pos-1")) == sorted(
        f"pos-1:{v1}:{name}" for name in ("take_profit-0", "take_profit-1", "stop_loss-0"))
    assert store.rules_version(db, "pos-1", v1)["set_ms"] == 1  # never rewritten
    v2 = set_guards(db, "pos-1", MARKET, "long", GuardRules(stop_loss=D("0.45")), now_ms=3)
    assert v2 != v1
    assert [t["_id"] for t in store.current_triggers(db, "pos-1")] == [f"pos-1:{v2}:stop_loss-0"]
    assert store.rules_version(db, "pos-1", v1)["rules"]["stop_loss"] == "0.4"  # kept
    assert [t["version"] for t in fired_triggers(db, MARKET, D("0.45"))] == [v2]
    assert fired_triggers(db, MARKET, D("0.65")) == []  # v1's take-profit is gone
    store.clear(db, "pos-1")
    assert store.current_triggers(db, "pos-1") == [] and store.rules_version(db, "pos-1", v2)


def test_a_tick_reads_exactly_what_it_fires(db) -> None:  # type: ignore[no-untyped-def]
    """Two hundred positions, longs and shorts, on two markets, random ladders and stops;
    at each of thirty random prices the triggers found are those a full scan would fire."""
    ensure_indexes(db)
    rng = random.Random(5)
    for n in range(200):
        price = D(rng.randint(300, 700)) / 1000
        rungs = tuple(TakeProfit(price + D(i) / 100, D("0.25")) for i in range(1, 4))
        set_guards(db, f"pos-{n}", rng.choice((MARKET, OTHER)), rng.choice(("long", "short")),
                   GuardRules(rungs, stop_loss=price - D("0.05")), now_ms=n)
    everything = list(db[store.TRIGGERS].find({}))
    assert len(everything) == 800
    for _ in range(30):
        price = D(rng.randint(200, 800)) / 1000
        found = sorted(t["_id"] for t in fired_triggers(db, MARKET, price))
        expected = sorted(t["_id"] for t in everything if t["market"] == MARKET
                          and crossed(t["direction"], D(t["price"]), price))
        assert found == expected, price


def test_a_market_whose_unit_extends_another_is_not_read_with_it(db) -> None:  # type: ignore[no-untyped-def]
    ensure_indexes(db)
    set_guards(db, "pos-a", MARKET, "long", GuardRules(stop_loss=D("0.5")), now_ms=1)
    set_guards(db, "pos-b", MARKET + "ff", "long", GuardRules(stop_loss=D("0.5")), now_ms=1)
    set_guards(db, "pos-c", MARKET + "ff", "short", GuardRules(stop_loss=D("0.3")), now_ms=1)
    assert [t["position"] for t in fired_triggers(db, MARKET, D("0.4"))] == ["pos-a"]
    assert sorted(t["position"] for t in fired_triggers(db, MARKET + "ff", D("0.4"))) == \
        ["pos-b", "pos-c"]


def test_a_trailing_stops_mark_moves_with_the_price_and_is_kept(db) -> None:  # type: ignore[no-untyped-def]
    from tasks.guard_rules import move_marks

    ensure_indexes(db)
    rules = GuardRules(trailing_pct=D(10))
    set_guards(db, "pos-l", MARKET, "long", rules, now_ms=1, price_now=D("0.5"))
    set_guards(db, "pos-s", MARKET, "short", rules, now_ms=1, price_now=D("0.5"))
    assert fired_triggers(db, MARKET, D("0.46")) == []
    assert move_marks(db, MARKET, D("0.48")) == 1  # the short's low only
    assert move_marks(db, MARKET, D("0.6")) == 1  # the long's high
    [long] = store.current_triggers(db, "pos-l")
    assert (long["mark"], D(long["price"])) == ("0.6", D("0.54"))  # kept on the trigger
    [short] = store.current_triggers(db, "pos-s")
    assert (short["mark"], D(short["price"])) == ("0.48", D("0.528"))
    assert sorted(t["position"] for t in fired_triggers(db, MARKET, D("0.54"))) == \
        ["pos-l", "pos-s"]  # the long's stop at 0.54 and the short's at 0.528
    assert [t["position"] for t in fired_triggers(db, MARKET, D("0.52"))] == ["pos-l"]
    assert [t["position"] for t in fired_triggers(db, MARKET, D("0.541"))] == ["pos-s"]
    # Setting the same rules again keeps the mark (one version).
    set_guards(db, "pos-l", MARKET, "long", rules, now_ms=2, price_now=D("0.5"))
    assert store.current_triggers(db, "pos-l")[0]["mark"] == "0.6"


def test_a_stale_price_fires_nothing_and_alerts_once(db, settings) -> None:  # type: ignore[no-untyped-def]
    """A CSV price older than PRICE_MAX_AGE_SECONDS: the tick acts on none of its
    market's triggers and raises one alert per stale price, for the operators."""
    from tasks.guard_rules import tick
    from tasks.position_orders import Desk
    from trading.paper_market import PaperMarket, PricePoint, Walk

    ensure_indexes(db)
    set_guards(db, "pos-1", MARKET, "long", GuardRules(stop_loss=D("0.45")), now_ms=1)
    now = 10_000_000
    old = PaperMarket(Walk(1, D(0)), csv={MARKET: (PricePoint(now - 301_000, D("0.40")),)})
    fresh = PaperMarket(Walk(1, D(0)), csv={MARKET: (PricePoint(now - 299_000, D("0.40")),)})
    alerts: list = []
    fired: list = []

    def desk(market: PaperMarket) -> Desk:
        return Desk(db, settings, None, lambda _now: [], lambda: market,  # type: ignore[arg-type]
                    lambda: now)

    assert settings.price_max_age_seconds == 300
    for _ in range(2):
        assert tick(desk(old), fired.append, alerts.append) == 0
    assert fired == [] and len({a.alert_id for a in alerts}) == 1
    assert alerts[0].kind == "stale_price" and "301 s old" in alerts[0].message
    assert store.last_runs(db)["tick"]["stale_markets"] == [MARKET]
    assert tick(desk(fresh), fired.append, alerts.append) == 1  # fresh: the stop fires
    assert fired == [f"pos-1:{store.current_triggers(db, 'pos-1')[0]['version']}:stop_loss-0"]


def test_the_watchdog_alerts_stale_prices_and_venue_snapshots_once_each(db, settings) -> None:  # type: ignore[no-untyped-def]
    """A live market whose quote stopped refreshing and a venue whose markets were fetched
    long ago: one alert each per stale value; fresh ones: none. The tick acts on no
    trigger of the stale market (the price refresh job keeps it with its time)."""
    from store import venue_markets
    from tasks.guard_prices import LIVE_PREFIX, watchdog
    from tasks.guard_rules import tick
    from tasks.position_orders import Desk
    from trading.paper_market import PaperMarket, Walk

    ensure_indexes(db)
    live = LIVE_PREFIX + MARKET
    now = 50_000_000
    set_guards(db, "pos-live", live, "long", GuardRules(stop_loss=D("0.45")), now_ms=1)
    store.set_price(db, live, "0.40", "dexhunter quote", now - 301_000)
    venue_markets.replace_venue(db, "surf", {}, now - (settings.market_max_age_seconds + 1) * 1000)
    venue_markets.replace_venue(db, "liqwid", {}, now - 1_000)
    desk = Desk(db, settings, None, lambda _now: [],  # type: ignore[arg-type]
                lambda: PaperMarket(Walk(1, D(0))), lambda: now)
    alerts: list = []
    for _ in range(2):
        assert watchdog(desk, alerts.append, ["surf", "liqwid"]) == [f"price {live}",
                                                                     "markets surf"]
    assert len({a.alert_id for a in alerts}) == 2
    assert {a.kind for a in alerts} == {"stale_price", "stale_markets"}
    fired: list = []
    assert tick(desk, fired.append, alerts.append) == 0 and fired == []
    store.set_price(db, live, "0.40", "dexhunter quote", now - 1_000)  # quoted again
    assert tick(desk, fired.append, alerts.append) == 1
    assert store.last_runs(db)["watchdog"]["stale"] == [f"price {live}", "markets surf"]


def test_kill_switches_cover_a_user_or_everyone(db) -> None:  # type: ignore[no-untyped-def]
    """A user's switch covers that user's open positions (named at open, else the owning
    wallet); the global one covers all; turning one on again keeps its time (one exit
    per switch-on), off uncovers."""
    from store import kill_switches
    from tasks.guard_rules import covered_open_positions

    db["positions"].insert_many([
        {"_id": "p-alice", "state": "open", "order": {"user": "alice", "owner": "addr_a"}},
        {"_id": "p-wallet", "state": "open", "order": {"owner": "addr_b"}},
        {"_id": "p-closed", "state": "settled", "order": {"user": "alice"}}])
    assert covered_open_positions(db) == []
    first = kill_switches.set_switch(db, "alice", True, 100)
    assert kill_switches.set_switch(db, "alice", True, 200)["since_ms"] == first["since_ms"]
    assert covered_open_positions(db) == [("p-alice", 100)]
    kill_switches.set_switch(db, "addr_b", True, 300)
    assert sorted(covered_open_positions(db)) == [("p-alice", 100), ("p-wallet", 300)]
    kill_switches.set_switch(db, None, True, 400)  # global: everyone's, from its time
    assert sorted(covered_open_positions(db)) == [("p-alice", 400), ("p-wallet", 400)]
    kill_switches.set_switch(db, None, False, 500)
    kill_switches.set_switch(db, "alice", False, 500)
    assert covered_open_positions(db) == [("p-wallet", 300)]
    assert kill_switches.covering(db, "alice") is None
    again = kill_switches.set_switch(db, "alice", True, 600)
    assert again["since_ms"] == 600  # a new switch-on: a new exit
