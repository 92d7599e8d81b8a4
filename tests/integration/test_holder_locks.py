"""A position lock left by a dead process of this host is taken over at once; any other
holder's is not (store/holder_locks.py), on the real Redis."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from store.holder_locks import holder_of, holder_token, take_from_dead_holder
from tasks.celeryconfig import build_config
from tasks.pool import MAINTAIN_SECONDS, QuickMaintainAsynPool

pytestmark = pytest.mark.integration


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_tokens_name_their_holder() -> None:
    host, pid = holder_of(holder_token()) or ("", 0)
    assert (host, pid) == (socket.gethostname(), os.getpid())
    assert holder_of(b"h/12/ab") == ("h", 12)
    for odd in (None, b"", "no-slashes", "h/x/ab", "h/1/2/3", 12):
        assert holder_of(odd) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("holder, taken", [
    ("dead", True), ("self", False), ("alive", False), ("other-host", False), ("odd", False),
])
def test_only_a_dead_local_holder_loses_its_lock(redis_client, holder: str, taken: bool) -> None:
    host = socket.gethostname()
    value = {"dead": f"{host}/{dead_pid()}/r", "self": f"{host}/{os.getpid()}/r",
             "alive": f"{host}/{os.getppid()}/r", "other-host": f"{host}-x/{dead_pid()}/r",
             "odd": "redis-py-uuid"}[holder]
    name = f"dhl-test:holder-lock:{holder}:{os.getpid()}"
    redis_client.set(name, value, px=30_000)
    try:
        assert take_from_dead_holder(redis_client, name) is taken
        assert (redis_client.get(name) is None) is taken
    finally:
        redis_client.delete(name)


def test_a_lock_gone_or_changed_is_not_deleted(redis_client) -> None:
    name = f"dhl-test:holder-lock:gone:{os.getpid()}"
    assert take_from_dead_holder(redis_client, name) is False


def test_workers_replace_dead_pool_processes_within_half_a_second() -> None:
    from core.settings import settings_from_mapping

    config = build_config(settings_from_mapping({}))
    assert config["worker_pool"] == "tasks.pool:QuickRecoveryPool"
    assert list(QuickMaintainAsynPool.timers.fget(object.__new__(QuickMaintainAsynPool))
                .values()) == [MAINTAIN_SECONDS] == [0.5]
