"""The node-to-node client's protocols against the simulator over TCP."""
from __future__ import annotations

import asyncio

import pytest

from chain.address import NodeAddress
from chain.client import NodeClient
from chain.errors import HandshakeRefused, WrongNetwork
from chain.ledger import decode_block
from chain.miniprotocols.blockfetch.client import BlockNotAvailable
from chain.miniprotocols.handshake.client import wrong_network
from chain.miniprotocols.handshake.messages import Refuse
from chain.miniprotocols.handshake.versions import mismatch_text
from chain.points import Point
from chain.simulator import SimulatorConfig
from tests.support.simulator import PREPROD_MAGIC, SimulatorThread, preprod_blocks

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sim():
    blocks = preprod_blocks(30)
    simulator = SimulatorThread(SimulatorConfig(blocks, PREPROD_MAGIC),
                                NodeAddress("tcp", "127.0.0.1", 0))
    yield simulator, blocks
    simulator.stop()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_block_fetch_ranges_and_batches(sim):
    simulator, blocks = sim

    async def scenario():
        async with await NodeClient.connect(simulator.address, PREPROD_MAGIC) as client:
            assert not client.node_to_client and client.version in (14, 15, 16)
            fetched = await client.blockfetch.fetch_range(blocks[3].point, blocks[12].point)
            single = await client.blockfetch.fetch(blocks[20].point)
            with pytest.raises(BlockNotAvailable):
                await client.blockfetch.fetch(Point(1, bytes(32)))
            again = await client.blockfetch.fetch(blocks[0].point)  # still usable after NoBlocks
            return fetched, single, again

    fetched, single, again = run(scenario())
    assert [decode_block(b).hash for b in fetched] == [b.point.hash for b in blocks[3:13]]
    assert decode_block(single).hash == blocks[20].point.hash
    assert decode_block(again).hash == blocks[0].point.hash


def test_keep_alive_echoes_cookies(sim):
    simulator, _ = sim

    async def scenario():
        async with await NodeClient.connect(simulator.address, PREPROD_MAGIC,
                                            keepalive_interval_s=None) as client:
            for _ in range(3):
                await client.keepalive.ping()
            return client.keepalive.peer.state

    assert run(scenario()) == "Client"


def test_wrong_network_is_refused_by_the_node(sim):
    simulator, _ = sim

    async def scenario():
        await NodeClient.connect(simulator.address, 764824073)

    with pytest.raises(WrongNetwork) as caught:
        run(scenario())
    assert isinstance(caught.value, HandshakeRefused)  # still a peer error for the follower
    assert (caught.value.ours, caught.value.theirs) == (764824073, PREPROD_MAGIC)
    assert str(caught.value) == (f"the node at {simulator.address} is on preprod (magic 1), "
                                 "not mainnet (magic 764824073)")


# cardano-node's own words (ouroboros-network `acceptableVersion`: `show local /= show
# remote`), as cncli shows them for a testnet relay asked for mainnet.
NODE_REFUSAL_N2N = (
    "version data mismatch: NodeToNodeVersionData {networkMagic = NetworkMagic {unNetworkMagic "
    "= 1097911063}, diffusionMode = InitiatorAndResponderDiffusionMode} /= NodeToNodeVersionData "
    "{networkMagic = NetworkMagic {unNetworkMagic = 764824073}, diffusionMode = "
    "InitiatorAndResponderDiffusionMode}")
NODE_REFUSAL_N2C = (
    "version data mismatch: NodeToClientVersionData {networkMagic = NetworkMagic {unNetworkMagic "
    "= 1}, query = False} /= NodeToClientVersionData {networkMagic = NetworkMagic "
    "{unNetworkMagic = 2}, query = False}")


def test_a_node_refusing_our_magic_is_read_as_a_wrong_network():
    wrong = wrong_network(Refuse([2, 14, NODE_REFUSAL_N2N]), 764824073)
    assert wrong is not None and wrong.theirs == 1097911063
    assert str(wrong) == "the node is on network magic 1097911063, not mainnet (magic 764824073)"
    wrong = wrong_network(Refuse([2, 0x8010, NODE_REFUSAL_N2C]), 2)
    assert wrong is not None and str(wrong) == "the node is on preprod (magic 1), not preview " \
                                               "(magic 2)"
    # A mismatch whose text names no other magic: still the network, said with the text.
    wrong = wrong_network(Refuse([2, 14, "version data mismatch: ?"]), 1)
    assert wrong is not None and wrong.theirs is None
    assert str(wrong) == "the node is not on preprod (magic 1): version data mismatch: ?"
    # Other refusals are not about the network.
    assert wrong_network(Refuse([0, [14, 15]]), 1) is None
    assert wrong_network(Refuse([2, 14, "refused: too many peers"]), 1) is None
    assert wrong_network(Refuse([1, 14, "decode error"]), 1) is None


def test_the_simulator_refuses_as_cardano_node_does():
    text = mismatch_text(False, ours=1, theirs=764824073)
    assert text.startswith("version data mismatch: NodeToNodeVersionData {networkMagic = "
                           "NetworkMagic {unNetworkMagic = 1}")
    assert wrong_network(Refuse([2, 14, text]), 764824073).theirs == 1


def test_intersect_finds_the_newest_known_point(sim):
    simulator, blocks = sim

    async def scenario():
        async with await NodeClient.connect(simulator.address, PREPROD_MAGIC) as client:
            unknown = Point(blocks[29].point.slot + 1, bytes(32))
            found, tip = await client.chainsync.find_intersect(
                [unknown, blocks[10].point, blocks[5].point])
            missing, _ = await client.chainsync.find_intersect([unknown])
            return found, tip, missing

    found, tip, missing = run(scenario())
    assert found == blocks[10].point and tip.point == blocks[29].point and missing is None
