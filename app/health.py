"""Liveness and readiness endpoints."""
from __future__ import annotations

from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from flask import current_app
from flask_smorest import Blueprint

from app.readiness import (Check, evaluate_follower, evaluate_heartbeat, evaluate_watchers,
                           probe_broker, probe_mongo, probe_redis, summarize)
from app.schemas import HealthSchema, ReadySchema
from app.services import services
from core.settings import Settings
from store import chain_log, heartbeats, watcher_cursors

blp = Blueprint("health", __name__, description="Liveness and readiness")

#: A worker heartbeat older than this many beat periods counts as stale.
WORKER_HEARTBEAT_PERIODS = 4


def follower_stale_after_s(settings: Settings) -> float:
    """The follower reports every fifth of its lease (indexer/log_writer.py): a report
    older than two leases was left by a follower that is gone."""
    return max(2.0 * settings.follower_lease_seconds, 10.0)


def _version() -> str:
    try:
        return version("dh-leverage")
    except PackageNotFoundError:
        return "unknown"


@blp.route("/health")
@blp.response(200, HealthSchema)
def health():  # type: ignore[no-untyped-def]
    """Liveness: the web process answers. Touches no other service."""
    return {"status": "ok", "mode": services().settings.mode, "version": _version()}


@blp.route("/ready")
@blp.response(200, ReadySchema)
@blp.alt_response(503, schema=ReadySchema, description="A required service is down")
def ready():  # type: ignore[no-untyped-def]
    """Readiness: MongoDB, Redis, the Celery broker and the follower's lag.

    Answers 503 naming in `down` every required service that is not there. The
    worker's heartbeat is reported but not required (Flower shows the workers).
    """
    s = services()
    checks = [probe_mongo(s.mongo_probe_client), probe_redis(s.redis_probe_client),
              probe_broker(s.broker_probe_client, s.queue_keys)]
    now = datetime.now(timezone.utc)
    if checks[0].ok:
        db = s.mongo_probe_client[s.settings.mongo_db]
        checks.append(evaluate_follower(heartbeats.read(db, "follower"), now,
                                        s.settings.follower_max_lag_seconds,
                                        s.settings.require_follower,
                                        follower_stale_after_s(s.settings)))
        checks.append(evaluate_heartbeat("worker", heartbeats.read(db, "worker"), now,
                                         WORKER_HEARTBEAT_PERIODS * s.settings.heartbeat_seconds,
                                         False,
                                         "no worker has reported yet"))
        checks.append(evaluate_watchers(watcher_cursors.read_all(db), chain_log.last_seq(db)))
    else:
        checks.append(Check("follower", not s.settings.require_follower,
                            s.settings.require_follower, "unknown: MongoDB is down"))
    ok, body = summarize(checks)
    if not ok:
        current_app.logger.warning("not ready: %s down", ", ".join(body["down"]))
    return body, (200 if ok else 503)
