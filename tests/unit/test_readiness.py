from __future__ import annotations

from datetime import datetime, timedelta, timezone

from app.readiness import Check, evaluate_follower, evaluate_heartbeat, summarize
from store.heartbeats import Heartbeat

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def beat(seconds_ago: float, **details):
    return Heartbeat("x", NOW - timedelta(seconds=seconds_ago), details)


def test_summary_names_each_required_service_down():
    ok, body = summarize([Check("mongodb", False, True, "down"), Check("redis", True, True, "ok"),
                          Check("broker", False, True, "down"),
                          Check("worker", False, False, "stale")])
    assert ok is False
    assert body["down"] == ["mongodb", "broker"]
    assert body["checks"]["worker"]["required"] is False


def test_summary_ready_when_required_checks_pass():
    ok, body = summarize([Check("mongodb", True, True, "ok"), Check("worker", False, False, "x")])
    assert ok is True and body == {**body, "ready": True, "down": []}


def test_follower_absent_is_fine_unless_required():
    assert evaluate_follower(None, NOW, 300, required=False).ok is True
    check = evaluate_follower(None, NOW, 300, required=True)
    assert (check.ok, check.detail) == (False, "no follower has reported yet")


def test_follower_stale_or_lagging_fails_when_required():
    assert evaluate_follower(beat(10, lag_seconds=20), NOW, 300, True).ok is True
    stale = evaluate_follower(beat(40, lag_seconds=0), NOW, 300, True, stale_after_s=30)
    assert not stale.ok and "last heartbeat 40s ago" in stale.detail
    lagging = evaluate_follower(beat(5, lag_seconds=1000), NOW, 300, True)
    assert not lagging.ok and "1000s behind" in lagging.detail


def test_follower_not_connected_or_without_blocks_is_down():
    node = "tcp://relay.example:3001"
    lost = evaluate_follower(beat(1, node=node, connected=False, problem="ConnectionRefused"),
                             NOW, 300, True)
    assert not lost.ok
    assert lost.detail == f"not connected to {node}: ConnectionRefused"
    last_block_ms = (NOW.timestamp() - 400) * 1000
    silent = evaluate_follower(beat(1, node=node, connected=True, last_block_ms=last_block_ms,
                                    lag_seconds=0), NOW, 300, True)
    assert not silent.ok and "no block for 400s" in silent.detail
    fresh = evaluate_follower(beat(1, node=node, connected=True,
                                   last_block_ms=(NOW.timestamp() - 20) * 1000), NOW, 300, True)
    assert fresh.ok and fresh.detail.startswith(f"connected to {node}")
    assert fresh.info["last_block_seconds_ago"] == 20.0


def test_heartbeat_reports_age_and_details():
    check = evaluate_heartbeat("worker", beat(12, hostname="h1"), NOW, 60, False, "never")
    assert check.ok and check.info == {"last_seen_seconds_ago": 12.0, "hostname": "h1"}
    assert evaluate_heartbeat("worker", None, NOW, 60, False, "never").detail == "never"
