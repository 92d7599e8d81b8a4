"""The sandbox chain's funding, rollbacks and HTTP control, as the live path's tests use
them: the funding transaction is in block 0 for a real follower to see; a rollback on
demand reaches a real follower (chain/follower.py) over a real socket as a RollBackward,
the ledger back as it was, the dropped transactions requeued or forgotten; `dhl sandbox
--http-port` answers /sandbox/stats, /sandbox/forge and /sandbox/rollback over real HTTP."""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import cbor2
import pytest

from chain.address import NodeAddress, parse_node_address
from chain.follower import Follower, FollowerConfig, MemoryCursor
from chain.ledger import Block, decode_transaction
from chain.ledger.address import address_text
from chain.ledger.signatures import verified_signers
from chain.points import Point, Tip
from chain.sandbox import SandboxChain, funding_tx_id
from chain.sandbox_ledger import Funds
from chain.simulator_thread import SimulatorThread
from chain.slots import ms_to_slot
from execution.submit import submit
from stack.processes import wait_until
from tests.support.sandbox import ALICE, BOB, MAGIC, address, dhl_sandbox, http_base, pay
from tests.support.simulator import unix_address

pytestmark = pytest.mark.integration

TOKEN = (bytes(range(28)), b"TOK")
MAINNET_MAGIC = 764824073
WAIT_S = 20.0  # the bound on every wait: a healthy run takes well under a second


