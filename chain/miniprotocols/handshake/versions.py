"""Version tables (ouroboros-network NodeToNode/Version.hs, NodeToClient/Version.hs).

Node-to-node v14 ("Plomin"), v15 (SRV) and v16 (Peras, experimental): version data
`[magic, initiatorOnlyDiffusionMode, peerSharing, query]`, v16 adding `perasSupport`.
Node-to-client v16..v23 go on the wire with bit 15 set; data `[magic, query]`.
"""
from __future__ import annotations

from typing import Any

from chain.errors import HandshakeRefused

N2N_VERSIONS = (14, 15, 16)
N2C_VERSION_BIT = 0x8000
N2C_VERSIONS = tuple(N2C_VERSION_BIT | v for v in range(16, 24))


def n2n_version_data(version: int, magic: int, initiator_only: bool = True) -> list[Any]:
    # A follower serves nothing: initiator-only, no peer sharing, no query.
    data: list[Any] = [magic, initiator_only, 0, False]
    if version >= 16:
        data.append(False)  # perasSupport
    return data


def n2c_version_data(version: int, magic: int) -> list[Any]:
    return [magic, False]


def proposal(node_to_client: bool, magic: int) -> dict[int, Any]:
    if node_to_client:
        return {v: n2c_version_data(v, magic) for v in N2C_VERSIONS}
    return {v: n2n_version_data(v, magic) for v in N2N_VERSIONS}


def magic_of(version_data: Any) -> int:
    if isinstance(version_data, list) and version_data and isinstance(version_data[0], int):
        return version_data[0]
    raise HandshakeRefused(f"malformed version data: {version_data!r:.60}")


def mismatch_text(node_to_client: bool, ours: int, theirs: int) -> str:
    """cardano-node's refusal of a proposal on another network: `show local /= show remote`
    of its version data (ouroboros-network, `acceptableVersion`)."""
    def show(magic: int) -> str:
        field = f"networkMagic = NetworkMagic {{unNetworkMagic = {magic}}}"
        if node_to_client:
            return f"NodeToClientVersionData {{{field}, query = False}}"
        return (f"NodeToNodeVersionData {{{field}, diffusionMode = "
                f"InitiatorAndResponderDiffusionMode, peerSharing = PeerSharingDisabled, "
                f"query = False}}")

    return f"version data mismatch: {show(ours)} /= {show(theirs)}"


def version_label(version: int) -> str:
    if version & N2C_VERSION_BIT:
        return f"node-to-client v{version & ~N2C_VERSION_BIT}"
    return f"node-to-node v{version}"
