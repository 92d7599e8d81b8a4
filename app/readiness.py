"""Readiness: is each service the web process depends on up, and is the chain fresh?

Probes do one small I/O each and never raise; `evaluate_follower` and `summarize`
are pure, so the rules are unit-tested without services.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

import redis

from store import mongo as store_mongo
from store.mongo import MongoClient
from store import redis as store_redis
from store.heartbeats import Heartbeat


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str
    latency_ms: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _timed(name: str, required: bool, probe: Callable[[], tuple[str, dict[str, Any]]]) -> Check:
    started = time.perf_counter()
    try:
        detail, info = probe()
    except Exception as error:  # a probe reports, it never breaks the endpoint
        elapsed = (time.perf_counter() - started) * 1000
        return Check(name, False, required, f"{type(error).__name__}: {_first_line(error)}",
                     round(elapsed, 1))
    elapsed = (time.perf_counter() - started) * 1000
    return Check(name, True, required, detail, round(elapsed, 1), info)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else "no message"


def probe_mongo(client: MongoClient) -> Check:
    def ping() -> tuple[str, dict[str, Any]]:
        store_mongo.ping(client)
        return "ping ok", {}

    return _timed("mongodb", True, ping)


def probe_redis(client: redis.Redis) -> Check:
    def ping() -> tuple[str, dict[str, Any]]:
        store_redis.ping(client)
        return "ping ok", {}

    return _timed("redis", True, ping)


def probe_broker(client: redis.Redis, queue_keys: dict[str, str]) -> Check:
    """The Celery broker: reachable, and how many messages wait on each queue."""
    def depths() -> tuple[str, dict[str, Any]]:
        counts = store_redis.list_lengths(client, queue_keys)
        waiting = sum(counts.values())
        return f"{waiting} messages waiting", {"queues": counts}

    return _timed("broker", True, depths)


def evaluate_heartbeat(name: str, beat: Heartbeat | None, now: datetime,
                       max_age_s: float, required: bool, absent: str) -> Check:
    """Pure: judge a component from its last heartbeat."""
    if beat is None:
        return Check(name, not required, required, absent)
    age = (now - beat.at).total_seconds()
    info = {"last_seen_seconds_ago": round(age, 1), **beat.details}
    if age > max_age_s:
        return Check(name, not required, required,
                     f"last heartbeat {age:.0f}s ago (limit {max_age_s:.0f}s)", None, info)
    return Check(name, True, required, f"last heartbeat {age:.0f}s ago", None, info)


def evaluate_follower(beat: Heartbeat | None, now: datetime, max_lag_s: int,
                      required: bool, stale_after_s: float = 30.0) -> Check:
    """Pure: the follower is ready when it reported within `stale_after_s` (it reports
    every few seconds while alive, so an older report was left by a process that is gone),
    is connected to its node, has had a block within `max_lag_s`, and is close to the
    node's tip."""
    check = evaluate_heartbeat("follower", beat, now, stale_after_s, required,
                               "no follower has reported yet")
    if beat is None or not check.ok:
        return check
    details, info = beat.details, dict(check.info)
    node = details.get("node", "the node")

    def down(detail: str) -> Check:
        return Check("follower", not required, required, detail, None, info)

    if details.get("connected") is False:
        problem = details.get("problem")
        return down(f"not connected to {node}" + (f": {problem}" if problem else ""))
    last_block_ms = details.get("last_block_ms")
    if last_block_ms is not None:
        age = now.timestamp() - last_block_ms / 1000
        info["last_block_seconds_ago"] = round(age, 1)
        if age > max_lag_s:
            return down(f"connected to {node}, but no block for {age:.0f}s "
                        f"(limit {max_lag_s}s)")
    lag = details.get("lag_seconds")
    if lag is not None and lag > max_lag_s:
        return down(f"{lag}s behind the tip of {node} (limit {max_lag_s}s)")
    return Check("follower", True, required, f"connected to {node}; {check.detail}", None, info)


def evaluate_watchers(cursors: list[Any], last_seq: int) -> Check:
    """Pure: every watcher's progress through the block log; a poisoned one is down."""
    info = {c.watcher: {"seq": c.seq, "behind": last_seq - c.seq, "slot": c.slot,
                      "poisoned_seq": c.poisoned_seq, "blocks_per_second": c.rate}
            for c in cursors}
    stopped = sorted(c.watcher for c in cursors if c.poisoned_seq is not None)
    if stopped:
        return Check("watchers", False, True, f"stopped at a poison block: {', '.join(stopped)} "
                     "(see `dhl state cursors`, then `dhl reprocess SLOT.HASH`)", None, info)
    behind = max((last_seq - c.seq for c in cursors), default=0)
    return Check("watchers", True, True, f"{len(cursors)} watchers, at most {behind} events "
                 "behind the block log", None, info)


def summarize(checks: Iterable[Check]) -> tuple[bool, dict[str, Any]]:
    """Pure: ready when every required check passes; `down` names the ones that do not."""
    checks = list(checks)
    down = [c.name for c in checks if c.required and not c.ok]
    body = {
        "ready": not down,
        "down": down,
        "checks": {
            c.name: {"ok": c.ok, "required": c.required, "detail": c.detail,
                     "latency_ms": c.latency_ms, "info": c.info}
            for c in checks
        },
    }
    return not down, body
