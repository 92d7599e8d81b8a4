"""The node simulator on a real socket, in a background thread, for tests."""
from __future__ import annotations

from pathlib import Path

from chain.address import NodeAddress
from chain.blockfile import read_blocks
from chain.ledger import Block
from chain.simulator import SimBlock
from chain.simulator_thread import SimulatorThread
from tests.support.fixtures import fixtures_dir

PREPROD_MAGIC = 1
__all__ = ["PREPROD_MAGIC", "SimulatorThread", "preprod_blocks", "preprod_chain",
           "preview_blocks", "unix_address"]


def preprod_chain(count: int | None = None) -> list[Block]:
    """The first `count` of the 864 linked blocks of the recorded preprod chunk."""
    chunk = fixtures_dir() / "cardano" / "segments" / "preprod-babbage-chunk01285" / "01285.chunk"
    return read_blocks(chunk, PREPROD_MAGIC)[:count]


def preprod_blocks(count: int | None = None) -> list[SimBlock]:
    return [SimBlock.of(b) for b in preprod_chain(count)]


def preview_blocks() -> list[SimBlock]:
    folder = fixtures_dir() / "cardano" / "segments" / "preview-conway-argus-h3319101"
    return [SimBlock.of(b) for b in read_blocks(folder, 2)]


def unix_address(tmp_path: Path) -> NodeAddress:
    return NodeAddress("unix", path=str(tmp_path / "node.socket"))
