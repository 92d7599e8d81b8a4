"""The sandbox chain: the node simulator as a small local chain that accepts real signed
transactions (issue 10).

Its genesis funds one faucet, a key made in memory at start and never shown; the first
forged block (height 0) holds one signed transaction from the faucet paying every given
`Funds` output exactly, in order, so the funded UTxOs come from a block like any other
(a follower indexing a wallet's UTxOs sees them). Local tx-submission hands each
transaction to the ledger (chain/sandbox_ledger.py) as it stands after the mempool:
accepted, it joins the mempool; refused, the client gets the ledger's reasons, as a
node's rejection. Every `block_interval_s` (never, when 0: only on `forge`) the mempool
is forged into a block (chain/forge.py) on top of the chain, applied to the ledger and
served to every follower over chain-sync like any other block. `rollback(depth)` drops
the newest blocks (never the first) and serves every follower a RollBackward to the new
tip. What it accepted, refused, filled and rolled back is kept, so tests can count, on
the chain, what reached it.

Threads: everything here runs on the simulator's event loop, under `changed` when it
changes the chain. Another thread (the HTTP control endpoint) goes through
`call_threadsafe`.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, Mapping, Sequence, TypeVar

import cbor2

from chain.forge import forge_block
from chain.ledger import TxOut, decode_block, decode_transaction
from chain.ledger.errors import LedgerError
from chain.ledger.tx import AssetId, TxIn
from chain.points import Tip
from chain.sandbox_ledger import Funds, SandboxLedger, genesis_id
from chain.simulator import SimBlock, SimChain, SimulatorConfig

log = logging.getLogger(__name__)

REJECTED = "sandbox"  # the first element of a rejection reason from the sandbox
#: A batcher: (the UTxO set as the last block left it, the new block's slot) → its txs.
Batcher = Callable[[Mapping[TxIn, TxOut], int], list[bytes]]
#: The funding transaction's fee: mainnet's linear fee (a + b x size), a fee a real
#: ledger would take (the sandbox checks no fee).
FEE_A, FEE_B = 155_381, 44
T = TypeVar("T")


@dataclass
class Refusal:
    tx_id: str
    reasons: list[str]


@dataclass(frozen=True)
class Undo:
    """What a forged block changed, to take it back on a rollback."""

    spent: Mapping[TxIn, TxOut]  # the outputs it spent, as they were
    created: tuple[TxIn, ...]  # the outputs it made
    user_txs: tuple[bytes, ...]  # the transactions it took from the mempool, in order
    filled: tuple[str, ...]  # the batchers' transactions in it


class NotServing(RuntimeError):
    """The chain is not (or no longer) served: nothing to hand a call to."""


def _value(lovelace: int, assets: Mapping[AssetId, int]) -> Any:
    grouped: dict[bytes, dict[bytes, int]] = {}
    for (policy, name), quantity in sorted(assets.items()):
        grouped.setdefault(policy, {})[name] = quantity
    return [lovelace, grouped] if grouped else lovelace


def funding_transaction(funds: Sequence[Funds], source: TxIn,
                        sign: Callable[[bytes], tuple[bytes, bytes]]) -> bytes:
    """The faucet's transaction spending `source` and paying `funds`, output i the i-th,
    no change; signed by `sign(body hash) -> (vkey, signature)`. Pure but for `sign`."""
    outputs = [{0: fund.address, 1: _value(fund.lovelace, fund.assets)} for fund in funds]

    def signed(fee: int) -> bytes:
        body = {0: [list(source)], 1: outputs, 2: fee}
        digest = hashlib.blake2b(cbor2.dumps(body), digest_size=32).digest()
        return cbor2.dumps([body, {0: [list(sign(digest))]}, True, None])

    # Every fee from 65536 to 2**32-1 is five bytes of CBOR: the size measured with a
    # stand-in is the size with the real fee.
    return signed(FEE_A + FEE_B * len(signed(2**32 - 1)))


def funding_tx_id(funds: Sequence[Funds], label: str = "sandbox") -> bytes:
    """The id of the funding transaction of a sandbox given `funds` (output i pays
    `funds[i]`). It is known before the sandbox starts, in another process too: the
    faucet's key is in the witnesses only, never in the body the id hashes."""
    stand_in = funding_transaction(funds, (genesis_id(label), 0),
                                   lambda digest: (bytes(32), bytes(64)))
    return decode_transaction(stand_in).id


