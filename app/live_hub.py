"""One Redis subscriber per web process, fanning out to its WebSocket connections.

The hub's thread reads the feed, prices and blocks channels (store/live_feed.py) and
hands each message to the connections it concerns without ever waiting for one: a
connection's feed queue is bounded (WS_MAX_PENDING), and one that overflows is dropped
— its socket shut, so even a send blocked on a client that stopped reading ends. Prices
and chain ticks are state: a connection keeps only the newest of each (per token), so a
burst of blocks costs a slow reader nothing.

Each time the hub (re)subscribes, every connection is told to resume: it re-reads its
user's feed from the last id it sent, so nothing published while the hub was not
listening (Redis away, or not yet subscribed) is missed.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import redis
from redis.exceptions import RedisError

from store import live_feed

log = logging.getLogger(__name__)

RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass
class Pending:
    """What a connection has to send, taken at once."""
    feed: list[live_feed.FeedEntry] = field(default_factory=list)
    block: dict[str, Any] | None = None
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    resume: bool = False

    def __bool__(self) -> bool:
        return bool(self.feed or self.block or self.prices or self.resume)


class Connection:
    """One WebSocket client's mailbox (filled by the hub, emptied by its own thread)."""

    def __init__(self, user: str, max_pending: int, close_socket: Callable[[], None]) -> None:
        self.user = user
        self._max_pending = max_pending
        self._close_socket = close_socket
        self._cond = threading.Condition()
        self._feed: deque[live_feed.FeedEntry] = deque()
        self._block: dict[str, Any] | None = None
        self._prices: dict[str, dict[str, Any]] = {}
        self._resume = False
        self.dropped: str | None = None

    def offer_entry(self, entry: live_feed.FeedEntry) -> None:
        with self._cond:
            if self.dropped:
                return
            if len(self._feed) >= self._max_pending:
                self._drop(f"too slow: {len(self._feed)} messages waiting")
                return
            self._feed.append(entry)
            self._cond.notify()

    def offer_block(self, message: dict[str, Any]) -> None:
        with self._cond:
            self._block = message
            self._cond.notify()

    def offer_price(self, message: dict[str, Any]) -> None:
        with self._cond:
            self._prices[str(message.get("unit"))] = message
            self._cond.notify()

    def resume(self) -> None:
        with self._cond:
            self._resume = True
            self._cond.notify()

    def take(self, timeout_s: float) -> Pending:
        """What is waiting, after up to `timeout_s` for something to be."""
        with self._cond:
            if not (self._feed or self._block or self._prices or self._resume
                    or self.dropped):
                self._cond.wait(timeout_s)
            taken = Pending(list(self._feed), self._block, self._prices, self._resume)
            self._feed.clear()
            self._block, self._prices, self._resume = None, {}, False
            return taken

    def _drop(self, reason: str) -> None:
        self.dropped = reason
        self._feed.clear()
        self._cond.notify()
        log.warning("WebSocket client of %s dropped: %s", self.user, reason)
        try:
            self._close_socket()
        except OSError:
            pass


class Hub:
    def __init__(self, redis_url: str, namespace: str) -> None:
        self._redis_url = redis_url
        self._namespace = namespace
        self._lock = threading.Lock()
        self._by_user: dict[str, set[Connection]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.subscribed = threading.Event()

    def register(self, connection: Connection, wait_s: float = 5.0) -> bool:
        """Add a connection; True once the hub listens (False: Redis is away for now;
        the connection resumes from its feed when the hub is back)."""
        with self._lock:
            self._by_user.setdefault(connection.user, set()).add(connection)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dhl-live-hub",
                                                daemon=True)
                self._thread.start()
        return self.subscribed.wait(wait_s)

    def unregister(self, connection: Connection) -> None:
        with self._lock:
            found = self._by_user.get(connection.user)
            if found is not None:
                found.discard(connection)
                if not found:
                    del self._by_user[connection.user]

    def connections(self, user: str | None = None) -> int:
        with self._lock:
            if user is not None:
                return len(self._by_user.get(user, ()))
            return sum(len(c) for c in self._by_user.values())

    def stop(self) -> None:
        self._stop.set()

    def _everyone(self) -> list[Connection]:
        with self._lock:
            return [c for found in self._by_user.values() for c in found]

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(self._redis_url, socket_connect_timeout=5,
                                              health_check_interval=30)
                pubsub = client.pubsub()
                channels = [live_feed.channel(self._namespace, kind)
                            for kind in ("feed", "prices", "blocks")]
                pubsub.subscribe(*channels)
                _confirmed(pubsub, len(channels))
                self.subscribed.set()
                for connection in self._everyone():  # what came before: from the streams
                    connection.resume()
                failures = 0
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["channel"], message["data"])
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                log.warning("live hub: Redis lost (%s); again in %.1f s", error, delay)
                self._stop.wait(delay)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (RedisError, OSError):
                        pass

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        kind = name.rsplit(":", 1)[-1]
        try:
            if kind == "feed":
                entry = live_feed.parse_published(data)
                with self._lock:
                    targets = list(self._by_user.get(entry.user, ()))
                for connection in targets:
                    connection.offer_entry(entry)
                return
            message = json.loads(data)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except (ValueError, KeyError, TypeError) as error:
            log.warning("live hub: a message on %s is not ours (%s); ignored", name, error)
            return
        for connection in self._everyone():
            if kind == "blocks":
                connection.offer_block(message)
            elif kind == "prices":
                connection.offer_price(message)


def _confirmed(pubsub: Any, channels: int, timeout_s: float = 5.0) -> None:
    """Wait for Redis to confirm each subscription: from then on nothing is missed."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while seen < channels:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RedisError("subscriptions not confirmed")
        message = pubsub.get_message(timeout=left)
        if message is not None and message.get("type") == "subscribe":
            seen += 1
