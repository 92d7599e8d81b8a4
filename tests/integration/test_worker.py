"""A real Celery worker, consuming from the real Redis, runs a task and writes to MongoDB."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from store import heartbeats
from tasks.celery_app import make_celery
from tests.support.worker import WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def worker(test_env, settings, tmp_path, redis_client):
    app = make_celery(settings)
    proc = WorkerProcess(test_env, tmp_path / "worker.log")
    try:
        proc.wait_ready(app)
        yield app, proc
    finally:
        proc.stop()
        app.close()


def test_heartbeat_task_runs_end_to_end(worker, db):
    app, proc = worker
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    result = app.send_task("guards.heartbeat")
    reply = result.get(timeout=60)
    doc = heartbeats.read(db, "worker")
    assert doc is not None, proc.log()
    assert doc.at >= before
    # Written by the worker's pool process, not by this test process.
    assert doc.details["pid"] == reply["pid"] != os.getpid()
    assert "Task guards.heartbeat" in proc.log()


def test_tasks_travel_under_the_namespace_only(worker, redis_client, settings):
    app, _ = worker
    app.send_task("guards.heartbeat").get(timeout=60)
    keys = [k.decode() for k in redis_client.scan_iter(count=1000)
            if settings.redis_namespace.encode() in k]
    assert keys, "the task left no trace under the test namespace"
    assert all(k.startswith(settings.redis_namespace) or k.startswith("_kombu")
               for k in keys), keys
