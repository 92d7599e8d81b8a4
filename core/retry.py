"""Retrying through outages: wait with backoff, say so once, say so again when it is over.

Pure of the project's services: what counts as an outage is a predicate the caller gives
(store.transient.is_transient for MongoDB and Redis), so core stays free of drivers.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class Outage:
    """Logs the first failure of a dependency and its recovery, once each, whatever the
    number of calls that fail in between."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what
        self.log = log
        self.down_since: float | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException, doing: str) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.log.warning("%s is unreachable (%s while trying to %s: %s); retrying until "
                             "it is back", self.what, type(error).__name__, doing, error)

    def succeeded(self) -> None:
        if self.down_since is not None:
            self.log.warning("%s is back after %.1fs", self.what,
                             time.monotonic() - self.down_since)
            self.down_since = None


def until_done(action: Callable[[], T], doing: str, outage: Outage,
               is_transient: Callable[[BaseException], bool], *,
               initial_s: float = 0.25, max_s: float = 10.0,
               sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `action` until it succeeds; transient failures wait with exponential backoff,
    any other error is raised at once (a bug is not an outage)."""
    delay = initial_s
    while True:
        try:
            result = action()
        except Exception as error:
            if not is_transient(error):
                raise
            outage.failed(error, doing)
            sleep(delay)
            delay = min(delay * 2, max_s)
            continue
        outage.succeeded()
        return result
