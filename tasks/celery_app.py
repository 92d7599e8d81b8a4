"""The Celery application: `celery -A tasks worker|beat|flower` finds it as `tasks.app`."""
from __future__ import annotations

from celery import Celery
from celery.signals import after_setup_logger, worker_init, worker_process_init

from core.logging import configure_logging
from core.settings import Settings, load_settings_or_exit

#: Task modules, imported by every worker.
TASK_MODULES = ["tasks.system", "tasks.chain"]


def make_celery(settings: Settings) -> Celery:
    from tasks.celeryconfig import build_config

    app = Celery("dhl", include=TASK_MODULES)
    app.config_from_object(build_config(settings))
    app.conf.dhl_settings = settings
    return app


def settings_of(app: Celery) -> Settings:
    return app.conf.dhl_settings


app = make_celery(load_settings_or_exit())


@after_setup_logger.connect
def _redact_logs(logger, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    configure_logging(settings_of(app))


@worker_process_init.connect
def _fresh_connections(**kwargs) -> None:  # type: ignore[no-untyped-def]
    # pymongo clients must not cross a fork: each pool child opens its own.
    from store.mongo import close_all

    close_all()


@worker_init.connect
def _check_watchers(**kwargs) -> None:  # type: ignore[no-untyped-def]
    # A venue module that does not import must stop the worker now, in one line,
    # not fail every block later.
    import os
    import sys

    from core.errors import ConfigError
    from tasks.chain import _watchers

    try:
        _watchers()
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr, flush=True)
        os._exit(2)


@worker_init.connect
def _create_indexes(**kwargs) -> None:  # type: ignore[no-untyped-def]
    # Indexes are created at start by every process that writes; a worker must still
    # start while MongoDB is down (its tasks then retry), so a failure is only logged.
    import logging

    from store.indexes import ensure_indexes
    from store.mongo import connect

    settings = settings_of(app)
    client = connect(settings.mongo_url)
    try:
        ensure_indexes(client[settings.mongo_db])
    except Exception as error:
        logging.getLogger(__name__).warning("could not create MongoDB indexes at start (%s)",
                                            type(error).__name__)
    finally:
        client.close()
