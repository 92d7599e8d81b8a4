"""Submitting a signed transaction to our node over node-to-client local tx-submission
(CARDANO_NODE, a Unix socket). The node's rejection reason is kept and shown as it came;
a node that cannot be reached is an outage, retried by the caller, never a refusal.

A transaction reaches the node as `[era, #6.24(tx)]`; every transaction the engine signs
is a Conway one (HFC era index 6).
"""
from __future__ import annotations

import asyncio
from typing import Any

from chain.address import NodeAddress
from chain.errors import ChainError
from chain.ledger.signatures import body_hash
from core.errors import AppError

CONWAY_ERA = 6
SUBMIT_TIMEOUT_S = 30.0
REASON_CHARS = 2_000


class SubmitRefused(AppError):
    """The node refused the transaction: it was not taken into the mempool."""

    def __init__(self, tx_id: str, reason: Any) -> None:
        self.tx_id = tx_id
        self.reason = _shown(reason)
        super().__init__(f"the node refused transaction {tx_id}: {self.reason}")


class NodeUnavailable(AppError):
    """The node could not be asked (down, socket missing, timed out): try again later."""


def submit(address: NodeAddress, magic: int, tx_cbor: bytes, *, era: int = CONWAY_ERA,
           timeout_s: float = SUBMIT_TIMEOUT_S) -> str:
    """Hand `tx_cbor` (signed) to the node; its id once the node took it into its mempool.
    Raises SubmitRefused with the node's reason, or NodeUnavailable."""
    tx_id = body_hash(tx_cbor).hex()
    try:
        asyncio.run(asyncio.wait_for(_submit(address, magic, tx_cbor, era), timeout_s))
    except SubmitRefused:
        raise
    except TimeoutError:
        raise NodeUnavailable(f"the node at {address} did not answer within {timeout_s}s") \
            from None
    except ChainError as error:
        from chain.miniprotocols.localtxsubmission.client import TxRejected

        if isinstance(error, TxRejected):
            raise SubmitRefused(tx_id, error.reason) from None
        raise NodeUnavailable(f"the node at {address}: {error}") from None
    except OSError as error:
        raise NodeUnavailable(f"the node at {address}: {error.strerror or error}") from None
    return tx_id


async def _submit(address: NodeAddress, magic: int, tx_cbor: bytes, era: int) -> None:
    from chain.client import NodeClient

    if not address.node_to_client:
        raise NodeUnavailable(f"{address} is not a node-to-client socket: transactions are "
                              f"submitted over local tx-submission")
    client = await NodeClient.connect(address, magic)
    try:
        assert client.local_tx is not None  # a node-to-client connection has it
        await client.local_tx.submit(era, tx_cbor)
    finally:
        await client.close()


def _shown(reason: Any) -> str:
    """The node's reason as text, bounded: a real node's is a nested CBOR structure."""
    if isinstance(reason, list) and len(reason) == 2 and reason[0] == "sandbox" \
            and isinstance(reason[1], list):
        text = "; ".join(str(r) for r in reason[1])
    else:
        text = repr(reason)
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 3] + "..."
