"""Redis connections and key names. Every key the project owns starts with its namespace."""
from __future__ import annotations

import redis

from core.settings import Settings


def connect(url: str, *, timeout_s: float = 5.0) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                health_check_interval=30)


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
