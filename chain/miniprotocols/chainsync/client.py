"""Chain-sync, client side: find an intersection, then ask for the next update."""
from __future__ import annotations

from typing import Mapping

from chain.errors import DecodeError
from chain.miniprotocols.chainsync import messages, states
from chain.mux import Channel
from chain.points import Point, Tip
from chain.statemachine import Agency, ProtocolPeer


class ChainSyncClient:
    def __init__(self, channel: Channel, node_to_client: bool,
                 timeouts: Mapping[str, float | None] | None = None) -> None:
        self.node_to_client = node_to_client
        self.peer = ProtocolPeer(channel, states.spec(node_to_client), Agency.CLIENT,
                                 messages.decode, timeouts)
        self._in_flight = 0

    async def find_intersect(self, points: list[Point]) -> tuple[Point | None, Tip]:
        """The newest of `points` on the node's chain (None if none is), and the node's tip."""
        await self.peer.send(messages.FindIntersect(points))
        reply = await self.peer.recv()
        if isinstance(reply, messages.IntersectFound):
            if reply.point not in points:
                raise DecodeError(f"the node intersected at {reply.point}, which we did not "
                                  "offer")
            return reply.point, reply.tip
        assert isinstance(reply, messages.IntersectNotFound)
        return None, reply.tip

    @property
    def in_flight(self) -> int:
        """RequestNext sent whose RollForward/RollBackward we have not taken yet."""
        return self._in_flight

    async def request(self) -> None:
        """Send one RequestNext. Several may be in flight (pipelining); `next_update`
        gives their answers in order."""
        self._in_flight += 1  # counted before the bytes leave: a cancelled send still counts
        await self.peer.send(messages.RequestNext())

    async def next_update(self) -> messages.RollForward | messages.RollBackward | \
            messages.AwaitReply:
        """The next message answering the oldest request in flight: AwaitReply when the
        node is at its tip (the real answer follows), then RollForward or RollBackward."""
        reply = await self.peer.recv()
        if isinstance(reply, (messages.RollForward, messages.RollBackward)):
            self._in_flight -= 1
        else:
            assert isinstance(reply, messages.AwaitReply)
        return reply

    async def done(self) -> None:
        await self.peer.send(messages.Done())
