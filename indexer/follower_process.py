"""The follower process: stand by until this follower holds the block-log lease, then
follow the node into the pipeline until stopped or until the lease is lost.

Two followers against one database (a restart overlap, two replicas) never both write:
the second waits as a standby and takes over when the first stops renewing its lease.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from chain.follower import Follower, FollowerConfig, start_from
from core.retry import Outage
from core.settings import Settings
from indexer.log_writer import LogWriter, LostLease, Stopping
from indexer.sink import FollowerStatus, LeasedCursor, PipelineSink, Poke
from store.mongo import database

log = logging.getLogger("dhl.follow")


class FollowerProcess:
    def __init__(self, settings: Settings, poke: Poke, watchers: list[str]) -> None:
        assert settings.cardano_node is not None
        self.settings = settings
        self.node = settings.cardano_node
        self.poke = poke
        self.watchers = watchers
        self.db = database(settings)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.mongo = Outage("MongoDB", log)
        self.broker = Outage("the Celery broker (Redis)", log)
        self.writer = LogWriter(self.db, self.owner, float(settings.follower_lease_seconds),
                                str(self.node), self.mongo)
        # While leading: the follower and its loop, for a stop from a signal or the keeper.
        self._follower: Follower | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while self.writer.wait_for_lease():
                self._lead()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.writer.release()
        log.info("stopped")
        return 0

    def stop(self, *_: object) -> None:
        """From a signal handler: stop writing, stop following, do not stand by again."""
        self.writer.stop_writing()
        self._stop_following()

    def _stop_following(self) -> None:
        follower, loop = self._follower, self._loop
        if follower is not None and loop is not None:
            loop.call_soon_threadsafe(follower.stop)

    def _lead(self) -> None:
        """One term as the writer of the block log."""
        status = FollowerStatus(str(self.node), self.owner)
        sink = PipelineSink(self.db, self.poke, self.watchers, self.writer, status,
                            self.mongo, self.broker)
        try:
            sink.start()
            config = FollowerConfig(address=self.node, magic=self.settings.cardano_network.magic,
                                    start=start_from(self.settings.follow_from))
            follower = Follower(config, sink, LeasedCursor(self.db, self.writer, self.mongo))
        except LostLease as error:
            log.warning("%s; standing by", error)
            return
        except Stopping:
            return
        log.info("following %s on %s from %s, block log at event %d", self.node,
                 self.settings.cardano_network, "the saved cursor" if follower.crumbs.crumbs
                 else self.settings.follow_from, sink.seq)

        async def follow() -> None:
            self._follower, self._loop = follower, asyncio.get_running_loop()
            if not self.writer.stopping:
                await follower.run()

        self.writer.start_keeper(on_lost=self._stop_following,
                                 every=lambda: (sink.retry_pokes(), sink.beat()))
        try:
            asyncio.run(follow())
        except LostLease as error:
            log.warning("%s; this follower stops writing and stands by", error)
        except (asyncio.CancelledError, Stopping):
            pass
        finally:
            self._follower = self._loop = None
            self.writer.stop_keeper()
            status.connected = False
            if not self.writer.stopping:
                sink.beat(force=True)


def run_follower(settings: Settings, poke: Poke, watchers: list[str]) -> int:
    return FollowerProcess(settings, poke, watchers).run()
