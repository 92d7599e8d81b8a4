"""Celery configuration as a pure function of the settings, so it can be unit-tested."""
from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from core.settings import Settings
from tasks.schedule import beat_schedule

#: One queue per concern; a worker can be started on any subset (`-Q`).
QUEUES = ("chain", "watchers", "execution", "guards", "notify")

#: Task names are `<queue>.<name>`, so the route follows from the name.
ROUTES = {f"{queue}.*": {"queue": queue} for queue in QUEUES}


def build_config(settings: Settings) -> dict[str, Any]:
    namespace = settings.redis_namespace
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.redis_url,
        "result_expires": 3600,
        # JSON only: no pickle from the broker, and messages readable in Flower.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        # Tasks are idempotent: ack after the work, and give the message back when a
        # worker dies mid-task, so nothing is lost (at-least-once delivery).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Prefork, a dead pool process replaced (and its task given back) within 0.5 s.
        "worker_pool": "tasks.pool:QuickRecoveryPool",
        "task_track_started": True,
        "task_send_sent_event": True,
        "worker_send_task_events": True,
        # Each queue on its own direct exchange and key: a message goes to exactly one queue.
        "task_queues": [Queue(name, Exchange(name, type="direct"), routing_key=name)
                        for name in QUEUES],
        "task_default_queue": "guards",
        "task_default_exchange": "guards",
        "task_default_routing_key": "guards",
        "task_routes": ROUTES,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # Unacked messages come back after this long (must exceed the longest task).
            "visibility_timeout": 3600,
            # Several deployments (or test runs) can share one Redis.
            "global_keyprefix": f"{namespace}:",
        },
        "result_backend_transport_options": {"global_keyprefix": f"{namespace}:"},
        # redbeat: the schedule lives in Redis and a lock keeps a single beat active.
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_key_prefix": f"{namespace}:redbeat:",
        "redbeat_lock_timeout": 60,
        "beat_max_loop_interval": 5,
        "beat_schedule": beat_schedule(settings),
    }
