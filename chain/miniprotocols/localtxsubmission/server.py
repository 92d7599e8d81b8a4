"""Local tx-submission, server side (for the node simulator): a mempool that accepts
well-formed transactions and remembers them."""
from __future__ import annotations

from typing import Callable

from chain.miniprotocols.localtxsubmission import messages, states
from chain.mux import Channel
from chain.statemachine import Agency, ProtocolPeer


async def serve_local_tx_submission(channel: Channel,
                                    judge: Callable[[int, bytes], object | None]) -> None:
    """`judge(era, tx)` returns None to accept, or a rejection reason."""
    peer = ProtocolPeer(channel, states.SPEC, Agency.SERVER, messages.decode, {"Idle": None})
    while True:
        message = await peer.recv()
        if isinstance(message, messages.Done):
            return
        assert isinstance(message, messages.SubmitTx)
        reason = judge(message.era, message.tx)
        await peer.send(messages.AcceptTx() if reason is None else messages.RejectTx(reason))
