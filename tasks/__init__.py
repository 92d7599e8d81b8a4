"""Celery tasks: thin wrappers that take ids, re-read state and call the packages below.

Importing this package has no side effect: no settings are read and no Celery app is
configured. `celery -A tasks ...` asks for `tasks.app`, which is built then, once, from
the environment; the web app and the tests build theirs with `make_celery(settings)`.
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("app", "celery"):
        from tasks.celery_app import app_from_environment

        return app_from_environment()
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
