"""Keep-alive, client side: a cookie every interval, and the node must echo it."""
from __future__ import annotations

import asyncio
import itertools

from chain.errors import DecodeError
from chain.miniprotocols.keepalive import messages, states
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


class KeepAliveClient:
    def __init__(self, channel: Channel) -> None:
        self.peer = ProtocolPeer(channel, states.SPEC, Agency.CLIENT, messages.decode)
        self._cookies = itertools.cycle(range(1, 0x10000))

    async def ping(self) -> None:
        cookie = next(self._cookies)
        await self.peer.send(messages.KeepAlive(cookie))
        reply = await self.peer.recv()
        assert isinstance(reply, messages.KeepAliveResponse)
        if reply.cookie != cookie:
            raise DecodeError(f"keep-alive: sent cookie {cookie}, the node echoed {reply.cookie}")

    async def run(self, interval_s: float) -> None:
        """Ping forever; a failure ends the task with the error (the connection is then closed)."""
        while True:
            await asyncio.sleep(interval_s)
            await self.ping()
