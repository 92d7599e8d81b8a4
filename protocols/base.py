"""What a chain watcher is: something whose state in MongoDB follows the chain.

Every lending venue is one (its pool, loan and order UTxOs); so are our wallets and our
own submitted transactions (those two live in indexer/watchers.py).
The indexer applies each watcher's state block by block in chain order, and undoes it
exactly on a rollback; a watcher only says what it watches and how to read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Watch:
    """What makes an output ours to index. Matching is on bytes, so the prefilter can skip
    blocks that mention none of them."""

    credentials: frozenset[bytes] = frozenset()  # payment credentials (28-byte hashes)
    policies: frozenset[bytes] = frozenset()  # minting policy ids held in the output
    addresses: frozenset[bytes] = frozenset()  # whole addresses

    @property
    def needles(self) -> list[bytes]:
        return [*self.credentials, *self.policies, *self.addresses]


@dataclass
class UtxoWatcher:
    """A watcher whose state is the set of UTxOs it watches (the Kupo model)."""

    name: str
    watch: Watch = field(default_factory=Watch)
    kind: str = "utxo"

    def decode_datum(self, datum_cbor: bytes) -> dict[str, Any] | None:
        """The venue's reading of a datum, stored beside the UTxO; None when not known.

        Venues override this with their schema; the result must follow store/'s rules
        (no floats, quantities as strings, no nested arrays)."""
        return None
