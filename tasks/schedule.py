"""The one beat schedule: every periodic job of the system, in one table.

The guards (tick, health refresh) are here too; nothing else registers periodic tasks.
"""
from __future__ import annotations

from typing import Any

from core.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    heartbeat = float(settings.heartbeat_seconds)
    return {
        "worker-heartbeat": {
            "task": "guards.heartbeat",
            "schedule": heartbeat,
            # A heartbeat older than two periods is stale anyway: do not let a
            # backlog of them pile up while workers are down.
            "options": {"expires": heartbeat * 2},
        },
        "chain-compact": {
            "task": "chain.compact",
            "schedule": 600.0,
            "options": {"expires": 600.0},
        },
        "venue-markets": {
            # Each venue's markets from its API; chain state replaces them as blocks
            # arrive. A run older than one period is superseded by the next one.
            "task": "guards.refresh_venue_markets",
            "schedule": float(settings.market_refresh_seconds),
            "options": {"expires": float(settings.market_refresh_seconds)},
        },
        "positions-resume": {
            # Positions with work left whose task was lost (a worker killed with its
            # message) go on; advancing one that is moving already does nothing twice.
            "task": "execution.resume_positions",
            "schedule": 30.0,
            "options": {"expires": 30.0},
        },
        "guards-tick": {
            # Kill switches, then take-profit, stop-loss, trailing and health triggers
            # against the paper price now (a stale one alerts instead); a tick
            # older than one period is superseded by the next one.
            "task": "guards.tick",
            "schedule": float(settings.guard_tick_seconds),
            "options": {"expires": float(settings.guard_tick_seconds)},
        },
        "guards-prices": {
            # Each guarded live market's DexHunter quote, kept with its time: the tick
            # reads it, and a price that stops refreshing ages until the guards stop.
            "task": "guards.prices",
            "schedule": float(settings.guard_tick_seconds),
            "options": {"expires": float(settings.guard_tick_seconds)},
        },
        "guards-watchdog": {
            # Stale prices and venue snapshots: an alert for the operators.
            "task": "guards.watchdog",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
        "guards-health": {
            # The health triggers re-priced from the positions' books (debt grows by
            # the hour) and re-armed where the health is back above their level.
            "task": "guards.health",
            "schedule": float(settings.health_refresh_seconds),
            "options": {"expires": float(settings.health_refresh_seconds)},
        },
        "watchers-catch-up": {
            "task": "watchers.catch_up",
            "schedule": 30.0,
            "options": {"expires": 60.0},
        },
    }
