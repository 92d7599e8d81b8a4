"""Each user's live feed in Redis: what happened to their positions (events, leg
transitions) and their alerts, in order, with an id a reconnecting client resumes from.

One append does two things atomically (a Lua script): XADD to the user's stream (kept
to about `keep` entries and `ttl_s` after the last one: the replay) and PUBLISH of the
same entry, with its id and user, on the namespace's feed channel (the live push). Since
Redis runs a script alone, the publish order is the stream order.

Prices and chain ticks are state, not history: they go on their own channels
(`channel(ns, "prices" | "blocks")`) and a client gets them fresh, never replayed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

import redis

#: A stream entry id, `<ms>-<seq>`, as a client sends it back.
ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")

_APPEND = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], cjson.encode({id = id, user = ARGV[4], m = ARGV[2]}))
return id
"""


@dataclass(frozen=True)
class FeedEntry:
    entry_id: str
    user: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Replay:
    entries: list[FeedEntry]
    #: False when the client's last id is no longer kept (trimmed, expired or never
    #: ours): it may have missed more than `entries`, and should reload its state.
    complete: bool


def stream_key(namespace: str, user: str) -> str:
    return f"{namespace}:feed:u:{user}"


def channel(namespace: str, kind: str = "feed") -> str:
    return f"{namespace}:{kind}"


def append(client: redis.Redis, namespace: str, user: str, message: Mapping[str, Any], *,
           keep: int, ttl_s: int) -> str:
    """Add `message` to `user`'s feed and push it live; its entry id."""
    body = json.dumps(dict(message), default=str, separators=(",", ":"))
    entry_id = client.eval(_APPEND, 2, stream_key(namespace, user), channel(namespace),
                           str(keep), body, str(ttl_s * 1000), user)
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def parse_published(data: bytes | str) -> FeedEntry:
    """An entry as the feed channel carries it (ValueError when it is not one)."""
    outer = json.loads(data)
    if not isinstance(outer, dict) or not ENTRY_ID.fullmatch(str(outer.get("id", ""))):
        raise ValueError("not a feed entry")
    message = json.loads(outer["m"])
    if not isinstance(message, dict):
        raise ValueError("not a feed entry")
    return FeedEntry(str(outer["id"]), str(outer["user"]), message)


def entry_order(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def since(client: redis.Redis, namespace: str, user: str, last_id: str | None, *,
          limit: int) -> Replay:
    """What `user`'s feed holds after `last_id` (all it holds when None), oldest first,
    at most `limit` entries (the newest of them: `complete` is then False)."""
    key = stream_key(namespace, user)
    if last_id is None:
        return Replay(_newest(client, key, user, limit), complete=True)
    if not ENTRY_ID.fullmatch(last_id):
        raise ValueError("last_event_id must look like <ms>-<seq>")
    # From the last id itself: finding it proves nothing between was trimmed.
    raw: list[Any] = client.xrange(key, min=last_id, count=limit + 2)  # type: ignore[assignment]
    found = bool(raw) and _decoded(raw[0][0]) == last_id
    rest = raw[1:] if found else raw
    if len(rest) > limit:  # more missed than a replay holds: the newest `limit`
        return Replay(_newest(client, key, user, limit), complete=False)
    return Replay([_entry(user, r) for r in rest], complete=found)


def _newest(client: redis.Redis, key: str, user: str, limit: int) -> list[FeedEntry]:
    raw: list[Any] = client.xrevrange(key, count=limit)  # type: ignore[assignment]
    return [_entry(user, r) for r in reversed(raw)]


def _decoded(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(user: str, raw: tuple[Any, Mapping[Any, Any]]) -> FeedEntry:
    entry_id, fields = raw
    body = fields.get(b"m", fields.get("m"))
    return FeedEntry(_decoded(entry_id), user, json.loads(body))


def newest_id(client: redis.Redis, namespace: str, user: str) -> str | None:
    """The id of `user`'s newest feed entry (None: an empty feed)."""
    raw: list[Any] = client.xrevrange(stream_key(namespace, user), count=1)  # type: ignore[assignment]
    return _decoded(raw[0][0]) if raw else None
