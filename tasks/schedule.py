"""The one beat schedule: every periodic job of the system, in one table.

Later issues add the guards (health checks, take-profit, stop-loss, settlement)
here; nothing else registers periodic tasks.
"""
from __future__ import annotations

from typing import Any

HEARTBEAT_SECONDS = 15.0


def beat_schedule() -> dict[str, dict[str, Any]]:
    return {
        "worker-heartbeat": {
            "task": "guards.heartbeat",
            "schedule": HEARTBEAT_SECONDS,
            # A heartbeat older than two periods is stale anyway: do not let a
            # backlog of them pile up while workers are down.
            "options": {"expires": HEARTBEAT_SECONDS * 2},
        },
    }
