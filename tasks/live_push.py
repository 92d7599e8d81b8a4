"""What the workers push to live views (the WebSocket, app/live_ws.py), best effort:
Redis down costs the live view only — MongoDB keeps the record.

- a user's feed (events, leg transitions, alerts): replayable (store/live_feed.py);
- state, not history: prices (`<ns>:prices`) and chain ticks (`<ns>:blocks`), pub/sub
  only — a client that connects gets them fresh.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping

from redis.exceptions import RedisError

from core.settings import Settings
from store import live_feed
from store.redis import client_for

log = logging.getLogger(__name__)

FEED_TTL_S = 7 * 24 * 3600  # a user's feed is dropped a week after its last entry


def to_feed(settings: Settings, user: Any, message: Mapping[str, Any]) -> str | None:
    """Append `message` to `user`'s feed; its entry id (None: no user, or Redis down)."""
    if not isinstance(user, str) or not user:
        return None
    try:
        return live_feed.append(client_for(settings.redis_url), settings.redis_namespace,
                                user, message, keep=settings.ws_replay_events,
                                ttl_s=FEED_TTL_S)
    except RedisError as error:
        log.info("%s not published (Redis: %s)", message.get("type", "message"), error)
        return None


def push_state(settings: Settings, kind: str, message: Mapping[str, Any]) -> None:
    """Publish `message` on the `kind` channel ("prices" or "blocks")."""
    try:
        client_for(settings.redis_url).publish(
            live_feed.channel(settings.redis_namespace, kind),
            json.dumps({"type": kind.rstrip("s"), **message}, default=str))
    except RedisError as error:
        log.info("%s not published (Redis: %s)", kind, error)
