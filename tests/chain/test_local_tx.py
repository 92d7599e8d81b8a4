"""Node-to-client local tx-submission against the simulator over a Unix socket."""
from __future__ import annotations

import asyncio

import cbor2
import pytest

from chain.client import NodeClient
from chain.miniprotocols.localtxsubmission.client import TxRejected
from chain.simulator import SimulatorConfig
from tests.support.simulator import SimulatorThread, preview_blocks, unix_address

pytestmark = pytest.mark.integration


def test_submit_accepted_and_rejected(tmp_path):
    sim = SimulatorThread(SimulatorConfig(preview_blocks()[:3], 2), unix_address(tmp_path))
    tx = cbor2.dumps([{0: [], 1: [], 2: 170000}, {}, True, None])

    async def scenario() -> None:
        client = await NodeClient.connect(sim.address, 2)
        try:
            assert client.node_to_client and client.version & 0x8000
            await client.local_tx.submit(6, tx)
            with pytest.raises(TxRejected):
                await client.local_tx.submit(6, b"\xff\xff")
        finally:
            await client.close()

    try:
        asyncio.run(scenario())
    finally:
        sim.stop()
    assert sim.submitted == [(6, tx)]
