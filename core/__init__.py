"""Shared foundations: settings, errors, secrets and logging. No Flask, Celery or MongoDB here."""
