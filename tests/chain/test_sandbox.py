"""The sandbox chain (chain/sandbox.py) over a real Unix socket: local tx-submission gives
a real signed transaction to its ledger — accepted into the mempool, or refused with the
ledger's reasons as a node's rejection (a double spend, a missing signature) — and the
next forged block carries the accepted ones to a chain-sync client."""
from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from typing import Any

import pytest

from chain.address import parse_node_address
from chain.client import NodeClient
from chain.ledger import decode_block, decode_transaction
from chain.ledger.address import address_text
from chain.miniprotocols.chainsync import messages as cs
from chain.miniprotocols.localtxsubmission.client import TxRejected
from chain.points import ORIGIN
from chain.sandbox import SandboxChain, funding_tx_id
from chain.sandbox_ledger import Funds
from chain.simulator_thread import SimulatorThread
from chain.slots import ms_to_slot
from stack.processes import wait_until
from stubs.sandbox_utxos import SandboxUtxos
from stubs.server import StubServer
from tests.support.cli import run_dhl
from tests.support.sandbox import ALICE, BOB, MAGIC, address, dhl_sandbox, pay
from tests.support.simulator import unix_address

pytestmark = pytest.mark.integration

def test_submit_then_forge_then_follow(tmp_path) -> None:  # type: ignore[no-untyped-def]
    slot = [100]
    chain = SandboxChain([Funds(address(ALICE), 100_000_000),
                          Funds(address(ALICE), 50_000_000)], lambda: slot[0], magic=MAGIC,
                         block_interval_s=3600)
    sim = SimulatorThread(chain.config, unix_address(tmp_path), chain)
    genesis, other = sorted(chain.ledger.at(address(ALICE)), key=lambda ref: ref[1])
    good = pay(genesis, 100_000_000)
    unsigned = pay(other, 50_000_000, signer=None)
    reasons: list[Any] = []

    async def submit_all() -> None:
        client = await NodeClient.connect(sim.address, MAGIC)
        try:
            assert client.local_tx is not None
            await client.local_tx.submit(6, good)
            for bad in (good, unsigned):  # a double spend; no signature
                with pytest.raises(TxRejected) as refused:
                    await client.local_tx.submit(6, bad)
                reasons.append(refused.value.reason)
        finally:
            await client.close()

    async def forge() -> None:
        async with chain.changed:
            chain.forge()
            chain.changed.notify_all()

    async def follow() -> list[bytes]:
        client = await NodeClient.connect(sim.address, MAGIC)
        blocks: list[bytes] = []
        try:
            await client.chainsync.find_intersect([ORIGIN])
            while len(blocks) < 2:
                await client.chainsync.request()
                update = await client.chainsync.next_update()
                while isinstance(update, cs.AwaitReply):
                    update = await client.chainsync.next_update()
                if isinstance(update, cs.RollForward):
                    blocks.append(update.content.value)  # #6.24(block bytes)
        finally:
            await client.close()
        return blocks

    try:
        asyncio.run(submit_all())
        assert chain.accepted == [decode_transaction(good).id.hex()]
        assert reasons[0][0] == "sandbox" and "does not exist or is spent" in reasons[0][1][0]
        assert any("missing the signature" in r for r in reasons[1][1])
        slot[0] = 120
        asyncio.run_coroutine_threadsafe(forge(), sim.loop).result(10)
        raw = asyncio.run(follow())
    finally:
        sim.stop()
    first, second = (decode_block(b) for b in raw)
    assert (first.height, second.height, second.slot) == (0, 1, 120)
    assert second.prev_hash == first.hash
    assert [tx.id for tx in second.txs] == [decode_transaction(good).id]
    # The ledger moved: Bob holds the 30 ADA, Alice the change; nothing stays pending.
    assert [out.lovelace for out in chain.ledger.at(address(BOB)).values()] == [30_000_000]
    assert chain.mempool == [] and genesis not in chain.ledger.utxos
    assert other in chain.ledger.utxos  # the unsigned spend was refused
    assert [r.tx_id for r in chain.refused] == [decode_transaction(good).id.hex(),
                                                decode_transaction(unsigned).id.hex()]


