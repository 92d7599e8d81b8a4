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
import threading

from chain.follower import Follower, FollowerConfig, start_from
from core.retry import Outage
from core.settings import Settings
from indexer.log_writer import LogWriter, LostLease, Stopping
from indexer.sink import FollowerStatus, LeasedCursor, PipelineSink, Poke
from store.mongo import database

log = logging.getLogger("dhl.follow")


def run_follower(settings: Settings, poke: Poke, watchers: list[str]) -> int:
    assert settings.cardano_node is not None
    db = database(settings)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    node = str(settings.cardano_node)
    mongo = Outage("MongoDB", log)
    broker = Outage("the Celery broker (Redis)", log)
    writer = LogWriter(db, owner, float(settings.follower_lease_seconds), node, mongo)
    stopping = threading.Event()
    current: dict[str, object] = {}

    def stop(*_: object) -> None:
        stopping.set()
        writer.stop_writing()
        follower, loop = current.get("follower"), current.get("loop")
        if isinstance(follower, Follower) and isinstance(loop, asyncio.AbstractEventLoop):
            loop.call_soon_threadsafe(follower.stop)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stopping.is_set():
            if not writer.wait_for_lease(stopping.is_set):
                break
            _lead(settings, db, writer, poke, watchers, mongo, broker, owner, current,
                  stopping)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        writer.release()
    log.info("stopped")
    return 0


def _lead(settings: Settings, db: object, writer: LogWriter, poke: Poke, watchers: list[str],
          mongo: Outage, broker: Outage, owner: str, current: dict[str, object],
          stopping: threading.Event) -> None:
    """One term as the writer of the block log."""
    assert settings.cardano_node is not None
    status = FollowerStatus(str(settings.cardano_node), owner)
    sink = PipelineSink(db, poke, watchers, writer, status, mongo, broker)  # type: ignore[arg-type]
    try:
        sink.start()
        cursor = LeasedCursor(db, writer, mongo)  # type: ignore[arg-type]
        config = FollowerConfig(address=settings.cardano_node,
                                magic=settings.cardano_network.magic,
                                start=start_from(settings.follow_from))
        follower = Follower(config, sink, cursor)
    except LostLease as error:
        log.warning("%s; standing by", error)
        return
    except Stopping:
        return
    log.info("following %s on %s from %s, block log at event %d", settings.cardano_node,
             settings.cardano_network, "the saved cursor" if follower.crumbs.crumbs
             else settings.follow_from, sink.seq)

    async def main() -> None:
        current["loop"], current["follower"] = asyncio.get_running_loop(), follower
        if stopping.is_set():
            return
        await follower.run()

    def lost() -> None:
        loop = current.get("loop")
        if isinstance(loop, asyncio.AbstractEventLoop):
            loop.call_soon_threadsafe(follower.stop)

    writer.start_keeper(on_lost=lost, every=lambda: (sink.retry_pokes(), sink.beat()))
    try:
        asyncio.run(main())
    except LostLease as error:
        log.warning("%s; this follower stops writing and stands by", error)
    except (asyncio.CancelledError, Stopping):
        pass
    finally:
        current.clear()
        writer.stop_keeper()
        status.connected = False
        if not stopping.is_set():
            sink.beat(force=True)
