"""What the API lets through (issue 12): bodies up to API_MAX_BODY_BYTES (Flask answers
413 before reading more), CORS for the configured origins only, and API_RATE_PER_MINUTE
requests per key (a fixed minute window in Redis; 429 with Retry-After). Redis down:
requests go through (the limit protects the service; its outage must not stop trading)."""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, request
from flask_smorest import abort
from redis.exceptions import RedisError

from core.settings import Settings
from store.redis import client_for, key

log = logging.getLogger(__name__)

CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key"
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"


def init_app(app: Flask, settings: Settings) -> None:
    app.config["MAX_CONTENT_LENGTH"] = settings.api_max_body_bytes
    allowed = frozenset(settings.cors_origins)

    @app.after_request
    def cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Max-Age"] = "600"
            response.headers.add("Vary", "Origin")
        return response


def check_rate(settings: Settings, key_id: str, now_s: float | None = None) -> None:
    """Count this request against its key's minute; past API_RATE_PER_MINUTE: 429."""
    now_s = time.time() if now_s is None else now_s
    minute = int(now_s // 60)
    name = key(settings, "ratelimit", key_id, str(minute))
    try:
        client = client_for(settings.redis_url)
        count = int(client.incr(name))
        if count == 1:
            client.expire(name, 120)
    except RedisError as error:
        log.warning("rate limit not counted (Redis: %s); the request goes through", error)
        return
    if count > settings.api_rate_per_minute:
        abort(429, message=f"more than {settings.api_rate_per_minute} requests a minute with "
                           f"this key: wait for the next minute",
              headers={"Retry-After": str(60 - int(now_s % 60))})