def test_blocks_are_forged_on_their_own_every_interval(tmp_path) -> None:  # type: ignore[no-untyped-def]
    chain = SandboxChain([Funds(address(ALICE), 100_000_000)], lambda: 500, magic=MAGIC,
                         block_interval_s=0.2)
    sim = SimulatorThread(chain.config, unix_address(tmp_path), chain)
    [genesis] = chain.ledger.at(address(ALICE))
    good = pay(genesis, 100_000_000)

    async def submit_and_follow() -> int:
        client = await NodeClient.connect(sim.address, MAGIC)
        try:
            assert client.local_tx is not None
            await client.local_tx.submit(6, good)
            await client.chainsync.find_intersect([ORIGIN])
            for _ in range(50):  # bounded: blocks come every 0.2 s
                await client.chainsync.request()
                update = await client.chainsync.next_update()
                while isinstance(update, cs.AwaitReply):
                    update = await asyncio.wait_for(client.chainsync.next_update(), 5)
                if isinstance(update, cs.RollForward):
                    block = decode_block(update.content.value)
                    if any(tx.id == decode_transaction(good).id for tx in block.txs):
                        return block.height
            raise AssertionError("the accepted transaction never reached a block")
        finally:
            await client.close()

    try:
        height = asyncio.run(submit_and_follow())
    finally:
        sim.stop()
    assert height >= 1
    # Forged later than the wall-clock slot would allow, each block a slot after the last.
    assert [b.point.slot for b in chain.blocks[:3]] == [500, 501, 502][:len(chain.blocks[:3])]


def test_dhl_sandbox_takes_a_signed_transaction_and_forges_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`dhl sandbox` as a process: funded from --fund, a transaction submitted over
    its Unix socket lands in a block within a few intervals; a bad --fund is refused
    naming the option."""
    bad = run_dhl(["sandbox", "--listen", f"unix://{tmp_path}/x.sock", "--fund", "nope:1"])
    assert bad.returncode == 2 and "--fund" in bad.stderr
    port = run_dhl(["sandbox", "--listen", f"unix://{tmp_path}/x.sock", "--http-port", "70000"])
    assert port.returncode == 2 and "--http-port" in port.stderr
    socket = tmp_path / "sandbox.sock"
    with dhl_sandbox(socket, "--fund", f"{address_text(address(ALICE))}:100000000",
                     "--block-seconds", "0.3") as lines:
        assert wait_until(socket.exists, 20, interval_s=0.1), lines

        where = parse_node_address(f"unix://{socket}")
        # The funding output's ref is known from the funds alone (the faucet's key is not
        # in the body the id hashes), and the sandbox prints the id too.
        funding = funding_tx_id([Funds(address(ALICE), 100_000_000)])
        assert wait_until(lambda: f"funding tx {funding.hex()} (1 outputs)\n" in lines, 20,
                          interval_s=0.1), lines
        genesis = (funding, 0)

        good = pay(genesis, 100_000_000, ttl=ms_to_slot("mainnet", int(time.time() * 1000)) + 600)

        async def submit_and_see() -> bool:
            client = await NodeClient.connect(where, 764824073)  # mainnet's magic
            try:
                assert client.local_tx is not None
                await client.local_tx.submit(6, good)
                await client.chainsync.find_intersect([ORIGIN])
                for _ in range(60):
                    await client.chainsync.request()
                    update = await client.chainsync.next_update()
                    while isinstance(update, cs.AwaitReply):
                        update = await asyncio.wait_for(client.chainsync.next_update(), 5)
                    if isinstance(update, cs.RollForward) and any(
                            tx.id == decode_transaction(good).id
                            for tx in decode_block(update.content.value).txs):
                        return True
                return False
            finally:
                await client.close()

        assert asyncio.run(submit_and_see())


def test_the_sandbox_utxos_over_http_in_blockfrosts_shape() -> None:
    """What the stubs read to build from a wallet's chain state: the last forged
    block's UTxOs, per address."""


    chain = SandboxChain([Funds(address(ALICE), 100_000_000,
                                {(bytes(range(28)), b"TOK"): 5})], lambda: 10, magic=MAGIC,
                         block_interval_s=3600)
    [genesis] = chain.ledger.at(address(ALICE))
    # A payment that leaves the tokens out is refused: the snapshot stays as it was.
    assert chain.judge(6, pay(genesis, 100_000_000, ttl=10_000)) is not None
    with StubServer(SandboxUtxos(lambda: chain.snapshot)) as server:
        def utxos(who: bytes) -> list[dict]:  # type: ignore[type-arg]
            url = f"{server.url}/addresses/{address_text(who)}/utxos"
            with urllib.request.urlopen(url, timeout=5) as answer:
                return json.loads(answer.read())  # type: ignore[no-any-return]

        [alice] = utxos(address(ALICE))
        assert alice["tx_hash"] == genesis[0].hex() and alice["output_index"] == 0
        assert alice["amount"] == [{"unit": "lovelace", "quantity": "100000000"},
                                   {"unit": bytes(range(28)).hex() + "544f4b", "quantity": "5"}]
        assert utxos(address(BOB)) == []
        try:
            urllib.request.urlopen(f"{server.url}/nothing", timeout=5)
            raise AssertionError("a path it does not serve answered")
        except urllib.error.HTTPError as error:
            assert error.code == 404


