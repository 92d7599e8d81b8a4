"""The node simulator on a real socket, in a background thread, for tests."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from chain.address import NodeAddress
from chain.blockfile import read_blocks
from chain.ledger import Block
from chain.simulator import SimBlock, Simulator, SimulatorConfig
from tests.support.fixtures import fixtures_dir

PREPROD_MAGIC = 1


def preprod_chain(count: int | None = None) -> list[Block]:
    """The first `count` of the 864 linked blocks of the recorded preprod chunk."""
    chunk = fixtures_dir() / "cardano" / "segments" / "preprod-babbage-chunk01285" / "01285.chunk"
    return read_blocks(chunk, PREPROD_MAGIC)[:count]


def preprod_blocks(count: int | None = None) -> list[SimBlock]:
    return [SimBlock.of(b) for b in preprod_chain(count)]


def preview_blocks() -> list[SimBlock]:
    folder = fixtures_dir() / "cardano" / "segments" / "preview-conway-argus-h3319101"
    return [SimBlock.of(b) for b in read_blocks(folder, 2)]


class SimulatorThread:
    def __init__(self, config: SimulatorConfig, address: NodeAddress) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.simulator = Simulator(config)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.simulator.start(address), self.loop).result(10)
        if address.scheme == "tcp":
            address = NodeAddress("tcp", address.host, self.simulator.port)
        self.address = address

    @property
    def submitted(self) -> list[tuple[int, bytes]]:
        return self.simulator.chain.submitted

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.simulator.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def unix_address(tmp_path: Path) -> NodeAddress:
    return NodeAddress("unix", path=str(tmp_path / "node.socket"))
