"""Raw blocks recently read from the block log, shared by every watcher this process
applies.

All watchers apply the same events, so each would read the same blocks; kept here, a
block read for one watcher serves the next without a round trip. In the block log a
hash names one block for good (the header it hashes commits to the body), so an entry
never goes stale; entries are keyed by database as well, since each test and bench run
has a database of its own and crafted test blocks reuse real headers. Bounded by bytes,
least recently used out first.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from store.mongo import Database

from store import chain_log

#: Mainnet blocks average a few tens of kB (at most ~90 kB): this keeps a batch of 200
#: events (DEFAULT_BATCH) several times over, so the watchers of one process can
#: follow each other through it.
MAX_BYTES = 16 * 1024 * 1024


class BlockCache:
    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._size = 0
        self._blocks: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, db: Database, block_hashes: list[str]) -> dict[str, bytes]:
        """Like `chain_log.load_blocks`: the blocks stored, by hash; one query at most."""
        found: dict[str, bytes] = {}
        with self._lock:
            for block_hash in block_hashes:
                raw = self._blocks.get((db.name, block_hash))
                if raw is not None:
                    self._blocks.move_to_end((db.name, block_hash))
                    found[block_hash] = raw
        missing = [h for h in block_hashes if h not in found]
        if missing:
            read = chain_log.load_blocks(db, missing)
            with self._lock:
                for block_hash, raw in read.items():
                    self._keep((db.name, block_hash), raw)
            found.update(read)
        return found

    def _keep(self, key: tuple[str, str], raw: bytes) -> None:
        if key in self._blocks or len(raw) > self._max_bytes:
            return
        self._blocks[key] = raw
        self._size += len(raw)
        while self._size > self._max_bytes:
            _, dropped = self._blocks.popitem(last=False)
            self._size -= len(dropped)


#: The process's cache (Celery workers apply many watchers in one process).
BLOCKS = BlockCache()
