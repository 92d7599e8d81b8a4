"""`dhl follow`: the follower process of the Procfile (indexer/follower_process.py).

Follows CARDANO_NODE from the breadcrumbs saved in MongoDB (or FOLLOW_FROM the first
time), as the one writer of the block log or as a standby for it.
"""
from __future__ import annotations

from core.errors import ConfigError
from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit


def run_follower(settings: Settings) -> int:
    if settings.cardano_node is None:
        print("config error: CARDANO_NODE: expected tcp://host:port (a relay) or "
              "unix:///path/to/node.socket (own node) for the follower, got nothing", flush=True)
        return 2
    from indexer.follower_process import run_follower as follow
    from indexer.watchers import watcher_names

    try:
        watchers = watcher_names(settings)
    except ConfigError as error:
        print(f"config error: {error}", flush=True)
        return 2
    from tasks.celery_app import make_celery
    from tasks.chain import poke

    app = make_celery(settings)
    return follow(settings, lambda watcher, seq, slot: poke(app, watcher, seq, slot), watchers)


def main() -> int:
    settings = load_settings_or_exit()
    configure_logging(settings)
    return run_follower(settings)
