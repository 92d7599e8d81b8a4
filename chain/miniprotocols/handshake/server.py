"""Handshake, responder side (for the node simulator): accept the highest common version."""
from __future__ import annotations

from typing import Any

from chain.errors import HandshakeRefused
from chain.miniprotocols.handshake import messages, states, versions
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


async def serve_handshake(channel: Channel, magic: int, node_to_client: bool, *,
                          refuse: bool = False, answer_magic: int | None = None
                          ) -> tuple[int, Any]:
    """`refuse` and `answer_magic` make a bad peer for tests: a version refusal, or an
    acceptance on another network."""
    peer = ProtocolPeer(channel, states.SPEC, Agency.SERVER, messages.decode)
    proposal = await peer.recv()
    if not isinstance(proposal, messages.ProposeVersions):
        raise HandshakeRefused("expected ProposeVersions")
    ours = set(versions.N2C_VERSIONS if node_to_client else versions.N2N_VERSIONS)
    common = sorted(ours & set(proposal.versions))
    if refuse or not common:
        await peer.send(messages.Refuse([0, sorted(ours)]))
        raise HandshakeRefused("no common version")
    version = common[-1]
    their_magic = versions.magic_of(proposal.versions[version])
    if their_magic != magic and answer_magic is None:
        # Worded as cardano-node does, so clients are tested against the real text.
        await peer.send(messages.Refuse([2, version, versions.mismatch_text(
            node_to_client, ours=magic, theirs=their_magic)]))
        raise HandshakeRefused(f"client asked for network magic {their_magic}")
    data = (versions.n2c_version_data(version, answer_magic or magic) if node_to_client
            else versions.n2n_version_data(version, answer_magic or magic, initiator_only=False))
    await peer.send(messages.AcceptVersion(version, data))
    return version, data
