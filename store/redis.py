"""Redis connections and key names. Every key the project owns starts with its namespace."""
from __future__ import annotations

import os
import threading

import redis

from core.settings import Settings

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def connect(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                health_check_interval=30)


def client_for(url: str) -> redis.Redis:
    """The process's shared client for `url` (its pool reuses connections), made anew
    after a fork."""
    cache_key = (os.getpid(), url)
    with _lock:
        client = _clients.get(cache_key)
        if client is None:
            client = connect(url)
            _clients[cache_key] = client
        return client


def key(settings: Settings, *parts: str) -> str:
    """`<namespace>:<part>:<part>...` so several deployments can share one Redis."""
    return ":".join((settings.redis_namespace, *parts))


def ping(client: redis.Redis) -> None:
    client.ping()


def list_lengths(client: redis.Redis, keys: dict[str, str]) -> dict[str, int]:
    """name -> length of the list at each key, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for key_name in keys.values():
        pipe.llen(key_name)
    return dict(zip(keys, pipe.execute()))
