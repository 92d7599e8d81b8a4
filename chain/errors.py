"""Errors of the chain package. Every failure caused by a peer is a `PeerError`: the
follower logs it in one line, closes the connection and reconnects with backoff."""
from __future__ import annotations


class ChainError(Exception):
    """Root of the chain package's errors."""


class PeerError(ChainError):
    """The peer misbehaved, refused us, or went away; reconnecting may help."""


class ConnectionClosed(PeerError):
    pass


class MuxError(PeerError):
    """A malformed segment, or one for a protocol we did not start."""


class DecodeError(PeerError):
    """A message that is not valid CBOR, or not a message of its protocol."""


class ProtocolViolation(PeerError):
    """The peer broke a protocol's rules: a message out of turn or not allowed in its
    state, or a chain that does not hold together (a header that is not the child of the
    one before)."""


class AgencyError(ProtocolViolation):
    """A message sent or received out of turn (the state table says the other side speaks),
    or one its state does not allow."""


class MessageTooLarge(PeerError):
    """A message beyond its state's byte limit."""


class ProtocolTimeout(PeerError):
    """The peer did not answer within its state's time limit."""


class HandshakeRefused(PeerError):
    """The peer refused our versions, or accepted with data we cannot use (wrong network)."""


#: The public networks by magic (ouroboros-network Magic.hs), to name a peer's network.
NETWORK_NAMES = {764824073: "mainnet", 1: "preprod", 2: "preview"}


def network_label(magic: int) -> str:
    name = NETWORK_NAMES.get(magic)
    return f"{name} (magic {magic})" if name else f"network magic {magic}"


class WrongNetwork(HandshakeRefused):
    """The node is on another network than the one we asked for.

    Still a PeerError (a long-running follower logs it and retries: the node may be
    swapped), but one-shot tools can stop at once: retrying cannot change the answer.
    """

    def __init__(self, ours: int, theirs: int | None, address: str | None = None,
                 detail: str = "") -> None:
        self.ours = ours
        self.theirs = theirs  # None: the node refused our magic without naming its own
        self.address = address
        self.detail = detail
        node = f"the node at {address}" if address else "the node"
        if theirs is not None:
            text = f"{node} is on {network_label(theirs)}, not {network_label(ours)}"
        else:
            text = f"{node} is not on {network_label(ours)}: {detail:.200}"
        super().__init__(text)

    def at(self, address: str) -> "WrongNetwork":
        """The same error, naming the node's address (known to the caller, not the protocol)."""
        return WrongNetwork(self.ours, self.theirs, address, self.detail)


class IntersectNotFound(ChainError):
    """None of the points we asked for is on the peer's chain."""
