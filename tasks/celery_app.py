"""The Celery application, built from explicit settings.

`make_celery(settings)` is the one way to build it; `celery -A tasks worker|beat|flower`
gets the app built from the environment (`app_from_environment`). Tasks read the
settings of the app that runs them (`settings_of(task.app)`), never a global.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, worker_init, worker_process_init, worker_ready

from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit

#: Task modules, imported by every worker.
TASK_MODULES = ["tasks.system", "tasks.chain", "tasks.venues", "tasks.positions", "tasks.guards",
                "tasks.alerts"]


def make_celery(settings: Settings) -> Celery:
    from tasks.celeryconfig import build_config

    app = Celery("dhl", include=TASK_MODULES, set_as_current=True)
    app.config_from_object(build_config(settings))
    app.conf.dhl_settings = settings
    return app


@lru_cache(maxsize=1)
def app_from_environment() -> Celery:
    """The app of `celery -A tasks`: settings from the environment, one config line and
    exit 2 when they are wrong."""
    return make_celery(load_settings_or_exit())


def settings_of(app: Celery) -> Settings:
    return app.conf.dhl_settings


def _current_settings() -> Settings:
    from celery import current_app

    return settings_of(current_app)


@after_setup_logger.connect
def _redact_logs(logger: Any, *args: Any, **kwargs: Any) -> None:
    configure_logging(_current_settings())


@worker_process_init.connect
def _fresh_connections(**kwargs: Any) -> None:
    # pymongo clients must not cross a fork: each pool child opens its own.
    from store.mongo import close_all

    close_all()


@worker_init.connect
def _check_watchers(sender: Any = None, **kwargs: Any) -> None:
    # A venue module that does not import must stop the worker now, in one line,
    # not fail every block later.
    import os
    import sys

    from core.errors import ConfigError
    from tasks.chain import watchers_of

    try:
        watchers_of(_current_settings())
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr, flush=True)
        os._exit(2)


@worker_init.connect
def _create_indexes(**kwargs: Any) -> None:
    # Indexes are created at start by every process that writes; a worker must still
    # start while MongoDB is down (its tasks then retry), so a failure is only logged.
    import logging

    from store.indexes import ensure_indexes
    from store.mongo import connect

    settings = _current_settings()
    client = connect(settings.mongo_url)
    try:
        ensure_indexes(client[settings.mongo_db])
    except Exception as error:
        logging.getLogger(__name__).warning("could not create MongoDB indexes at start (%s)",
                                            type(error).__name__)
    finally:
        client.close()


@worker_ready.connect
def _refresh_markets_now(sender: Any = None, **kwargs: Any) -> None:
    # The beat refreshes the venues' markets once a period; a stack that has just started
    # should not show none until then. Refreshing is idempotent, so every worker may ask.
    import logging

    from tasks.venues import REFRESH_TASK

    try:
        sender.app.send_task(REFRESH_TASK, expires=60)
        # Positions a dead worker left mid-flow go on now, not at the beat's next tick.
        sender.app.send_task("execution.resume_positions", expires=60)
    except Exception as error:  # the broker is down: the beat's next tick will do
        logging.getLogger(__name__).warning("could not ask for a market refresh at start (%s)",
                                            type(error).__name__)
