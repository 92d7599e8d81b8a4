"""Chain-sync, server side (for the node simulator): the peer state checks; the simulator
decides what to answer."""
from __future__ import annotations

from chain.miniprotocols.chainsync import messages, states
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


def chainsync_server(channel: Channel, node_to_client: bool) -> ProtocolPeer:
    # The server waits for the client as long as it likes (a follower may pause).
    idle_forever = {"Idle": None}
    return ProtocolPeer(channel, states.spec(node_to_client), Agency.SERVER, messages.decode,
                        idle_forever)
