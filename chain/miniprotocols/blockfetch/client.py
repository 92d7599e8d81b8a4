"""Block-fetch, client side: ranges of whole blocks, streamed in a batch."""
from __future__ import annotations

from typing import Mapping

from chain.errors import ChainError
from chain.miniprotocols.blockfetch import messages, states
from chain.mux import Channel
from chain.points import Point
from chain.statemachine import Agency, ProtocolPeer


class BlockNotAvailable(ChainError):
    """The node has none of the blocks of the range (NoBlocks)."""


class BlockFetchClient:
    def __init__(self, channel: Channel,
                 timeouts: Mapping[str, float | None] | None = None) -> None:
        self.peer = ProtocolPeer(channel, states.SPEC, Agency.CLIENT, messages.decode, timeouts)

    async def fetch_range(self, start: Point, end: Point) -> list[bytes]:
        """Every block of the inclusive range, each as CBOR of `[block_tag, block]`."""
        await self.request_range(start, end)
        try:
            return await self.receive_range()
        except BlockNotAvailable:
            raise BlockNotAvailable(f"the node has no blocks from {start} to {end}") from None

    async def request_range(self, start: Point, end: Point) -> None:
        """Ask for a range without waiting: several may be in flight (pipelining);
        `receive_range` gives their blocks in order."""
        await self.peer.send(messages.RequestRange(start, end))

    async def receive_range(self) -> list[bytes]:
        """The blocks of the oldest range asked for, each as CBOR of `[block_tag, block]`."""
        reply = await self.peer.recv()
        if isinstance(reply, messages.NoBlocks):
            raise BlockNotAvailable("the node has none of the blocks of a range asked for")
        blocks: list[bytes] = []
        while True:
            item = await self.peer.recv()
            if isinstance(item, messages.BatchDone):
                return blocks
            assert isinstance(item, messages.Block)
            blocks.append(item.wrapped)

    async def fetch(self, point: Point) -> bytes:
        blocks = await self.fetch_range(point, point)
        if len(blocks) != 1:
            raise BlockNotAvailable(f"asked for one block at {point}, got {len(blocks)}")
        return blocks[0]

    async def done(self) -> None:
        await self.peer.send(messages.ClientDone())
