"""Local tx-submission, client side: hand a signed transaction to our own node."""
from __future__ import annotations

from typing import Any

from chain.errors import ChainError
from chain.miniprotocols.localtxsubmission import messages, states
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


class TxRejected(ChainError):
    def __init__(self, reason: Any) -> None:
        self.reason = reason
        super().__init__(f"the node rejected the transaction: {reason!r:.200}")


class LocalTxSubmissionClient:
    def __init__(self, channel: Channel) -> None:
        self.peer = ProtocolPeer(channel, states.SPEC, Agency.CLIENT, messages.decode)

    async def submit(self, era: int, tx: bytes) -> None:
        """Returns when the node accepted the transaction into its mempool."""
        await self.peer.send(messages.SubmitTx(era, tx))
        reply = await self.peer.recv()
        if isinstance(reply, messages.RejectTx):
            raise TxRejected(reply.reason)
