"""Handshake, initiator side: propose our versions and check what the peer accepted."""
from __future__ import annotations

import re
from typing import Any

from chain.errors import HandshakeRefused, WrongNetwork
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
        wrong = wrong_network(reply, magic)
        if wrong is not None:
            raise wrong
        raise HandshakeRefused(f"the node refused the handshake: {reply.describe()}")
    if isinstance(reply, messages.QueryReply):
        raise HandshakeRefused("the node answered a version query we did not ask for")
    assert isinstance(reply, messages.AcceptVersion)
    if reply.version not in proposed:
        raise HandshakeRefused(f"the node accepted version {reply.version}, which we did not "
                               "propose")
    peer_magic = versions.magic_of(reply.data)
    if peer_magic != magic:
        raise WrongNetwork(magic, peer_magic)
    return reply.version, reply.data


_MAGIC_IN_TEXT = re.compile(r"unNetworkMagic = (\d+)")


def wrong_network(reply: messages.Refuse, ours: int) -> WrongNetwork | None:
    """A refusal because of the network magic, as a node words it, else None.

    cardano-node refuses `[2, version, "version data mismatch: <its data> /= <ours>"]`
    (ouroboros-network, `acceptableVersion` of NodeToNodeVersionData and
    NodeToClientVersionData: the magic is the only field that can mismatch), each data
    shown with `networkMagic = NetworkMagic {unNetworkMagic = N}`.
    """
    reason = reply.reason
    if len(reason) < 3 or reason[0] != 2 or not isinstance(reason[2], str):
        return None
    text = reason[2]
    if "version data mismatch" not in text:
        return None
    theirs = next((int(m) for m in _MAGIC_IN_TEXT.findall(text) if int(m) != ours), None)
    return WrongNetwork(ours, theirs, detail=text)
