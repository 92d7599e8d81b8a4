"""Every MongoDB index the project uses, declared in one place and created at start.

Indexes are compared by their keys, never by name: nx-27017 renames them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pymongo.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSpec:
    keys: tuple[tuple[str, int], ...]
    unique: bool = False


#: collection -> its indexes besides `_id`.
INDEXES: dict[str, tuple[IndexSpec, ...]] = {
    # One document per component (worker, beat, follower), keyed by `_id`;
    # `at_ms` lets operators list the stale ones.
    "heartbeats": (IndexSpec((("at_ms", 1),)),),
    # The block log: events by number (unique: one writer, no gaps), blocks by height.
    "chain_events": (IndexSpec((("seq", 1),), unique=True), IndexSpec((("hash", 1),)),
                     IndexSpec((("height", 1),))),
    "blocks": (IndexSpec((("height", 1),)),),
    # UTxOs per watcher: rollbacks select by created/spent slot, operators by address.
    "watcher_utxos": (IndexSpec((("watcher", 1), ("created_slot", 1))),
                    IndexSpec((("watcher", 1), ("spent_slot", 1))),
                    IndexSpec((("address", 1),)),
                    IndexSpec((("spent_slot", 1),))),
    # Our txs: rollbacks select by seen/settled slot, the pipeline our open orders.
    "own_txs": (IndexSpec((("seen_slot", 1),)), IndexSpec((("settled_slot", 1),)),
                IndexSpec((("order_ref", 1),))),
    "poison_blocks": (IndexSpec((("hash", 1),)),),
    # Venue market snapshots: a venue's generation is read and replaced whole.
    "venue_markets": (IndexSpec((("venue", 1), ("generation", 1))),),
    # Positions: the guards and the command line list them by state; the API, a user's.
    "positions": (IndexSpec((("state", 1),)), IndexSpec((("order.user", 1),)),
                  IndexSpec((("order.owner", 1),))),
    # Guards: the current versions' price triggers, read by `at` (market, direction and
    # price key in one string: a tick reads only what it crossed); every version kept.
    "guard_triggers": (IndexSpec((("at", 1),)), IndexSpec((("position", 1),)),
                       IndexSpec((("mark_at", 1),)), IndexSpec((("kind", 1),))),
    "guard_rules": (IndexSpec((("position", 1),)),),
    "guard_executions": (IndexSpec((("position", 1),)), IndexSpec((("at_ms", 1),))),
    # Wallet sign-in: challenges and sessions found by `_id`, the expired swept by time.
    "auth_challenges": (IndexSpec((("expires_ms", 1),)),),
    "sessions": (IndexSpec((("expires_ms", 1),)),),
    # API keys: a user's (listing); a key is found by its id (`_id`).
    "api_keys": (IndexSpec((("user", 1),)),),
    # Alerts: a user's and a position's, newest first.
    "alerts": (IndexSpec((("user", 1), ("at_ms", 1))), IndexSpec((("position", 1),)),
               IndexSpec((("at_ms", 1),))),
    # Operator-set paper prices: a token's, in time order.
    "paper_prices": (IndexSpec((("token", 1), ("from_ms", 1))),),
}


def ensure_indexes(db: Database) -> list[str]:
    """Create the declared indexes that are missing; returns what was created."""
    created: list[str] = []
    for collection, specs in INDEXES.items():
        existing = {tuple(index["key"].items()) for index in db[collection].list_indexes()}
        for spec in specs:
            # Compare field names only: the test server reports every direction as ascending.
            if any(tuple(k for k, _ in keys) == tuple(k for k, _ in spec.keys)
                   for keys in existing):
                continue
            db[collection].create_index(list(spec.keys), unique=spec.unique)
            created.append(f"{collection}:{','.join(k for k, _ in spec.keys)}")
    if created:
        log.info("created indexes: %s", ", ".join(created))
    return created