class WatchingSink:
    """What a follower hands over, with a condition to wait on (it calls from threads)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Block | Point]] = []
        self.changed = threading.Condition()

    def roll_forward(self, block: Block, tip: Tip) -> None:
        with self.changed:
            self.events.append(("forward", block))
            self.changed.notify_all()

    def roll_backward(self, point: Point, tip: Tip) -> None:
        with self.changed:
            self.events.append(("backward", point))
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, WAIT_S)

    def chain(self) -> list[Block]:
        """The blocks the events amount to, every rollback applied."""
        blocks: list[Block] = []
        for kind, what in self.events:
            if kind == "forward":
                assert isinstance(what, Block)
                blocks.append(what)
            else:
                assert isinstance(what, Point)
                while blocks and Point(blocks[-1].slot, blocks[-1].hash) != what:
                    blocks.pop()
        return blocks

    def hashes(self) -> list[bytes]:
        return [block.hash for block in self.chain()]

    def backwards(self) -> list[Point]:
        return [what for kind, what in self.events if kind == "backward"]  # type: ignore[misc]


@pytest.fixture
def follower() -> Iterator[Callable[[NodeAddress, int], WatchingSink]]:
    """follower(address, magic): a real follower from origin, in a thread of its own
    until the test ends; its sink."""
    running: list[tuple[asyncio.AbstractEventLoop, Follower, threading.Thread]] = []

    def start(where: NodeAddress, magic: int) -> WatchingSink:
        sink = WatchingSink()
        config = FollowerConfig(address=where, magic=magic, start="origin",
                                backoff_initial_s=0.05, backoff_max_s=0.2, seed=1)
        follower = Follower(config, sink, MemoryCursor())
        loop = asyncio.new_event_loop()

        def run() -> None:
            try:
                loop.run_until_complete(follower.run())
            except asyncio.CancelledError:
                pass  # stopped

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        running.append((loop, follower, thread))
        return sink

    yield start
    for loop, follower_, thread in running:
        loop.call_soon_threadsafe(follower_.stop)
        thread.join(10)
        assert not thread.is_alive()
        loop.close()


def test_the_funding_is_one_signed_transaction_in_block_0_seen_by_a_follower(
        tmp_path: Path, follower: Callable[[NodeAddress, int], WatchingSink]) -> None:
    funds = [Funds(address(ALICE), 100_000_000, {TOKEN: 5}), Funds(address(BOB), 7_000_000),
             Funds(address(ALICE), 3_000_000)]
    chain = SandboxChain(funds, lambda: 100, magic=MAGIC, block_interval_s=0)
    sim = SimulatorThread(chain.config, unix_address(tmp_path), chain)
    try:
        sink = follower(sim.address, MAGIC)
        assert sink.wait_for(lambda: len(sink.chain()) == 1), sink.events
    finally:
        sim.stop()
    [block] = sink.chain()
    assert block.height == 0 and block.slot == 100
    [tx] = block.txs
    # Known from the funds alone; every funds output paid exactly, in order.
    assert tx.id == chain.funding_tx_id == funding_tx_id(funds)
    assert [(out.address_bytes, out.lovelace, out.assets) for out in tx.outputs] == [
        (fund.address, fund.lovelace, dict(fund.assets)) for fund in funds]
    assert 150_000 < (tx.fee or 0) < 400_000  # a small fee, as a real ledger would take
    # One input, the faucet's genesis output, spent with its key's valid signature: a
    # key made at start, another each time.
    assert tx.inputs == [(hashlib.blake2b(b"genesis:sandbox", digest_size=32).digest(), 0)]
    assert decode_transaction(chain.funding_tx).id == tx.id
    signed, bad = verified_signers(chain.funding_tx)
    assert len(signed) == 1 and bad == []
    again = SandboxChain(funds, lambda: 100, magic=MAGIC, block_interval_s=0)
    assert again.funding_tx_id == tx.id and verified_signers(again.funding_tx)[0] != signed
    # The ledger holds the funded outputs, nothing else (the faucet kept no change).
    assert chain.ledger.utxos == {chain.funding_ref(i): out for i, out in enumerate(tx.outputs)}
    assert chain.snapshot == chain.ledger.utxos
    with pytest.raises(IndexError):
        chain.funding_ref(3)


def test_a_rollback_without_then_with_requeue_seen_by_a_follower(
        tmp_path: Path, follower: Callable[[NodeAddress, int], WatchingSink]) -> None:
    chain = SandboxChain([Funds(address(ALICE), 100_000_000)], lambda: 100, magic=MAGIC,
                         block_interval_s=0)
    sim = SimulatorThread(chain.config, unix_address(tmp_path), chain)
    good = pay(chain.funding_ref(0), 100_000_000)
    good_id = decode_transaction(good).id
    bob = address(BOB)

    def bobs() -> list[int]:
        return [out.lovelace for out in chain.ledger.at(bob).values()]

    try:
        sink = follower(sim.address, MAGIC)
        assert sink.wait_for(lambda: len(sink.chain()) == 1), sink.events
        assert submit(sim.address, MAGIC, good) == good_id.hex()
        chain.call_threadsafe(chain.forge)
        assert sink.wait_for(lambda: sink.hashes() == [b.point.hash for b in chain.blocks])
        dropped = chain.blocks[1]
        assert [tx.id for tx in sink.chain()[1].txs] == [good_id] and bobs() == [30_000_000]

        # Without requeue: block 1 gone for the follower too, the ledger as before it,
        # the transaction forgotten.
        tip = chain.call_threadsafe(lambda: chain.rollback(1, requeue=False))
        assert tip.point == chain.blocks[0].point and tip.block_no == 0
        assert sink.wait_for(lambda: sink.backwards()[-1:] == [chain.blocks[0].point])
        assert sink.hashes() == [chain.blocks[0].point.hash]
        assert chain.index_of(dropped.point) is None
        assert chain.funding_ref(0) in chain.ledger.utxos and bobs() == []
        assert chain.mempool == [] and chain.rolled_back == [good_id.hex()]
        chain.call_threadsafe(chain.forge)  # an empty block 1, another hash
        assert sink.wait_for(lambda: len(sink.chain()) == 2)
        assert sink.chain()[1].txs == [] and sink.chain()[1].hash != dropped.point.hash

        # Resubmitted, it lands in block 2; rolled back with requeue, it waits in the
        # mempool and lands again in the next block.
        assert submit(sim.address, MAGIC, good) == good_id.hex()
        chain.call_threadsafe(chain.forge)
        assert sink.wait_for(lambda: len(sink.chain()) == 3)
        first_try = chain.blocks[2]
        chain.call_threadsafe(lambda: chain.rollback(1, requeue=True))
        assert sink.wait_for(lambda: sink.backwards()[-1:] == [chain.blocks[1].point])
        assert chain.mempool == [good] and bobs() == []
        assert chain.funding_ref(0) in chain.ledger.utxos
        chain.call_threadsafe(chain.forge)
        assert sink.wait_for(lambda: len(sink.chain()) == 3
                             and sink.chain()[2].hash != first_try.point.hash)
        assert [tx.id for tx in sink.chain()[2].txs] == [good_id] and bobs() == [30_000_000]
        assert sink.hashes() == [b.point.hash for b in chain.blocks]
    finally:
        sim.stop()
    assert chain.accepted == [good_id.hex()] * 2  # each submission, as it happened
    assert chain.rolled_back == [good_id.hex()] * 2
    assert chain.refused == []


def test_a_rollback_reaches_a_node_to_node_follower_too(
        follower: Callable[[NodeAddress, int], WatchingSink]) -> None:
    """Over TCP the follower gets headers, then the blocks by block-fetch: the dropped
    blocks are gone from both, the new ones served."""
    chain = SandboxChain([Funds(address(ALICE), 100_000_000)], lambda: 100, magic=MAGIC,
                         block_interval_s=0)
    sim = SimulatorThread(chain.config, NodeAddress("tcp", "127.0.0.1", 0), chain)
    try:
        sink = follower(sim.address, MAGIC)
        for _ in range(3):
            chain.call_threadsafe(chain.forge)
        assert sink.wait_for(lambda: len(sink.chain()) == 4)
        dropped = [b.point.hash for b in chain.blocks[2:]]
        chain.call_threadsafe(lambda: chain.rollback(2, requeue=False))
        chain.call_threadsafe(chain.forge)
        assert sink.wait_for(lambda: sink.hashes() == [b.point.hash for b in chain.blocks])
        assert not set(dropped) & set(sink.hashes()) and len(chain.blocks) == 3
        assert sink.backwards()[-1] == chain.blocks[1].point
    finally:
        sim.stop()


def test_rollback_bounds_the_mempool_and_the_fills() -> None:
    """Never the funding block; a transaction waiting on a dropped one is put out of
    the mempool as refused; a batcher's fill of a dropped block leaves `filled`."""
    script = bytes([0x71]) + bytes(28)  # a script address: spent unsigned (no scripts run)

    def batcher(utxos: Any, slot: int) -> list[bytes]:
        ref = next((ref for ref, out in sorted(utxos.items()) if out.address_bytes == script),
                   None)
        if ref is None:
            return []
        body = {0: [list(ref)], 1: [{0: script, 1: utxos[ref].lovelace - 200_000}],
                2: 200_000}
        return [cbor2.dumps([body, {}, True, None])]

    chain = SandboxChain([Funds(address(ALICE), 100_000_000), Funds(script, 10_000_000)],
                         lambda: 100, magic=MAGIC, block_interval_s=0, batchers=[batcher])
    with pytest.raises(ValueError, match="depth"):
        chain.rollback(1, requeue=True)  # only the funding block: nothing to drop
    good = pay(chain.funding_ref(0), 100_000_000)
    assert chain.judge(6, good) is None
    chain.forge()  # block 1: a fill and the payment
    assert len(chain.filled) == 1
    # Alice spends her change from the payment: it waits on block 1.
    change = (decode_transaction(good).id, 1)
    after = pay(change, 100_000_000 - 30_200_000)
    assert chain.judge(6, after) is None and chain.mempool == [after]
    for depth in (0, 2, True):
        with pytest.raises(ValueError, match="depth"):
            chain.rollback(depth, requeue=False)  # type: ignore[arg-type]
    chain.rollback(1, requeue=False)
    assert chain.filled == [] and chain.mempool == [] and chain.length == 1
    [refused] = chain.refused
    assert refused.tx_id == decode_transaction(after).id.hex()
    assert refused.reasons[0].startswith("after a rollback: input")
    chain.forge()  # the batcher fills again, from the chain as it was left
    assert len(chain.filled) == 1
    stats = chain.stats()
    assert stats["tip"]["height"] == 1 and stats["mempool"] == []
    assert stats["rolled_back"] == [decode_transaction(good).id.hex()]


