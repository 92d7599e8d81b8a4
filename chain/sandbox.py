"""The sandbox chain: the node simulator as a small local chain that accepts real signed
transactions (issue 10).

It starts from a genesis that funds given addresses (an empty first block is forged so
there is a chain to follow). Local tx-submission hands each transaction to the ledger
(chain/sandbox_ledger.py) as it stands after the mempool: accepted, it joins the
mempool; refused, the client gets the ledger's reasons, as a node's rejection. Every
`block_interval_s` the mempool is forged into a block (chain/forge.py) on top of the
chain, applied to the ledger and served to every follower over chain-sync like any
other block. What it accepted and refused is kept (`accepted`, `refused`), so tests can
count, on the chain, what reached it.
"""
from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from chain.forge import forge_block
from chain.ledger import TxOut, decode_block, decode_transaction
from chain.ledger.tx import TxIn
from chain.ledger.errors import LedgerError
from chain.sandbox_ledger import Funds, SandboxLedger
from chain.simulator import SimBlock, SimChain, SimulatorConfig

log = logging.getLogger(__name__)

REJECTED = "sandbox"  # the first element of a rejection reason from the sandbox
#: A batcher: (the UTxO set as the last block left it, the new block's slot) → its txs.
Batcher = Callable[[Mapping[TxIn, TxOut], int], list[bytes]]


@dataclass
class Refusal:
    tx_id: str
    reasons: list[str]


class SandboxChain(SimChain):
    """A SimChain whose blocks are forged from the transactions it accepts: `accepted`
    (tx ids, in order) and `refused` say what reached it."""

    def __init__(self, funds: list[Funds], clock_slot: Callable[[], int], *,
                 magic: int, block_interval_s: float, label: str = "sandbox",
                 batchers: Sequence[Batcher] = ()) -> None:
        """`batchers(utxos, slot)`: transactions a batcher adds to each block, made from
        the chain as the block before left it (orders filled a block after they land)."""
        self.batchers = tuple(batchers)
        self.filled: list[str] = []  # the batchers' transactions that went in
        self.ledger = SandboxLedger.from_genesis(funds, label)
        self.clock_slot = clock_slot
        self.label = label
        self.block_interval_s = block_interval_s
        self.accepted: list[str] = []
        self.refused: list[Refusal] = []
        self.mempool: list[bytes] = []
        self._pending = copy.deepcopy(self.ledger)  # the ledger after the mempool
        #: The UTxO set as of the last forged block, replaced whole (readers in other
        #: threads never see half a block).
        self.snapshot = dict(self.ledger.utxos)
        first = SimBlock.of(decode_block(forge_block([], slot=clock_slot(), height=0,
                                                     prev_hash=None, label=label)))
        self.config = SimulatorConfig([first], magic)
        super().__init__(self.config)

    def judge(self, era: int, tx: bytes) -> object | None:
        try:
            tx_id = decode_transaction(tx).id.hex()
        except LedgerError as error:
            self.refused.append(Refusal("", [f"not a transaction: {error}"]))
            return [REJECTED, [f"not a transaction: {error}"]]
        reasons = self._pending.check(tx, self.clock_slot())
        if reasons:
            log.info("sandbox: refused %s: %s", tx_id, "; ".join(reasons))
            self.refused.append(Refusal(tx_id, reasons))
            return [REJECTED, reasons]
        self._pending.apply(tx, self.clock_slot())
        self.mempool.append(tx)
        self.accepted.append(tx_id)
        log.info("sandbox: accepted %s (%d in the mempool)", tx_id, len(self.mempool))
        return None

    def forge(self) -> SimBlock:
        """The batchers' fills and the mempool as the next block: applied to the ledger
        and put on the chain, all or nothing (a failure leaves the chain and ledger as
        they were, the mempool waiting). A transaction that expired while it waited is
        dropped and listed as refused."""
        last = self.blocks[self.length - 1]
        assert last.point.slot is not None  # the chain starts with a forged block
        slot = max(self.clock_slot(), last.point.slot + 1)
        ledger = copy.deepcopy(self.ledger)
        kept: list[bytes] = []
        filled: list[str] = []
        refused: list[Refusal] = []
        for batcher in self.batchers:
            for tx in batcher(dict(ledger.utxos), slot):
                tx_id = decode_transaction(tx).id.hex()
                reasons = ledger.check(tx, slot)
                if reasons:
                    log.warning("sandbox: a batcher's transaction was refused: %s",
                                "; ".join(reasons))
                    refused.append(Refusal(tx_id, reasons))
                    continue
                ledger.apply(tx, slot)
                filled.append(tx_id)
                kept.append(tx)
        for tx in self.mempool:
            reasons = ledger.check(tx, slot)
            if reasons:
                refused.append(Refusal(decode_transaction(tx).id.hex(), reasons))
                continue
            ledger.apply(tx, slot)
            kept.append(tx)
        block = SimBlock.of(decode_block(forge_block(kept, slot=slot, height=last.height + 1,
                                                     prev_hash=last.point.hash,
                                                     label=self.label)))
        # Nothing below can fail: the block and the ledger change together.
        self.ledger, self.mempool = ledger, []
        self._pending = copy.deepcopy(ledger)
        self.snapshot = dict(ledger.utxos)
        self.filled += filled
        self.refused += refused
        del self.blocks[self.length:]
        self.blocks.append(block)
        self.length = len(self.blocks)
        log.info("sandbox: forged block %d at slot %d with %d transaction(s)",
                 block.height, slot, len(kept))
        return block

    async def background(self, config: SimulatorConfig) -> None:
        while True:
            await asyncio.sleep(self.block_interval_s)
            async with self.changed:
                try:
                    self.forge()
                except Exception:  # a bad batcher must not stop the chain: log, go on
                    log.exception("sandbox: forging a block failed; the chain goes on")
                    continue
                self.changed.notify_all()
