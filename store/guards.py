"""Guard rules and their price triggers in MongoDB (trading/guards.py says what they are;
tasks/guard_rules.py puts the two together).

- `guard_rules`: every version ever set, kept (`_id` "<position>:<version>"): what an
  execution names; inserted once (`$setOnInsert`), never changed.
- `guard_triggers`: the price triggers of each position's *current* version only, one
  document per trigger (`_id` "<position>:<version>:<trigger>"), indexed by `at`
  (market, direction and price key in one string: a compound index's range on its last
  field is not served from the index by nx-27017, one field's range is): a tick at a
  price reads the triggers it crossed and no other,
  so its cost follows what crossed, not what exists. Setting a new version adds its
  triggers, then removes the older versions' (a tick in between may see both: the
  execution re-checks the version, so the old one's fire does nothing).

A trigger's price is stored as its decimal string (exact) and in `at` as an integer key
(trading.guards.PRICE_SCALE) for the range read; the caller makes the exact comparison.
"""
from __future__ import annotations

import os
import socket
from typing import Any, Mapping, Sequence

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from store.holder_locks import holder_of, holder_token, process_exists

RULES = "guard_rules"
TRIGGERS = "guard_triggers"
EXECUTIONS = "guard_executions"
MARKETS = "guard_markets"


def set_rules(db: Database, position_id: str, version: str, rules: Mapping[str, Any],
              triggers: Sequence[Mapping[str, Any]], now_ms: int) -> None:
    """Keep version `version` (its canonical `rules`, with market and side) and make its
    `triggers` (each with `name`) the position's. The same version again changes nothing."""
    db[RULES].update_one({"_id": f"{position_id}:{version}"},
                         {"$setOnInsert": {"position": position_id, "version": version,
                                           **rules, "set_ms": now_ms}}, upsert=True)
    for row in trigger_rows(position_id, version, triggers):
        db[TRIGGERS].update_one({"_id": row["_id"]}, {"$setOnInsert": row}, upsert=True)
    for market in sorted({str(t["market"]) for t in triggers}):
        db[MARKETS].update_one({"_id": market}, {"$set": {"market": market}}, upsert=True)
    db[TRIGGERS].delete_many({"position": position_id, "version": {"$ne": version}})


