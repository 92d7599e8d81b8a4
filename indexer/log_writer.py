"""One writer of the block log: the follower that holds the lease writes, others stand by.

`LogWriter.wait_for_lease` is the standby: it polls the lease until it is free or expired,
then takes it (compare-and-set) and says so. While leading, a keeper thread renews the
lease; every write first calls `check()`, which refuses once the lease was lost or is
less than half its length from expiry as this process last saw it, so a follower that
stalled (or lost MongoDB) stops writing before anyone else may start.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from core.retry import Outage
from store import writer_lease
from store.codec import decode_time
from store.mongo import Database
from store.transient import is_transient

log = logging.getLogger("dhl.follow")


class LostLease(Exception):
    """This follower no longer holds the block-log lease: it must stop writing."""


class Stopping(Exception):
    """The follower was asked to stop: a write waiting for MongoDB gives up."""


class LogWriter:
    def __init__(self, db: Database, owner: str, lease_s: float, node: str,
                 mongo: Outage, poll_s: float | None = None) -> None:
        self.db = db
        self.owner = owner
        self.lease_s = lease_s
        self.node = node
        self.mongo = mongo
        self.poll_s = poll_s if poll_s is not None else max(lease_s / 4, 0.2)
        self.term: int | None = None
        self._valid_until = 0.0  # monotonic: writes are refused from here on
        self._lost = threading.Event()
        self._stopping = threading.Event()
        self._stop_keeper = threading.Event()
        self._keeper: threading.Thread | None = None

    # -- standby ---------------------------------------------------------------------
    def wait_for_lease(self) -> bool:
        """Block until we hold the lease (True) or are asked to stop (False)."""
        announced = False
        while not self.stopping:
            started = time.monotonic()
            try:
                lease = writer_lease.take(self.db, self.owner, int(self.lease_s * 1000),
                                          self.node)
                holder = None if lease else writer_lease.read(self.db)
                self.mongo.succeeded()
            except Exception as error:
                if not is_transient(error):
                    raise
                self.mongo.failed(error, "take the block-log lease")
                self._stopping.wait(self.poll_s)
                continue
            if lease is not None:
                self.term = lease.term
                self._valid_until = started + self.lease_s / 2
                self._lost.clear()
                log.info("block-log lease taken (term %d): this follower (%s) now writes the "
                         "block log", lease.term, self.owner)
                return True
            if not announced and holder is not None:
                until = decode_time(holder.until_ms).isoformat(timespec="seconds")
                log.info("standby: the block log is written by %s (term %d, following %s, "
                         "lease until %s); taking over if it stops renewing", holder.owner,
                         holder.term, holder.node or "?", until)
                announced = True
            self._stopping.wait(self.poll_s)
        return False

    # -- leading ---------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop_writing(self) -> None:
        """From the signal handler: writes (and their waits) end with Stopping."""
        self._stopping.set()

    def sleep(self, seconds: float) -> None:
        """A retry's wait, cut short by a stop."""
        if self._stopping.wait(seconds):
            raise Stopping("the follower is stopping")

    def check(self) -> None:
        """Raise LostLease unless we may write now (Stopping once asked to stop)."""
        if self._stopping.is_set():
            raise Stopping("the follower is stopping")
        if self._lost.is_set():
            raise LostLease(f"the block-log lease (term {self.term}) was taken by another "
                            "follower")
        if time.monotonic() >= self._valid_until:
            # The keeper could not renew in time (MongoDB down, or this process stalled):
            # renew now, or stop writing.
            self.renew()
            if self._lost.is_set() or time.monotonic() >= self._valid_until:
                raise LostLease(f"the block-log lease (term {self.term}) could not be renewed "
                                "in time")

    def renew(self) -> bool:
        """One renewal attempt; False if it failed (lost, or MongoDB unreachable)."""
        if self.term is None or self._lost.is_set():
            return False
        started = time.monotonic()
        try:
            held = writer_lease.renew(self.db, self.owner, self.term, int(self.lease_s * 1000))
        except Exception as error:
            if not is_transient(error):
                raise
            self.mongo.failed(error, "renew the block-log lease")
            return False
        self.mongo.succeeded()
        if not held:
            if not self._lost.is_set():
                log.warning("block-log lease lost: another follower took it over (term %d "
                            "ended); this one stops writing and stands by", self.term)
            self._lost.set()
            return False
        self._valid_until = started + self.lease_s / 2
        return True

    def start_keeper(self, on_lost: Callable[[], None],
                     every: Callable[[], None] | None = None) -> None:
        """Renew the lease in the background (the follower may wait long for a block);
        `on_lost` is called once if it is lost, `every` on each round (heartbeats)."""
        self._stop_keeper.clear()

        def keep() -> None:
            while not self._stop_keeper.wait(self.lease_s / 5):
                if not self.renew() and self._lost.is_set():
                    on_lost()
                    return
                if every is not None:
                    try:
                        every()
                    except Exception:  # never let a heartbeat kill the keeper
                        log.exception("follower heartbeat failed")

        self._keeper = threading.Thread(target=keep, name="lease-keeper", daemon=True)
        self._keeper.start()

    def stop_keeper(self) -> None:
        self._stop_keeper.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)
            self._keeper = None

    def release(self) -> None:
        """At a clean stop: hand the lease back so a standby takes over at once. One try:
        with MongoDB down, the lease expires by itself."""
        if self.term is None or self._lost.is_set():
            return
        try:
            writer_lease.release(self.db, self.owner, self.term)
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("could not release the block-log lease (%s); it expires by itself",
                        type(error).__name__)
            return
        log.info("block-log lease released (term %d)", self.term)
