"""Recording what a follower hands its sink, and what chain that stream amounts to."""
from __future__ import annotations

import json
from pathlib import Path

from chain.ledger import Block
from chain.points import Point, Tip


class RecordingSink:
    def __init__(self) -> None:
        self.events: list[tuple[str, int | None, str | None]] = []

    def roll_forward(self, block: Block, tip: Tip) -> None:
        self.events.append(("forward", block.slot, block.hash.hex()))

    def roll_backward(self, point: Point, tip: Tip) -> None:
        self.events.append(("backward", point.slot, point.hash.hex() if point.hash else None))


class JsonLinesSink(RecordingSink):
    """Appends each event to a file and fsyncs it: what a crash leaves is exactly what was
    accepted. A torn last line (a crash mid-write) is cut off when the file is reopened."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                path.write_bytes(data[:data.rfind(b"\n") + 1])

    def _write(self, event: tuple[str, int | None, str | None]) -> None:
        import os

        with open(self.path, "a") as out:
            out.write(json.dumps(event) + "\n")
            out.flush()
            os.fsync(out.fileno())

    def roll_forward(self, block: Block, tip: Tip) -> None:
        self._write(("forward", block.slot, block.hash.hex()))

    def roll_backward(self, point: Point, tip: Tip) -> None:
        self._write(("backward", point.slot, point.hash.hex() if point.hash else None))


def read_events(path: Path) -> list[tuple[str, int | None, str | None]]:
    return [tuple(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def effective_chain(events) -> list[str]:
    """The block hashes the stream amounts to once every rollback is applied.

    A rollback to a point that is not in the stream is an error: that would be a gap.
    """
    chain: list[str] = []
    for kind, _slot, block_hash in events:
        if kind == "forward":
            assert block_hash not in chain, f"block {block_hash} applied twice"
            chain.append(block_hash)
        elif block_hash is None:
            chain = []
        else:
            assert block_hash in chain, f"rollback to {block_hash}, which was never applied"
            del chain[chain.index(block_hash) + 1:]
    return chain
