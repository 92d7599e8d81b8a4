"""Block-fetch, server side (for the node simulator)."""
from __future__ import annotations

from chain.miniprotocols.blockfetch import messages, states
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


def blockfetch_server(channel: Channel) -> ProtocolPeer:
    return ProtocolPeer(channel, states.SPEC, Agency.SERVER, messages.decode, {"Idle": None})
