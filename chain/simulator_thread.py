"""The node simulator on a real socket in a background thread of this process (tests and
benchmarks; `dhl simulate` runs it in the foreground)."""
from __future__ import annotations

import asyncio
import threading

from chain.address import NodeAddress
from chain.simulator import SimChain, Simulator, SimulatorConfig


class SimulatorThread:
    def __init__(self, config: SimulatorConfig, address: NodeAddress,
                 chain: SimChain | None = None) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.simulator = Simulator(config, chain)
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
