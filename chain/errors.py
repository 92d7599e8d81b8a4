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


class IntersectNotFound(ChainError):
    """None of the points we asked for is on the peer's chain."""
