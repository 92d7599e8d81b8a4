"""Helpers for block-pipeline tests: write a block log like the follower does, snapshot
the derived state, and the state it must equal (tests/support/reference.py)."""
from __future__ import annotations

from typing import Any

from store.mongo import Database

from chain.ledger import Block
from core.settings import Settings
from indexer.watchers import active_watchers
from store import chain_log, own_txs, utxos, watcher_cursors
from tests.support.reference import reference_state


def watchers(settings: Settings) -> dict[str, Any]:
    import protocols.demo  # noqa: F401  (registers the demo watchers)

    return active_watchers(settings)


def rollback_script(blocks: list[Block], rollbacks: list[tuple[int, int]]) -> list[tuple]:
    """Forward through `blocks`; after block index `after` roll back `depth` blocks, then go
    on. The surviving chain is `blocks` itself."""
    ops: list[tuple] = []
    i = 0
    pending = sorted(rollbacks)
    while i < len(blocks):
        ops.append(("forward", blocks[i]))
        if pending and pending[0][0] == i:
            _, depth = pending.pop(0)
            i -= depth
            ops.append(("backward", blocks[i] if i >= 0 else None))
        i += 1
    return ops


def write_log(db: Database, ops: list[tuple], first_seq: int = 1) -> int:
    seq = first_seq - 1
    for kind, block in ops:
        seq += 1
        if kind == "forward":
            chain_log.store_block(db, block.hash.hex(), block.slot, block.height, block.era,
                                  block.raw)
            chain_log.append_event(db, seq, "forward", block.slot, block.hash.hex(),
                                   block.height, block.tx_count)
        elif block is None:
            chain_log.append_event(db, seq, "backward", -1, None, 0)
        else:
            chain_log.append_event(db, seq, "backward", block.slot, block.hash.hex(),
                                   block.height)
    return seq


def expected_state(settings: Settings, blocks: list[Block],
                   submitted: list[str]) -> dict[str, list[dict[str, Any]]]:
    """What `snapshot()` must show once the pipeline has applied the surviving chain
    `blocks`, with `submitted` recorded as our own txs (purpose "test"): a fold written
    apart from the pipeline, so agreeing with it means right, not just repeatable."""
    return reference_state(blocks, watchers(settings), submitted)


def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {
        utxos.COLLECTION: sorted(db[utxos.COLLECTION].find(), key=lambda d: d["_id"]),
        # When it was sent, and whether a rollback ever re-opened it, are its history,
        # not what the surviving chain says (the reference folds only that chain).
        own_txs.COLLECTION: sorted(({k: v for k, v in d.items()
                                     if k not in ("submitted_ms", "rolled_back", "sent_ms")}
                                    for d in db[own_txs.COLLECTION].find()),
                                   key=lambda d: d["_id"]),
    }


def all_caught_up(db: Database, names: list[str]) -> bool:
    last = chain_log.last_seq(db)
    cursors = {c.watcher: c for c in watcher_cursors.read_all(db)}
    return all(name in cursors and cursors[name].seq == last for name in names)


def leading_sink(db: Database, poke: Any, watchers: list[str], owner: str = "test-follower"):
    """A PipelineSink as the follower builds it, holding the block-log lease."""
    import logging

    from core.retry import Outage
    from indexer.log_writer import LogWriter
    from indexer.sink import FollowerStatus, PipelineSink

    log = logging.getLogger("tests.follow")
    mongo, broker = Outage("MongoDB", log), Outage("the broker", log)
    writer = LogWriter(db, owner, 30.0, "test-node", mongo)
    assert writer.wait_for_lease()
    sink = PipelineSink(db, poke, watchers, writer, FollowerStatus("test-node", owner), mongo,
                        broker)
    sink.start()
    return sink
