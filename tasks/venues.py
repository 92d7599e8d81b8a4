"""Venue tasks: the beat's refresh of every venue's markets from its API (and of what a
venue learns from it about its own scripts, LeverageSource.discover).

`guards.refresh_venue_markets` is idempotent (each run replaces each venue's snapshot
whole, newest fetch wins) and one venue's failure leaves that venue's previous snapshot
and does not stop the others (indexer/venue_state.py).
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, Mapping

from celery import shared_task

from core.errors import AppError
from core.settings import Settings
from indexer.venue_state import off_reason, refresh_markets
from protocols.base import LeverageSource
from store.mongo import Database, database
from tasks.celery_app import settings_of

log = logging.getLogger(__name__)

REFRESH_TASK = "guards.refresh_venue_markets"


@lru_cache(maxsize=4)
def venue_sources(settings: Settings) -> dict[str, LeverageSource]:
    """Every registered venue, built once per settings (their HTTP sessions are reused):
    also those the pipeline does not run because they watch nothing on this network (a
    venue without token data here still has API markets: Liqwid in paper mode)."""
    from indexer.venue_state import leverage_sources

    return leverage_sources(settings)


def refresh_all(db: Database, sources: Mapping[str, LeverageSource],
                settings: Settings) -> dict[str, dict[str, Any]]:
    """The task's body: every venue that is on, in name order."""
    results: dict[str, dict[str, Any]] = {}
    for name, source in sorted(sources.items()):
        if off_reason(settings, source) is not None:
            continue
        result = refresh_markets(db, source)
        results[name] = {"stored": result.stored, "error": result.error,
                         "discovered": _discover(source)}
    return results


def _discover(source: LeverageSource) -> str | None:
    """A venue's identifiers learned from its API (Surf's scripts); a failure is one log
    line and the markets refreshed all the same."""
    try:
        found = source.discover()
    except AppError as error:
        log.warning("venue %s: nothing learned from its API (%s: %s)", source.name,
                    type(error).__name__, str(error).splitlines()[0] if str(error) else "")
        return None
    if found:
        log.info("venue %s: %s", source.name, found)
    return found


@shared_task(name=REFRESH_TASK, bind=True, ignore_result=True)
def refresh_venue_markets(self) -> dict[str, dict[str, Any]]:
    settings = settings_of(self.app)
    return refresh_all(database(settings), venue_sources(settings), settings)
