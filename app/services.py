"""What the web process holds for its lifetime: settings and the clients of its services."""
from __future__ import annotations

import logging

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from flask import Flask, current_app

from core.settings import Settings
from store import mongo as store_mongo
from store import redis as store_redis
from store.mongo import MongoClient
from tasks.celeryconfig import QUEUES

#: Readiness probes must answer fast when a service is gone, so their clients give up sooner.
PROBE_TIMEOUT_S = 1.0


log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    mongo_probe_client: MongoClient
    redis_probe_client: redis.Redis
    broker_probe_client: redis.Redis
    queue_keys: dict[str, str]

    @classmethod
    def open(cls, settings: Settings) -> "Services":
        timeout_ms = int(PROBE_TIMEOUT_S * 1000)
        return cls(
            settings=settings,
            mongo_probe_client=store_mongo.connect(settings.mongo_url, timeout_ms=timeout_ms,
                                                   app_name="dhl-web-probe"),
            redis_probe_client=store_redis.connect(settings.redis_url, timeout_s=PROBE_TIMEOUT_S),
            broker_probe_client=store_redis.connect(settings.broker_url,
                                                    timeout_s=PROBE_TIMEOUT_S),
            # Celery's Redis transport keeps each queue as a list under the key prefix.
            queue_keys={q: f"{settings.redis_namespace}:{q}" for q in QUEUES},
        )

    def close(self) -> None:
        self.mongo_probe_client.close()
        self.redis_probe_client.close()
        self.broker_probe_client.close()


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["dhl"] = Services.open(settings)


def services() -> Services:
    return current_app.extensions["dhl"]


@lru_cache(maxsize=2)
def celery_for(settings: Settings) -> Any:
    """The web process's Celery app (to send tasks; built once per settings)."""
    from tasks.celery_app import make_celery

    return make_celery(settings)


def enqueue_advance(position_id: str) -> None:
    """Hand a position to the workers; the broker down: the resume sweep sends it."""
    from tasks.positions import ADVANCE_TASK

    try:
        celery_for(services().settings).send_task(ADVANCE_TASK, args=[position_id])
    except Exception as error:
        log.warning("position %s: workers not told now (%s); the resume sweep will",
                    position_id, type(error).__name__)
