"""Alerts over the real MongoDB server and Redis: kept once, published on pub/sub, and
POSTed signed to a user's webhook (a loopback server), retried while it fails."""
from __future__ import annotations

import json

import pytest

from core.webhooks import ALERT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from store import alerts as store
from stubs.server import Fault, Reply, StubServer
from tasks.alerts import DELIVER_TASK, Alert, channel, deliver, raise_alert

pytestmark = pytest.mark.integration


def an_alert(alert_id: str = "a-1", user: str = "alice") -> Alert:
    return Alert(alert_id, user, "health", "warning", "health 1.4 below 1.5", 1_000,
                 "pos-1", {"health_before": "1.4"})


def test_an_alert_is_kept_and_published_once(db, settings, redis_client) -> None:
    listener = redis_client.pubsub()
    listener.subscribe(channel(settings))
    listener.get_message(timeout=2)  # the subscription's confirmation
    sent: list[tuple[str, str]] = []
    assert raise_alert(db, settings, an_alert(), lambda *a: sent.append(a)) is True
    assert raise_alert(db, settings, an_alert(), lambda *a: sent.append(a)) is False
    message = listener.get_message(timeout=2)
    assert message is not None and json.loads(message["data"])["id"] == "a-1"
    assert listener.get_message(timeout=0.5) is None  # the duplicate was not published
    listener.close()
    [kept] = store.recent(db, user="alice")
    assert kept["message"] == "health 1.4 below 1.5" and "webhook" not in kept
    assert sent == []  # no webhook set: nothing to deliver


def test_a_webhook_gets_the_alert_signed_and_failures_are_retried(db, settings) -> None:
    with StubServer(lambda request: Reply(200, {"ok": True})) as hook:
        store.set_webhook(db, "alice", hook.url + "/hook", "s3cret", 1)
        sent: list[tuple[str, str]] = []
        assert raise_alert(db, settings, an_alert(), lambda *a: sent.append(a))
        assert sent == [(DELIVER_TASK, "a-1")]
        hook.fail_next("/hook", Fault(status=500))
        assert deliver(db, "a-1", 1) == "retry"
        assert store.read(db, "a-1")["webhook"] == "pending"  # type: ignore[index]
        assert deliver(db, "a-1", 2) == "delivered"
        assert deliver(db, "a-1", 3) == "already delivered"
        first, second = hook.requests_to("/hook")
        headers = second.headers
        assert headers[ALERT_ID_HEADER] == "a-1"
        assert verify("s3cret", int(headers[TIMESTAMP_HEADER]), second.raw,
                      headers[SIGNATURE_HEADER])
        assert second.body["id"] == "a-1" and "secret" not in second.raw.decode()
        assert first.raw == second.raw
    kept = store.read(db, "a-1")
    assert kept is not None and kept["webhook"] == "delivered" and kept["attempts"] == 2


def test_an_unreachable_webhook_is_a_retry_not_an_error(db, settings) -> None:
    store.set_webhook(db, "bob", "http://127.0.0.1:9/hook", "s", 1)
    raise_alert(db, settings, an_alert("b-1", "bob"), lambda *a: None)
    assert deliver(db, "b-1", 1) == "retry"
    assert store.read(db, "b-1")["webhook_detail"] == "ConnectionError"  # type: ignore[index]
