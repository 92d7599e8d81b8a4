"""Alerts: kept in MongoDB (the history), published on Redis pub/sub (live, for the
WebSocket) and, where the user set one, POSTed to their webhook — signed, retried with
backoff by its own task on its own queue (`notify`), so a slow or failing receiver never
holds up a guard (core/webhooks.py says what a receiver checks).

`raise_alert` is what the guards call: the same alert id raised twice is one alert, one
publication, one delivery task.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import requests
from celery import shared_task
from redis.exceptions import RedisError

from core.settings import Settings
from core.webhooks import ALERT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, backoff_s, \
    signature
from store import alerts as store
from store.mongo import Database, database
from store.redis import client_for, key
from tasks.celery_app import settings_of
from tasks.live_push import to_feed

log = logging.getLogger(__name__)

DELIVER_TASK = "notify.webhook"
#: Seconds a webhook receiver has to answer.
WEBHOOK_TIMEOUT_S = 5.0
LEVELS = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    alert_id: str  # the same event raised twice: the same id
    user: str
    kind: str  # health, stale_price, kill_switch, guard, ...
    level: str
    message: str
    at_ms: int
    position: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"an alert's level is one of {LEVELS}, got {self.level!r}")

    def doc(self) -> dict[str, Any]:
        return {"_id": self.alert_id, "user": self.user, "position": self.position,
                "kind": self.kind, "level": self.level, "message": self.message,
                "facts": dict(self.facts), "at_ms": self.at_ms}


def channel(settings: Settings) -> str:
    """The Redis pub/sub channel every alert is published on (JSON, `user` inside)."""
    return key(settings, "alerts")


def public(doc: Mapping[str, Any]) -> dict[str, Any]:
    """An alert as shown and sent: its fields, `_id` as `id`, no delivery bookkeeping."""
    return {"id": doc["_id"], **{k: doc.get(k) for k in ("user", "position", "kind", "level",
                                                         "message", "facts", "at_ms")}}


def raise_alert(db: Database, settings: Settings, alert: Alert,
                send: Callable[[str, str], None]) -> bool:
    """Keep, publish and (with a webhook) hand to delivery — once per alert id; True when
    it was new. `send(task name, alert id)` enqueues the delivery. Publishing is best
    effort: Redis down costs the live view, never the alert."""
    doc = alert.doc()
    webhook = store.webhook_of(db, alert.user)
    if webhook is not None:
        doc.update(webhook="pending", attempts=0)
    if not store.record(db, doc):
        return False
    log.warning("alert %s (%s, %s): %s", alert.alert_id, alert.kind, alert.level, alert.message)
    try:
        client_for(settings.redis_url).publish(channel(settings), json.dumps(public(doc)))
    except RedisError as error:
        log.warning("alert %s not published (Redis: %s); it is kept", alert.alert_id, error)
    to_feed(settings, alert.user, {"type": "alert", **public(doc)})
    if webhook is not None:
        send(DELIVER_TASK, alert.alert_id)
    return True


def deliver(db: Database, alert_id: str, attempt: int,
            post: Callable[..., Any] = requests.post,
            now_s: Callable[[], float] = time.time) -> str:
    """POST one alert to its user's webhook: "delivered", "retry" (the receiver failed or
    did not answer) or why there is nothing to do."""
    doc = store.read(db, alert_id)
    if doc is None:
        return "no such alert"
    if doc.get("webhook") in ("delivered", "gave up"):
        return f"already {doc['webhook']}"
    webhook = store.webhook_of(db, str(doc["user"]))
    if webhook is None:
        store.note_delivery(db, alert_id, "no webhook", attempt, "the user removed it")
        return "the user has no webhook now"
    body = json.dumps(public(doc), sort_keys=True, separators=(",", ":")).encode()
    stamp = int(now_s())
    headers = {"Content-Type": "application/json", ALERT_ID_HEADER: alert_id,
               TIMESTAMP_HEADER: str(stamp),
               SIGNATURE_HEADER: signature(str(webhook["secret"]), stamp, body)}
    try:
        reply = post(str(webhook["url"]), data=body, headers=headers,
                     timeout=WEBHOOK_TIMEOUT_S, allow_redirects=False)
        status = int(reply.status_code)
    except requests.RequestException as error:
        detail = f"{type(error).__name__}"
    else:
        if 200 <= status < 300:
            store.note_delivery(db, alert_id, "delivered", attempt, f"HTTP {status}")
            return "delivered"
        detail = f"HTTP {status}"
    store.note_delivery(db, alert_id, "pending", attempt, detail)
    return "retry"


@shared_task(name=DELIVER_TASK, bind=True, ignore_result=True, max_retries=None)
def deliver_webhook(self, alert_id: str) -> str:
    db = database(settings_of(self.app))
    attempt = self.request.retries + 1
    outcome = deliver(db, alert_id, attempt)
    if outcome == "retry":
        wait = backoff_s(self.request.retries)
        if wait is None:
            store.note_delivery(db, alert_id, "gave up", attempt, "every retry failed")
            log.warning("alert %s: webhook given up after %s attempts", alert_id, attempt)
            return "gave up"
        log.info("alert %s: webhook failed (attempt %s), again in %ss", alert_id, attempt,
                 wait)
        raise self.retry(countdown=wait)
    return outcome
