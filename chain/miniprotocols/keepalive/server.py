"""Keep-alive, server side (for the node simulator): echo every cookie."""
from __future__ import annotations

from chain.miniprotocols.keepalive import messages, states
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


async def serve_keepalive(channel: Channel) -> None:
    peer = ProtocolPeer(channel, states.SPEC, Agency.SERVER, messages.decode, {"Client": None})
    while True:
        message = await peer.recv()
        if isinstance(message, messages.Done):
            return
        assert isinstance(message, messages.KeepAlive)
        await peer.send(messages.KeepAliveResponse(message.cookie))