def _http(method: str, url: str, body: Any = None, raw: bytes | None = None
          ) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_dhl_sandbox_stats_forge_and_rollback_over_http(
        tmp_path: Path, follower: Callable[[NodeAddress, int], WatchingSink]) -> None:
    socket = tmp_path / "sandbox.sock"
    funds = [Funds(address(ALICE), 100_000_000)]
    funding = funding_tx_id(funds)
    with dhl_sandbox(socket, "--fund", f"{address_text(address(ALICE))}:100000000",
                     "--block-seconds", "0", "--http-port", "0") as lines:
        assert wait_until(lambda: any(line.startswith("listening") for line in lines), WAIT_S,
                          interval_s=0.05), lines
        base = http_base(lines)
        assert base is not None and base.startswith("http://127.0.0.1:"), lines
        where = parse_node_address(f"unix://{socket}")
        sink = follower(where, MAINNET_MAGIC)

        status, stats = _http("GET", f"{base}/sandbox/stats")
        assert status == 200, stats
        assert stats["tip"]["height"] == 0 and stats["accepted"] == stats["mempool"] == []
        # Funded in block 0, which the follower sees; the UTxO endpoint names the funding.
        assert sink.wait_for(lambda: len(sink.chain()) == 1)
        assert [tx.id for tx in sink.chain()[0].txs] == [funding]
        assert stats["tip"]["hash"] == sink.chain()[0].hash.hex()
        status, alice = _http("GET", f"{base}/addresses/{address_text(address(ALICE))}/utxos")
        assert status == 200 and [(u["tx_hash"], u["output_index"]) for u in alice] == [
            (funding.hex(), 0)]

        ttl = ms_to_slot("mainnet", int(time.time() * 1000)) + 600
        good = pay((funding, 0), 100_000_000, ttl=ttl)
        good_id = decode_transaction(good).id.hex()
        assert submit(where, MAINNET_MAGIC, good) == good_id
        status, stats = _http("GET", f"{base}/sandbox/stats")
        # --block-seconds 0: nothing forged until asked.
        assert stats["tip"]["height"] == 0
        assert stats["accepted"] == stats["mempool"] == [good_id]

        status, forged = _http("POST", f"{base}/sandbox/forge")
        assert status == 200 and forged["tip"]["height"] == 1, forged
        assert sink.wait_for(lambda: len(sink.chain()) == 2)
        assert forged["tip"]["hash"] == sink.chain()[1].hash.hex()
        bob_url = f"{base}/addresses/{address_text(address(BOB))}/utxos"
        assert len(_http("GET", bob_url)[1]) == 1
        assert _http("GET", f"{base}/sandbox/stats")[1]["mempool"] == []

        bad = [({"depth": 0, "requeue": True}, "depth"),
               ({"depth": "1", "requeue": True}, "depth"),
               ({"depth": True, "requeue": True}, "depth"),
               ({"depth": 2, "requeue": True}, "depth"),  # would drop the funding block
               ({"depth": 1}, "requeue"),
               ({"depth": 1, "requeue": "yes"}, "requeue"),
               ({"depth": 1, "requeue": True, "deep": 1}, "deep"),
               ([1, True], "body")]
        for body, field in bad:
            status, answer = _http("POST", f"{base}/sandbox/rollback", body)
            assert (status, answer.get("field")) == (400, field), (body, answer)
        status, answer = _http("POST", f"{base}/sandbox/rollback", raw=b"{depth")
        assert status == 400 and "JSON" in answer["error"]
        assert _http("GET", f"{base}/sandbox/rollback")[0] == 405
        assert _http("GET", f"{base}/sandbox/nothing")[0] == 404
        assert _http("GET", f"{base}/sandbox/stats")[1]["tip"]["height"] == 1  # unchanged

        # With requeue: block 1 gone (the follower rolled back), the payment waits again.
        status, rolled = _http("POST", f"{base}/sandbox/rollback",
                               {"depth": 1, "requeue": True})
        assert status == 200 and rolled["tip"] == stats["tip"], rolled
        assert sink.wait_for(lambda: len(sink.chain()) == 1 and len(sink.backwards()) >= 2)
        stats = _http("GET", f"{base}/sandbox/stats")[1]
        assert stats["mempool"] == stats["rolled_back"] == [good_id]
        assert _http("GET", bob_url)[1] == []
        assert _http("POST", f"{base}/sandbox/forge")[1]["tip"]["height"] == 1
        assert sink.wait_for(lambda: len(sink.chain()) == 2)
        assert [tx.id.hex() for tx in sink.chain()[1].txs] == [good_id]

        # Without requeue: forgotten, the funding output back for a resubmission.
        status, rolled = _http("POST", f"{base}/sandbox/rollback",
                               {"depth": 1, "requeue": False})
        assert status == 200 and rolled["tip"]["height"] == 0
        stats = _http("GET", f"{base}/sandbox/stats")[1]
        assert stats["mempool"] == [] and stats["rolled_back"] == [good_id] * 2
        assert stats["accepted"] == [good_id] and stats["refused"] == []
        status, alice = _http("GET", f"{base}/addresses/{address_text(address(ALICE))}/utxos")
        assert [(u["tx_hash"], u["output_index"]) for u in alice] == [(funding.hex(), 0)]
        assert sink.wait_for(lambda: len(sink.chain()) == 1)
