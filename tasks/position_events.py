"""Every recorded position event, published on Redis pub/sub (`<namespace>:events`) as it
is recorded, for live views (the WebSocket): best effort — MongoDB's history is the
record; Redis down costs the live view only, never the event."""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Mapping

from redis.exceptions import RedisError

from core.settings import Settings
from store.positions import seq_field
from store.redis import client_for, key

log = logging.getLogger(__name__)

Publish = Callable[[Mapping[str, Any]], None]


def channel(settings: Settings) -> str:
    return key(settings, "events")


def event_message(doc: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """What a live view needs of the event recorded as `seq` of position `doc` (the
    position after it): whose, which, what happened and the state it left."""
    entry = (doc.get("history") or {}).get(seq_field(seq)) or {}
    order = doc.get("order") or {}
    return {"position": doc["_id"], "seq": seq,
            "user": order.get("user") or order.get("owner"),
            "event": entry.get("kind"), "step": entry.get("step"),
            "state": doc.get("state"), "at_ms": entry.get("at_ms")}


def publisher(settings: Settings) -> Publish:
    def publish(message: Mapping[str, Any]) -> None:
        try:
            client_for(settings.redis_url).publish(channel(settings),
                                                   json.dumps(dict(message), default=str))
        except RedisError as error:
            log.info("position event not published (Redis: %s)", error)
    return publish


def no_publish(_message: Mapping[str, Any]) -> None:
    """Where nothing listens (tests of the pure flow)."""
