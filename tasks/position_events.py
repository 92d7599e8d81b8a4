"""Every recorded position event, appended to its user's live feed (store/live_feed.py:
a Redis stream to replay, and pub/sub to push) as it is recorded, for the WebSocket:
best effort — MongoDB's history is the record; Redis down costs the live view only,
never the event."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from core.settings import Settings
from store.positions import seq_field
from tasks.live_push import to_feed

Publish = Callable[[Mapping[str, Any]], None]


def event_message(doc: Mapping[str, Any], seq: int) -> dict[str, Any]:
    """What a live view needs of the event recorded as `seq` of position `doc` (the
    position after it): whose, which, what happened and the state it left."""
    entry = (doc.get("history") or {}).get(seq_field(seq)) or {}
    order = doc.get("order") or {}
    message = {"type": "event", "position": doc["_id"], "seq": seq,
               "user": order.get("user") or order.get("owner"),
               "event": entry.get("kind"), "step": entry.get("step"),
               "state": doc.get("state"), "at_ms": entry.get("at_ms")}
    leg = entry.get("leg")
    if isinstance(leg, Mapping):  # a leg transition: which leg, and where it is now
        message["leg"] = {k: leg.get(k) for k in ("leg_id", "kind", "venue", "state", "tx_id")
                          if leg.get(k) is not None}
    if entry.get("reason"):
        message["reason"] = entry["reason"]
    return message


def publisher(settings: Settings) -> Publish:
    def publish(message: Mapping[str, Any]) -> None:
        to_feed(settings, message.get("user"), message)
    return publish


def no_publish(_message: Mapping[str, Any]) -> None:
    """Where nothing listens (tests of the pure flow)."""
