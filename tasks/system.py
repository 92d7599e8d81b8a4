"""System tasks: the worker heartbeat that /ready and operators read."""
from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

from celery import shared_task

from store import heartbeats
from store.mongo import database
from tasks.celery_app import settings_of


@shared_task(name="guards.heartbeat", bind=True, ignore_result=False)
def heartbeat(self) -> dict[str, object]:
    """Record that a worker is consuming tasks. Idempotent: it only moves the time forward."""
    at = datetime.now(timezone.utc)
    details = {"hostname": socket.gethostname(), "pid": os.getpid()}
    heartbeats.record(database(settings_of(self.app)), "worker", at, details)
    return {"at": at.isoformat(), **details}
