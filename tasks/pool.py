"""The worker's process pool: Celery's prefork pool, checking for dead pool processes
every half second instead of every five.

A pool process that dies mid-task (killed, out of memory) is noticed by its exit
sentinel; but when the sentinel fires before the process can be reaped, billiard finds
nothing to join and the dead process is only replaced, and its task given back, at the
next periodic `maintain_pool` — 5 s later by default. Checking more often costs one
non-blocking `waitpid` per pool process and brings a lost task back sooner.
"""
from __future__ import annotations

from typing import Any, Callable

from celery.concurrency.asynpool import AsynPool
from celery.concurrency.prefork import TaskPool

#: Seconds between the pool's checks for exited processes.
MAINTAIN_SECONDS = 0.5


class QuickMaintainAsynPool(AsynPool):
    @property
    def timers(self) -> dict[Callable[..., Any], float]:
        return {self.maintain_pool: MAINTAIN_SECONDS}


class QuickRecoveryPool(TaskPool):
    """The prefork pool (`worker_pool`), its dead processes replaced within half a second."""

    Pool = QuickMaintainAsynPool
