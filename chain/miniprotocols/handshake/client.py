"""Handshake, initiator side: propose our versions and check what the peer accepted."""
from __future__ import annotations

from typing import Any

from chain.errors import HandshakeRefused
from chain.miniprotocols.handshake import messages, states, versions
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


async def handshake(channel: Channel, magic: int, node_to_client: bool,
                    timeout: float = states.TIMEOUT_S) -> tuple[int, Any]:
    """Returns the accepted (version, version data); raises HandshakeRefused otherwise."""
    peer = ProtocolPeer(channel, states.SPEC, Agency.CLIENT, messages.decode,
                        {"Confirm": timeout})
    proposed = versions.proposal(node_to_client, magic)
    await peer.send(messages.ProposeVersions(proposed))
    reply = await peer.recv()
    if isinstance(reply, messages.Refuse):
        raise HandshakeRefused(f"the node refused the handshake: {reply.describe()}")
    if isinstance(reply, messages.QueryReply):
        raise HandshakeRefused("the node answered a version query we did not ask for")
    assert isinstance(reply, messages.AcceptVersion)
    if reply.version not in proposed:
        raise HandshakeRefused(f"the node accepted version {reply.version}, which we did not "
                               "propose")
    peer_magic = versions.magic_of(reply.data)
    if peer_magic != magic:
        raise HandshakeRefused(f"wrong network: the node is on network magic {peer_magic}, "
                               f"we asked for {magic}")
    return reply.version, reply.data