def test_a_failing_forge_changes_nothing() -> None:
    """A batcher that raises: the block is not forged, the ledger and the chain stay as
    they were, the mempool waits for the next block."""
    def broken(utxos: object, slot: int) -> list[bytes]:
        raise RuntimeError("a broken batcher")

    chain = SandboxChain([Funds(address(ALICE), 100_000_000)], lambda: 10, magic=MAGIC,
                         block_interval_s=3600, batchers=[broken])
    [genesis] = chain.ledger.at(address(ALICE))
    assert chain.judge(6, pay(genesis, 100_000_000)) is None
    before = (dict(chain.ledger.utxos), chain.length, list(chain.mempool))
    with pytest.raises(RuntimeError):
        chain.forge()
    assert (dict(chain.ledger.utxos), chain.length, list(chain.mempool)) == before
    chain.batchers = ()
    chain.forge()
    assert chain.length == 2 and chain.mempool == [] and genesis not in chain.ledger.utxos


def test_dhl_sandbox_arguments_are_checked(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]

    listen = ["sandbox", "--listen", f"unix://{tmp_path}/x.sock"]
    cases = [
        (["--price", "ab" * 28 + "=5:6"], "give --pool too"),
        (["--paper-prices"], "give --pool too"),
        (["--pool", "1000", "--paper-prices", "--price", "ab" * 28 + "=5:6"], "not both"),
        (["--pool", "1000", "--price", "zz=5:6"], "--price"),
        (["--pool", "lots"], "--pool"),
        (["--fund-account", "x:1"], "--fund-account"),
        (["--fund-account", "0:1000"], "MASTER_KEY_FILE"),
        (["--block-seconds", "0.01"], "--block-seconds"),
        (["--block-seconds", "0"], "give --http-port too"),
    ]
    for extra, why in cases:
        result = run_dhl(listen + extra, {"MASTER_KEY_FILE": ""})
        assert result.returncode == 2 and why in result.stderr, (extra, result.stderr)


def test_dhl_sandbox_funds_managed_accounts_and_a_pool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`--fund-account` derives the address from MASTER_KEY_FILE (the hardware wallets'
    "all" vector here) and says it; `--pool` funds the batcher's pool; the process serves."""

    key = tmp_path / "master.key"
    key.write_text("all all all all all all all all all all all all")
    os.chmod(key, 0o600)
    socket = tmp_path / "sandbox.sock"
    djed = "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344"

    with dhl_sandbox(socket, "--fund-account", "0:100000000",
                     "--pool", f"1000000000:{djed}=1000000000000",
                     "--price", f"{djed}=5.69:6", "--block-seconds", "0.5",
                     env={"MASTER_KEY_FILE": str(key)}) as lines:
        assert wait_until(lambda: any(line.startswith("listening") for line in lines), 20,
                          interval_s=0.1), lines
        assert "account 0: addr1qxq0nckg3ekgzuqg7w5p9mvgnd9ym28qh5grlph8xd2z92sj922xhxkn6twl" \
               "q2wn4q50q352annk3903tj00h45mgfmsl3s9zt\n" in lines, lines
        assert "all all" not in "".join(lines)