def faucet_genesis(funds: Sequence[Funds], fee: int, address: bytes) -> Funds:
    """The faucet's genesis output: exactly what the funding transaction spends."""
    assets: Counter[AssetId] = Counter()
    for fund in funds:
        assets.update(fund.assets)
    return Funds(address, sum(fund.lovelace for fund in funds) + fee, dict(assets))


def undo_of(before: Mapping[TxIn, TxOut], after: Mapping[TxIn, TxOut], user_txs: list[bytes],
            filled: list[str]) -> Undo:
    return Undo({ref: out for ref, out in before.items() if ref not in after},
                tuple(ref for ref in after if ref not in before), tuple(user_txs),
                tuple(filled))


def tx_id(tx: bytes) -> str:
    return decode_transaction(tx).id.hex()


class SandboxChain(SimChain):
    """A SimChain whose blocks are forged from the transactions it accepts.

    What reached it, for tests and `GET /sandbox/stats`:
    - `accepted`: every submission it accepted, in order, as it happened: a rollback
      leaves it be, and a transaction resubmitted after one is listed again;
    - `refused`: every refusal, in order: at submission, a transaction that expired in
      the mempool, a batcher's transaction the ledger refused, and what a rollback put
      out of the mempool as no longer valid (its reasons start "after a rollback");
    - `filled`: the batchers' transactions on the chain now: a rollback takes those of
      the blocks it drops off (the batchers fill again from the chain as it is left);
    - `rolled_back`: the submitted transactions of the blocks rollbacks dropped, in order,
      each time (requeued into the mempool or forgotten, as the rollback was asked).
    """

    def __init__(self, funds: list[Funds], clock_slot: Callable[[], int], *,
                 magic: int, block_interval_s: float, label: str = "sandbox",
                 batchers: Sequence[Batcher] = (), network_id: int | None = None) -> None:
        """`batchers(utxos, slot)`: transactions a batcher adds to each block, made from
        the chain as the block before left it (orders filled a block after they land).
        `block_interval_s` 0: blocks are forged only when asked (`forge`).
        `network_id`: the faucet address's network (default: the first fund's)."""
        from nacl.signing import SigningKey

        self.batchers = tuple(batchers)
        self.clock_slot = clock_slot
        self.label = label
        self.block_interval_s = block_interval_s
        self.funds = tuple(funds)
        self.accepted: list[str] = []
        self.refused: list[Refusal] = []
        self.filled: list[str] = []
        self.rolled_back: list[str] = []
        self.mempool: list[bytes] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # set once served
        if network_id is None:
            network_id = next((fund.address[0] & 0x0F for fund in funds
                               if fund.address[0] >> 4 != 8), 0)  # Byron has no nibble
        # The faucet's key lives in this call only: it signs the funding, and is dropped.
        faucet = SigningKey.generate()
        address = bytes([0x60 | network_id]) + hashlib.blake2b(bytes(faucet.verify_key),
                                                               digest_size=28).digest()
        funding = funding_transaction(
            funds, (genesis_id(label), 0),
            lambda digest: (bytes(faucet.verify_key), faucet.sign(digest).signature))
        self.funding_tx = funding  # block 0's one transaction
        self.funding_tx_id = decode_transaction(funding).id
        fee = decode_transaction(funding).fee or 0
        self.ledger = SandboxLedger.from_genesis([faucet_genesis(funds, fee, address)], label)
        genesis = dict(self.ledger.utxos)
        slot = clock_slot()
        self.ledger.apply(funding, slot)  # checked like any other: Rejected if it is wrong
        self._pending = copy.deepcopy(self.ledger)  # the ledger after the mempool
        #: The UTxO set as of the last forged block, replaced whole (readers in other
        #: threads never see half a block).
        self.snapshot = dict(self.ledger.utxos)
        #: What each block changed, block by block (the first's is never used).
        self._undo = [undo_of(genesis, self.ledger.utxos, [], [])]
        self._next_slot = slot + 1  # slots only go forward, across rollbacks too
        first = SimBlock.of(decode_block(forge_block([funding], slot=slot, height=0,
                                                     prev_hash=None, label=label)))
        self.config = SimulatorConfig([first], magic)
        super().__init__(self.config)

    def funding_ref(self, index: int) -> TxIn:
        """The output of the funding transaction that pays `funds[index]`."""
        if not 0 <= index < len(self.funds):
            raise IndexError(f"no funds number {index}: {len(self.funds)} were given")
        return self.funding_tx_id, index

    def judge(self, era: int, tx: bytes) -> object | None:
        try:
            ident = decode_transaction(tx).id.hex()
        except LedgerError as error:
            self.refused.append(Refusal("", [f"not a transaction: {error}"]))
            return [REJECTED, [f"not a transaction: {error}"]]
        reasons = self._pending.check(tx, self.clock_slot())
        if reasons:
            log.info("sandbox: refused %s: %s", ident, "; ".join(reasons))
            self.refused.append(Refusal(ident, reasons))
            return [REJECTED, reasons]
        self._pending.apply(tx, self.clock_slot())
        self.mempool.append(tx)
        self.accepted.append(ident)
        log.info("sandbox: accepted %s (%d in the mempool)", ident, len(self.mempool))
        return None

    def forge(self) -> SimBlock:
        """The batchers' fills and the mempool as the next block: applied to the ledger
        and put on the chain, all or nothing (a failure leaves the chain and ledger as
        they were, the mempool waiting). A transaction that expired while it waited is
        dropped and listed as refused. Call it holding `changed`, then notify."""
        last = self.blocks[self.length - 1]
        slot = max(self.clock_slot(), self._next_slot)
        ledger = copy.deepcopy(self.ledger)
        kept: list[bytes] = []
        user: list[bytes] = []
        filled: list[str] = []
        refused: list[Refusal] = []
        for batcher in self.batchers:
            for tx in batcher(dict(ledger.utxos), slot):
                reasons = ledger.check(tx, slot)
                if reasons:
                    log.warning("sandbox: a batcher's transaction was refused: %s",
                                "; ".join(reasons))
                    refused.append(Refusal(tx_id(tx), reasons))
                    continue
                ledger.apply(tx, slot)
                filled.append(tx_id(tx))
                kept.append(tx)
        for tx in self.mempool:
            reasons = ledger.check(tx, slot)
            if reasons:
                refused.append(Refusal(tx_id(tx), reasons))
                continue
            ledger.apply(tx, slot)
            kept.append(tx)
            user.append(tx)
        block = SimBlock.of(decode_block(forge_block(kept, slot=slot, height=last.height + 1,
                                                     prev_hash=last.point.hash,
                                                     label=self.label)))
        undo = undo_of(self.ledger.utxos, ledger.utxos, user, filled)
        # Nothing below can fail: the block and the ledger change together.
        self.ledger, self.mempool = ledger, []
        self._pending = copy.deepcopy(ledger)
        self.snapshot = dict(ledger.utxos)
        self.filled += filled
        self.refused += refused
        self._undo.append(undo)
        self._next_slot = slot + 1
        del self.blocks[self.length:]
        self.blocks.append(block)
        self.length = len(self.blocks)
        log.info("sandbox: forged block %d at slot %d with %d transaction(s)",
                 block.height, slot, len(kept))
        return block

    def rollback(self, depth: int, *, requeue: bool) -> Tip:
        """Drop the newest `depth` blocks (the first, with the funding, always stays):
        the ledger as it was before them, every follower rolled back to the new tip.
        `requeue`: their submitted transactions go back into the mempool ahead of those
        waiting (the batchers' fills do not: the batchers fill again); else they are
        forgotten, for their clients to resubmit. The mempool is checked again against
        the ledger left: what no longer holds is dropped and listed as refused. Raises
        ValueError (and changes nothing) for a depth out of range. Call it holding
        `changed`, then notify."""
        if isinstance(depth, bool) or not 1 <= depth <= self.length - 1:
            raise ValueError(f"depth: 1 to {self.length - 1} blocks can be rolled back "
                             f"(the first block, the funding, stays), not {depth!r}")
        keep = self.length - depth
        dropped = self._undo[keep:]
        ledger = copy.deepcopy(self.ledger)
        for undo in reversed(dropped):  # newest first: each block undone on what it left
            for ref in undo.created:
                del ledger.utxos[ref]
            ledger.utxos.update(undo.spent)
        dropped_txs = [tx for undo in dropped for tx in undo.user_txs]
        dropped_fills = {fill for undo in dropped for fill in undo.filled}
        pending = copy.deepcopy(ledger)
        mempool: list[bytes] = []
        refused: list[Refusal] = []
        slot = self.clock_slot()
        for tx in (dropped_txs if requeue else []) + self.mempool:
            reasons = pending.check(tx, slot)
            if reasons:
                refused.append(Refusal(tx_id(tx), [f"after a rollback: {r}" for r in reasons]))
                continue
            pending.apply(tx, slot)
            mempool.append(tx)
        # Nothing below can fail: the chain, the ledger and the mempool change together.
        self.ledger, self._pending, self.mempool = ledger, pending, mempool
        self.snapshot = dict(ledger.utxos)
        del self._undo[keep:]
        self.filled = [fill for fill in self.filled if fill not in dropped_fills]
        self.rolled_back += [tx_id(tx) for tx in dropped_txs]
        self.refused += refused
        self.truncate(keep)
        log.info("sandbox: rolled back %d block(s) to height %d; %d transaction(s) %s",
                 depth, self.tip().block_no, len(dropped_txs),
                 "requeued" if requeue else "forgotten")
        return self.tip()

    def stats(self) -> dict[str, Any]:
        """`GET /sandbox/stats`: the tip, and what reached the chain."""
        return {"tip": tip_json(self.tip()), "accepted": list(self.accepted),
                "refused": [{"tx_id": r.tx_id, "reasons": list(r.reasons)}
                            for r in self.refused],
                "filled": list(self.filled), "rolled_back": list(self.rolled_back),
                "mempool": [tx_id(tx) for tx in self.mempool]}

    async def locked(self, call: Callable[[], T], notify: bool = True) -> T:
        """`call()` holding `changed`, as the forger does; then the chain-sync servers
        waiting for a new tip are woken (a call that raised changed nothing)."""
        async with self.changed:
            result = call()
            if notify:
                self.changed.notify_all()
            return result

    def call_threadsafe(self, call: Callable[[], T], timeout_s: float = 30.0,
                        notify: bool = True) -> T:
        """`call()` run on the chain's event loop under `changed`, from another thread
        (never from the loop's own: it would wait for itself). Raises NotServing when
        the chain is not served, and what `call` raises."""
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            raise NotServing("the sandbox chain is not served (yet, or any more)")
        return asyncio.run_coroutine_threadsafe(self.locked(call, notify),
                                                loop).result(timeout_s)

    def background(self, config: SimulatorConfig) -> Coroutine[Any, Any, None]:
        # The loop is known once the simulator starts (it calls this there), before any
        # client or HTTP call can come: `call_threadsafe` never races the forger's start.
        self.loop = asyncio.get_running_loop()
        return self._forge_every_interval()

    async def _forge_every_interval(self) -> None:
        if not self.block_interval_s:
            return  # forged on demand only
        while True:
            await asyncio.sleep(self.block_interval_s)
            try:
                await self.locked(self.forge)
            except Exception:  # a bad batcher must not stop the chain: log, go on
                log.exception("sandbox: forging a block failed; the chain goes on")


def tip_json(tip: Tip) -> dict[str, Any]:
    return {"height": tip.block_no, "slot": tip.point.slot,
            "hash": tip.point.hash.hex() if tip.point.hash else None}
