"""Block-log events recently read, shared by every watcher this process applies.

Every watcher applies the same events, so each would read the same ones from MongoDB
(about 30 ms for 870 events with nx-27017); kept here, the events one watcher read serve
the next. An event never changes once written (the follower appends; a rollback is a
new event), compaction only deletes the oldest, and the log holds no gaps. So the cache
keeps one run of consecutive events per database and serves `(cursor, cursor + limit]`
from memory when MongoDB still holds the event after the cursor (then it holds every
later one the run has too) and it is the same one; only events beyond the run are asked
for.

A database dropped and filled again numbers its events from 1 again, so each run is
tied to the log's epoch (`chain_log.log_epoch`, read once per call): another epoch,
and the run is dropped. Bounded: the newest MAX_EVENTS events per database, the
MAX_DATABASES most recently used databases. A lock guards the runs (threads); a Celery
prefork child has a cache of its own.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from pymongo.database import Database

from store import chain_log
from store.chain_log import ChainEvent

MAX_EVENTS = 50_000
MAX_DATABASES = 4

#: A database: the server's addresses as the client knows them, and its name.
_Key = tuple[tuple[tuple[str, int | None], ...], str]


@dataclass
class _Run:
    """Consecutive events of one database's log: events[i].seq == first + i."""

    epoch: str
    events: list[ChainEvent] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.events[0].seq if self.events else 0

    @property
    def top(self) -> int:
        """The newest event held (0 when none)."""
        return self.events[-1].seq if self.events else 0

    def holds(self, seq: int) -> bool:
        return bool(self.events) and self.first <= seq <= self.top

    def slice(self, after: int, limit: int) -> list[ChainEvent]:
        start = after + 1 - self.first
        return self.events[start:start + limit]


class EventCache:
    def __init__(self, max_events: int = MAX_EVENTS, max_databases: int = MAX_DATABASES):
        self._max_events = max_events
        self._max_databases = max_databases
        self._runs: OrderedDict[_Key, _Run] = OrderedDict()
        self._lock = threading.Lock()

    def events_after(self, db: Database, seq: int, limit: int) -> list[ChainEvent]:
        """What `chain_log.events_after(db, seq, limit)` returns now, read from MongoDB
        only where the cache lacks it."""
        epoch = chain_log.log_epoch(db)
        key = (tuple(sorted(db.client.nodes)), db.name)
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.epoch != epoch:
                run = self._runs[key] = _Run(epoch)
            self._runs.move_to_end(key)
            while len(self._runs) > self._max_databases:
                self._runs.popitem(last=False)
            cached = run.slice(seq, limit) if run.holds(seq + 1) else []
            top = run.top
        if cached and chain_log.event_at(db, seq + 1) != cached[0]:
            # Compaction deletes from the oldest up, so when the event after the cursor is
            # there (and the one we hold), so is every later one we hold. It is not: start
            # again from what MongoDB holds.
            self._drop(key, epoch)
            cached = []
        if not cached:
            read = chain_log.events_after(db, seq, limit)
            self._keep(key, epoch, read)
            return read
        if len(cached) == limit:
            return cached
        newer = chain_log.events_after(db, top, limit - len(cached))
        self._keep(key, epoch, newer)
        return cached + newer

    def _drop(self, key: _Key, epoch: str) -> None:
        with self._lock:
            run = self._runs.get(key)
            if run is not None and run.epoch == epoch:
                run.events = []

    def _keep(self, key: _Key, epoch: str, read: list[ChainEvent]) -> None:
        """Join what was read to the run when the two meet or overlap (events never
        change, so where they overlap they agree), else put it in the run's place."""
        if not read or not _consecutive(read):
            return
        with self._lock:
            run = self._runs.get(key)
            if run is None or run.epoch != epoch:
                return  # the log changed under us, or the run was evicted: keep nothing
            first, top = run.first, run.top
            low, high = read[0].seq, read[-1].seq
            if run.events and low == top + 1:
                run.events.extend(read)  # the usual case: what followed the run
            elif run.events and low <= top + 1 and high >= first - 1:
                run.events = (run.events[:max(0, low - first)] + read
                              + run.events[max(0, high + 1 - first):])
            else:
                run.events = list(read)
            if len(run.events) > self._max_events:
                del run.events[:len(run.events) - self._max_events]


def _consecutive(events: list[ChainEvent]) -> bool:
    return events[-1].seq - events[0].seq == len(events) - 1


#: The process's cache (Celery workers apply many watchers in one process).
EVENTS = EventCache()
