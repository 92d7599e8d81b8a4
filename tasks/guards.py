"""The guards' Celery tasks, thin (tasks/guard_rules.py does the work; docs/guards.md).

- `guards.tick` (the beat, every GUARD_TICK_SECONDS): the kill switches swept (one
  `guards.exit` per open position they cover), then every guarded market's price
  against the current triggers: one `guards.execute` per trigger it fires.
- `guards.execute`: one fired trigger re-checked now and, once for good, acted on.
- `guards.exit`: a kill switch's emergency exit of one position, once per switch-on.
- `guards.health` (the beat, every HEALTH_REFRESH_SECONDS): the borrow rates watched (a
  loan moved where it pays, when asked: closed here, reopened there once settled), and
  the health triggers re-priced from the positions' books, re-armed where the health is
  back above their level.
- `guards.prices` (the beat, every GUARD_TICK_SECONDS): each guarded live market quoted
  by DexHunter and kept with its time (the tick reads it, and its age).
- `guards.watchdog` (the beat, every minute): stale prices and venue snapshots alerted.
- `guards.on_block` (sent by the block pipeline when a watcher applied blocks: a venue's
  state, our legs or wallets moved): the live prices and the health refresh, then a tick — the guards run on
  the chain's clock too, not only the beat's.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from celery import shared_task

from tasks.alerts import Alert, raise_alert
from tasks.celery_app import settings_of
from tasks.guard_moves import continue_moves, watch_rates
from tasks.guard_prices import refresh_prices, watchdog
from tasks.guard_rules import execute_trigger, exit_position, refresh_health, tick
from tasks.position_orders import Desk
from tasks.positions import ADVANCE_TASK, desk_for

log = logging.getLogger(__name__)

TICK_TASK = "guards.tick"
EXECUTE_TASK = "guards.execute"
EXIT_TASK = "guards.exit"
HEALTH_TASK = "guards.health"
ON_BLOCK_TASK = "guards.on_block"
PRICES_TASK = "guards.prices"
WATCHDOG_TASK = "guards.watchdog"


def _notify(app: Any, desk: Desk) -> Callable[[Alert], bool]:
    def notify(alert: Alert) -> bool:
        return raise_alert(desk.db, desk.settings, alert,
                           lambda name, alert_id: app.send_task(name, args=[alert_id]))
    return notify


def _enqueue(app: Any) -> Callable[[str], None]:
    return lambda position_id: app.send_task(ADVANCE_TASK, args=[position_id])


def _tick(app: Any, desk: Desk) -> int:
    expires = float(desk.settings.guard_tick_seconds) * 12
    return tick(desk,
                lambda trigger_id: app.send_task(EXECUTE_TASK, args=[trigger_id],
                                                 expires=expires),
                _notify(app, desk),
                lambda position_id, since: app.send_task(EXIT_TASK, args=[position_id, since],
                                                         expires=expires))


@shared_task(name=TICK_TASK, bind=True, ignore_result=True)
def guards_tick(self) -> int:
    return _tick(self.app, desk_for(settings_of(self.app)))


@shared_task(name=EXECUTE_TASK, bind=True, ignore_result=True)
def guards_execute(self, trigger_id: str) -> str:
    desk = desk_for(settings_of(self.app))
    outcome = execute_trigger(desk, trigger_id, _enqueue(self.app), _notify(self.app, desk))
    log.info("guards: trigger %s: %s", trigger_id, outcome)
    return outcome


@shared_task(name=EXIT_TASK, bind=True, ignore_result=True)
def guards_exit(self, position_id: str, since_ms: int) -> str:
    desk = desk_for(settings_of(self.app))
    outcome = exit_position(desk, position_id, int(since_ms), _enqueue(self.app),
                            _notify(self.app, desk))
    log.info("guards: exit %s: %s", position_id, outcome)
    return outcome


@shared_task(name=HEALTH_TASK, bind=True, ignore_result=True)
def guards_health(self) -> int:
    desk = desk_for(settings_of(self.app))
    notify = _notify(self.app, desk)
    watch_rates(desk, notify, _enqueue(self.app))
    continue_moves(desk, _enqueue(self.app), notify)
    return refresh_health(desk)


@shared_task(name=ON_BLOCK_TASK, bind=True, ignore_result=True)
def guards_on_block(self) -> int:
    desk = desk_for(settings_of(self.app))
    refresh_prices(desk)
    refresh_health(desk)
    return _tick(self.app, desk)


@shared_task(name=PRICES_TASK, bind=True, ignore_result=True)
def guards_prices(self) -> int:
    return refresh_prices(desk_for(settings_of(self.app)))


@shared_task(name=WATCHDOG_TASK, bind=True, ignore_result=True)
def guards_watchdog(self) -> list[str]:
    settings = settings_of(self.app)
    desk = desk_for(settings)
    return watchdog(desk, _notify(self.app, desk), list(settings.venues))
