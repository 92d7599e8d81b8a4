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
