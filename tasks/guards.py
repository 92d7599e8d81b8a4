"""The guards' Celery tasks, thin (tasks/guard_rules.py does the work; docs/guards.md).

- `guards.tick` (the beat, every GUARD_TICK_SECONDS): every market's paper price against
  the current triggers; one `guards.execute` per trigger it fires.
- `guards.execute`: one fired trigger re-checked now and, once for good, acted on.
"""
from __future__ import annotations

import logging

from celery import shared_task

from tasks.celery_app import settings_of
from tasks.guard_rules import execute_trigger, tick
from tasks.positions import ADVANCE_TASK, desk_for

log = logging.getLogger(__name__)

TICK_TASK = "guards.tick"
EXECUTE_TASK = "guards.execute"


@shared_task(name=TICK_TASK, bind=True, ignore_result=True)
def guards_tick(self) -> int:
    desk = desk_for(settings_of(self.app))
    return tick(desk, lambda trigger_id: self.app.send_task(EXECUTE_TASK, args=[trigger_id],
                                                            expires=60))


@shared_task(name=EXECUTE_TASK, bind=True, ignore_result=True)
def guards_execute(self, trigger_id: str) -> str:
    desk = desk_for(settings_of(self.app))
    outcome = execute_trigger(desk, trigger_id, lambda position_id: self.app.send_task(
        ADVANCE_TASK, args=[position_id]))
    log.info("guards: trigger %s: %s", trigger_id, outcome)
    return outcome
