"""Celery tasks: thin wrappers that take ids, re-read state and call the packages below.

`celery -A tasks ...` uses `tasks.app`.
"""
from tasks.celery_app import app

celery = app

__all__ = ["app", "celery"]