def trigger_rows(position_id: str, version: str,
                 triggers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The documents `set_rules` keeps for a version's triggers."""
    return [{"_id": f"{position_id}:{version}:{trigger['name']}", "position": position_id,
             "version": version, **{k: v for k, v in trigger.items() if k != "name"}}
            for trigger in triggers]


def clear(db: Database, position_id: str) -> None:
    """The position has no guard any more (closed): its triggers go, its versions stay."""
    db[TRIGGERS].delete_many({"position": position_id})


def rules_version(db: Database, position_id: str, version: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[RULES].find_one({"_id": f"{position_id}:{version}"})
    return found


def current_triggers(db: Database, position_id: str) -> list[dict[str, Any]]:
    return list(db[TRIGGERS].find({"position": position_id}))


def candidates(db: Database, spans: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The triggers whose index string `at` lies in one of `spans` (low, high, both
    included): range reads on the one indexed field (trading.guards.tick_spans)."""
    found: list[dict[str, Any]] = []
    for low, high in spans:
        found += db[TRIGGERS].find({"at": {"$gte": low, "$lte": high}})
    return found


def markets(db: Database) -> list[str]:
    """The markets a trigger was ever set on (one small document each: a tick does not
    scan the triggers to find them; a market left without triggers reads nothing)."""
    return sorted(str(row["_id"]) for row in db[MARKETS].find({}))


def trigger(db: Database, trigger_id: str) -> dict[str, Any] | None:
    """A current trigger (None: its version is not the position's any more, or gone)."""
    found: dict[str, Any] | None = db[TRIGGERS].find_one({"_id": trigger_id})
    return found


def claim_execution(db: Database, trigger: Mapping[str, Any], facts: Mapping[str, Any],
                    now_ms: int = 0, lease_ms: int = 60_000) -> bool:
    """Claim the one execution of this trigger of this version (`_id` the trigger's):
    False when it was claimed before (a duplicated or stale fire) — unless that claim
    never acted (no `acted_ms`: its worker died between the claim and the action) and
    its holder is a process of this host that has exited, or it is older than
    `lease_ms`: then this one takes it over (compare-and-set on its holder and time)."""
    trigger_id = str(trigger["_id"])
    mine = holder_token()
    try:
        db[EXECUTIONS].insert_one({"_id": trigger_id, "position": trigger["position"],
                                   "version": trigger["version"], **facts,
                                   "claimed_ms": now_ms, "holder": mine})
        return True
    except DuplicateKeyError:
        pass
    found = db[EXECUTIONS].find_one({"_id": trigger_id})
    if found is None or "acted_ms" in found:
        return False
    holder = holder_of(found.get("holder"))
    dead = holder is not None and holder[0] == socket.gethostname() \
        and holder[1] != os.getpid() and not process_exists(holder[1])
    if not dead and int(found.get("claimed_ms", 0)) >= now_ms - lease_ms:
        return False
    taken = db[EXECUTIONS].update_one(
        {"_id": trigger_id, "claimed_ms": found.get("claimed_ms"),
         "holder": found.get("holder"), "acted_ms": {"$exists": False}},
        {"$set": {**facts, "claimed_ms": now_ms, "holder": mine, "taken_over_ms": now_ms}})
    return taken.modified_count == 1


def mark_acted(db: Database, execution_id: str, now_ms: int) -> None:
    """The claimed execution acted (asked its close, raised its alert): for good."""
    db[EXECUTIONS].update_one({"_id": execution_id}, {"$set": {"acted_ms": now_ms}})


def release_execution(db: Database, trigger_id: str) -> None:
    """A claimed execution that asked nothing (the position could not be closed now): the
    trigger may fire again."""
    db[EXECUTIONS].delete_one({"_id": trigger_id})


def executions(db: Database, position_id: str) -> list[dict[str, Any]]:
    return list(db[EXECUTIONS].find({"position": position_id}))


def trails(db: Database, spans: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The trailing stops whose mark index string `mark_at` lies in one of `spans`."""
    found: list[dict[str, Any]] = []
    for low, high in spans:
        found += db[TRIGGERS].find({"mark_at": {"$gte": low, "$lte": high}})
    return found


def move_trail(db: Database, trigger_id: str, was: str, fields: Mapping[str, Any]) -> bool:
    """A trailing stop's new mark and trigger, if its mark is still `was` (a concurrent
    tick that moved it first wins; this one's price was not higher anyway)."""
    return db[TRIGGERS].update_one({"_id": trigger_id, "mark_at": was},
                                   {"$set": dict(fields)}).modified_count == 1


def reprice(db: Database, trigger_id: str, fields: Mapping[str, Any]) -> bool:
    """A health trigger's new price and index string (its position's book moved)."""
    return db[TRIGGERS].update_one({"_id": trigger_id}, {"$set": dict(fields)}).modified_count == 1


def by_kinds(db: Database, kinds: Sequence[str]) -> list[dict[str, Any]]:
    """The current triggers of these kinds (the health triggers, for their refresh)."""
    return list(db[TRIGGERS].find({"kind": {"$in": list(kinds)}}))


def execution(db: Database, trigger_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[EXECUTIONS].find_one({"_id": trigger_id})
    return found


def recent_executions(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    return list(db[EXECUTIONS].find({}).sort("at_ms", -1).limit(limit))


def claim_exit(db: Database, position_id: str, since_ms: int, facts: Mapping[str, Any]) -> bool:
    """Claim a kill switch's emergency exit of a position, once per switch-on."""
    try:
        db[EXECUTIONS].insert_one({"_id": f"{position_id}:kill-switch:{since_ms}",
                                   "position": position_id, "version": "kill-switch",
                                   **facts})
    except DuplicateKeyError:
        return False
    return True


def note_execution(db: Database, execution_id: str, facts: Mapping[str, Any]) -> None:
    """What an execution found once it acted (the health it expects after, say)."""
    db[EXECUTIONS].update_one({"_id": execution_id}, {"$set": dict(facts)})


STATUS = "guard_status"


def note_run(db: Database, name: str, now_ms: int, facts: Mapping[str, Any]) -> None:
    """The last run of a guard job (`tick`, `health`): when, and what it did."""
    db[STATUS].update_one({"_id": name}, {"$set": {"at_ms": now_ms, **facts}}, upsert=True)


def last_runs(db: Database) -> dict[str, dict[str, Any]]:
    return {str(doc["_id"]): doc for doc in db[STATUS].find({})}


def counts_by_kind(db: Database) -> dict[str, int]:
    """How many current triggers of each kind (`dhl guards status`)."""
    counts: dict[str, int] = {}
    for doc in db[TRIGGERS].find({}, {"kind": 1}):
        counts[str(doc.get("kind"))] = counts.get(str(doc.get("kind")), 0) + 1
    return counts


PRICES = "guard_prices"


def set_price(db: Database, market: str, price: str, source: str, as_of_ms: int) -> None:
    """A guarded market's latest price (a live market's quote), with what gave it and
    when: the guards read its age from `as_of_ms`."""
    db[PRICES].update_one({"_id": market}, {"$set": {"price": price, "source": source,
                                                     "as_of_ms": as_of_ms}}, upsert=True)


def price_of(db: Database, market: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = db[PRICES].find_one({"_id": market})
    return found


def prices(db: Database) -> list[dict[str, Any]]:
    return list(db[PRICES].find({}))


MOVES = "guard_moves"


def start_move(db: Database, position_id: str, fields: Mapping[str, Any]) -> bool:
    """A position's move to a cheaper market, begun once (`_id` the position): False
    when one was begun before."""
    try:
        db[MOVES].insert_one({"_id": position_id, "state": "closing", **fields})
    except DuplicateKeyError:
        return False
    return True


def drop_move(db: Database, position_id: str) -> None:
    db[MOVES].delete_one({"_id": position_id, "state": "closing"})


def moves_in(db: Database, states: Sequence[str]) -> list[dict[str, Any]]:
    return list(db[MOVES].find({"state": {"$in": list(states)}}))


def move_to(db: Database, position_id: str, was: str, state: str,
            fields: Mapping[str, Any] | None = None) -> bool:
    """A move's next state, if it is still `was` (compare-and-set: one runner moves it)."""
    return db[MOVES].update_one({"_id": position_id, "state": was},
                                {"$set": {"state": state, **(fields or {})}}).modified_count == 1
