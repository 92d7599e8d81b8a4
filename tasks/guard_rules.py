"""Setting a position's guards and finding what a price fires: trading/guards.py (the
rules, their versions and triggers) over store/guards.py (kept and indexed)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from store import guards as store
from store.mongo import Database
from trading.guards import GuardRules, canonical, fired, tick_spans, trigger_docs, version_of


def set_guards(db: Database, position_id: str, market: str, side: str, rules: GuardRules,
               now_ms: int) -> str:
    """Make `rules` the position's guards; returns the version id (the same rules set
    again: the same version, nothing changed)."""
    version = version_of(position_id, rules)
    store.set_rules(db, position_id, version,
                    {"market": market, "side": side, "rules": canonical(rules)},
                    trigger_docs(market, side, rules), now_ms)
    return version


def fired_triggers(db: Database, market: str, price: Decimal) -> list[Mapping[str, Any]]:
    """The current triggers of `market` that `price` fires, and no other."""
    return fired(store.candidates(db, tick_spans(market, price)), price)
