"""The one error type of the ledger view."""
from __future__ import annotations


class LedgerError(ValueError):
    """Malformed or unsupported block/header input. The message says what and where.

    A ValueError so callers that already treat bad data as ValueError keep working; the
    block follower catches exactly this to log a bad block and refuse the peer.
    """
