"""Surf on the sandbox chain: the Surf stub in chain mode builds its orders from a managed
wallet's own UTxOs there (real HTTP both ways), the stub Surf batcher fills them a block
after they land, and the stub then lists the loan it opened, under the borrow order's
outRef, so its repay can be built. The engine's path end to end: `dhl sandbox
--surf-pool` as a process, the Surf source over the stub, the pre-signing check as the
engine runs it, custody's signature, local tx-submission over the sandbox's socket."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from chain.address import parse_node_address
from chain.ledger import decode_transaction
from chain.sandbox import SandboxChain
from chain.sandbox_ledger import Funds
from chain.slots import ms_to_slot
from core.settings import NETWORK_MAGICS, Network
from core.units import ADA, Asset
from execution.addresses import address_bytes
from execution.check import check_transaction
from execution.custody import Custody
from execution.expectation import Expectation
from execution.loan_check import LoanLeg
from execution.submit import SubmitRefused, submit
from execution.witnesses import merge_witnesses
from protocols.model import Wallet
from protocols.venues.surf.api import SurfApi
from protocols.venues.surf.datums import read_pool
from protocols.venues.surf.source import SurfSource
from protocols.venues.surf.tokens import load_book
from stack.processes import stop_process, wait_until
from stubs.sandbox_utxos import SandboxUtxos
from stubs.server import StubServer
from stubs.surf import load_demo, make_handler
from stubs.surf_batcher import SurfBatcher, genesis_funds
from tests.support.cli import run_dhl
from tests.support.sandbox import dhl_sandbox

MAINNET = Network("mainnet", NETWORK_MAGICS["mainnet"])
STRIKE = Asset("51" * 28, "535452494b45")  # the demo ADA pool's collateral (0.5 ADA each)
STRIKE_ID = (bytes.fromhex(STRIKE.policy), bytes.fromhex(STRIKE.name))
ADA_POOL = "0000000000000000000000000000000000000000000000000000000000005a01:0"
ENVELOPE = 2_000_000  # the demo pools' envelope and batcher fee
WAIT_S = 30


def custody(tmp_path: Path) -> Custody:
    key = tmp_path / "master.key"
    key.write_text("all all all all all all all all all all all all")
    os.chmod(key, 0o600)
    return Custody(key)


def now_slot() -> int:
    return ms_to_slot("mainnet", int(time.time() * 1000))


def call(base: str, path: str, body: Any = None) -> tuple[int, Any]:
    """GET (no body) or POST `body` as JSON: (status, JSON answer)."""
    request = urllib.request.Request(
        base + path, method="GET" if body is None else "POST",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def build(surf: StubServer, name: str, **request: Any) -> tuple[int, Any]:
    return call(surf.url, f"/api/{name}", {"request": {**request, "canonical": False}})


def positions(surf: StubServer, address: str) -> list[dict[str, Any]]:
    status, body = call(surf.url, f"/api/getAllPositions?address={address}")
    assert status == 200, body
    return [p for group in body["positions"] for p in group["positions"]]


def ref_of(wire: dict[str, Any]) -> str:
    return f"{wire['txHash']}#{wire['outputIndex']}"


def signed_by(keys: Custody, account: int, tx: bytes) -> bytes:
    wallet = keys.wallet(account, "mainnet")
    return merge_witnesses(tx, keys.sign(account, tx, {wallet.payment_key_hash}))


@pytest.fixture
def chain_and_stub(tmp_path: Path) -> Iterator[tuple[SandboxChain, StubServer, Custody]]:
    """An in-process sandbox (blocks forged by the test) with the Surf batcher, its UTxO
    endpoint and the Surf stub in chain mode over it, both on real HTTP."""
    keys = custody(tmp_path)
    funds = [Funds(address_bytes(keys.wallet(0, "mainnet").address), 200_000_000),
             Funds(address_bytes(keys.wallet(0, "mainnet").address), 30_000_000,
                   {STRIKE_ID: 2_000_000_000}),
             Funds(address_bytes(keys.wallet(1, "mainnet").address), 50_000_000,
                   {STRIKE_ID: 1_000_000_000}),
             *genesis_funds(True, 1_000_000_000, {})]
    chain = SandboxChain(funds, now_slot, magic=MAINNET.magic, block_interval_s=3600,
                         batchers=[SurfBatcher.demo(mainnet=True).fills])
    with StubServer(SandboxUtxos(lambda: chain.snapshot)) as utxos, \
            StubServer(make_handler(Path("."), mainnet=True, chain_utxos=utxos.url)) as surf:
        yield chain, surf, keys


def test_borrows_are_filled_chained_through_the_pool_then_one_is_repaid(
        chain_and_stub: tuple[SandboxChain, StubServer, Custody]) -> None:
    chain, surf, keys = chain_and_stub
    a, b = keys.wallet(0, "mainnet"), keys.wallet(1, "mainnet")
    status, infos = call(surf.url, "/api/getAllPoolInfos")
    assert infos["poolInfos"][ADA_POOL]["totalSupplied"] == 1_000_000_000  # the chain's
    orders = {}
    for account, who, principal in ((0, a, 100_000_000), (1, b, 50_000_000)):
        status, body = build(surf, "borrow", poolId=ADA_POOL, address=who.address,
                             amount=principal, collateralAmount=500_000_000)
        assert status == 200, body
        tx = bytes.fromhex(body["cbor"])
        mine = set(chain.ledger.at(address_bytes(who.address)))
        assert set(decode_transaction(tx).inputs) <= mine  # the wallet's own, real UTxOs
        assert chain.judge(6, signed_by(keys, account, tx)) is None, chain.refused
        orders[who.address] = f"{decode_transaction(tx).id.hex()}#0"
    chain.forge()  # the orders land
    status, pending = call(surf.url, f"/api/getAllOrders?address={a.address}")
    [[order]] = [g["orders"] for g in pending["orders"]]
    assert (order["type"], ref_of(order["outRef"])) == ("Borrow", orders[a.address])
    assert chain.filled == []
    chain.forge()  # the batcher fills both, the second from the first's pool output
    assert len(chain.filled) == 2, chain.refused
    # The first fill's pool output (its output 0) is what the second spent.
    assert (bytes.fromhex(chain.filled[0]), 0) not in chain.ledger.utxos
    assert (bytes.fromhex(chain.filled[1]), 0) in chain.ledger.utxos
    [loan] = positions(surf, a.address)
    assert ref_of(loan["borrowId"]) == orders[a.address]  # the order's outRef
    vault_tx = loan["outRef"]["txHash"]
    assert (loan["principal"], loan["collateral"]) == (100_000_000, 500_000_000)
    # The owner received the principal with the envelope, in the fill.
    received = chain.ledger.utxos[(bytes.fromhex(vault_tx), 1)]
    assert (received.address, received.lovelace, received.assets) == \
        (a.address, ENVELOPE + 100_000_000, {})
    status, infos = call(surf.url, "/api/getAllPoolInfos")
    row = infos["poolInfos"][ADA_POOL]
    assert (row["totalBorrowed"], row["u"]) == (150_000_000, 1_500)
    assert status == 200 and chain.mempool == []

    # The repay, named by the borrow id (the engine's loan_ref), and filled.
    status, body = build(surf, "repay", poolId=ADA_POOL, address=a.address,
                         outRef=loan["borrowId"])
    assert status == 200, body
    assert chain.judge(6, signed_by(keys, 0, bytes.fromhex(body["cbor"]))) is None, \
        chain.refused
    chain.forge()
    chain.forge()
    assert positions(surf, a.address) == [] and len(positions(surf, b.address)) == 1
    held = sum(out.assets.get(STRIKE_ID, 0) for out in chain.ledger.at(address_bytes(a.address))
               .values())
    assert held == 2_000_000_000  # all its collateral back
    status, infos = call(surf.url, "/api/getAllPoolInfos")
    assert infos["poolInfos"][ADA_POOL]["totalBorrowed"] == 50_000_000


def test_what_the_stub_refuses_in_chain_mode(
        chain_and_stub: tuple[SandboxChain, StubServer, Custody], tmp_path: Path) -> None:
    chain, surf, keys = chain_and_stub
    empty, b = keys.wallet(7, "mainnet"), keys.wallet(1, "mainnet")
    assert build(surf, "borrow", poolId=ADA_POOL, address=empty.address, amount=10_000_000,
                 collateralAmount=50_000_000)[1]["error"].startswith("stub_not_enough_funds")
    status, body = build(surf, "borrow", poolId=ADA_POOL, address=b.address,
                         amount=10_000_000, collateralAmount=5_000_000_000)  # > its STRIKE
    assert status == 400 and body["error"].startswith("stub_not_enough_funds"), body
    status, body = build(surf, "repay", poolId=ADA_POOL, address=b.address,
                         outRef={"txHash": "ab" * 32, "outputIndex": 0})
    assert status == 400 and "no loan" in body["error"]
    with StubServer(make_handler(Path("."), mainnet=True,
                                 chain_utxos="http://127.0.0.1:9")) as down:
        status, body = build(down, "borrow", poolId=ADA_POOL, address=b.address,
                             amount=10_000_000, collateralAmount=50_000_000)
        assert status == 503 and body["error"].startswith("stub_chain_unreachable"), body
        status, body = call(down.url, f"/api/getAllPositions?address={b.address}")
        assert status == 503 and body["error"].startswith("stub_chain_unreachable")
    # Paper mode is untouched: a made-up UTxO, the loan listed at once.
    paper = load_demo(mainnet=True)
    with StubServer(paper) as server:
        status, body = build(server, "borrow", poolId=ADA_POOL, address=empty.address,
                             amount=10_000_000, collateralAmount=50_000_000)
        assert status == 200 and len(positions(server, empty.address)) == 1


def test_a_pending_borrow_is_cancelled_from_the_chain(tmp_path: Path) -> None:
    """Without a batcher the order waits; the stub's cancelOrder spends it (the order
    script's Cancel, which the sandbox does not run) and the collateral comes back."""
    keys = custody(tmp_path)
    a = keys.wallet(0, "mainnet")
    chain = SandboxChain([Funds(address_bytes(a.address), 100_000_000),
                          Funds(address_bytes(a.address), 30_000_000, {STRIKE_ID: 900}),
                          *genesis_funds(True, 1_000_000_000, {})],
                         now_slot, magic=MAINNET.magic, block_interval_s=3600)
    with StubServer(SandboxUtxos(lambda: chain.snapshot)) as utxos, \
            StubServer(make_handler(Path("."), mainnet=True, chain_utxos=utxos.url)) as surf:
        status, body = build(surf, "borrow", poolId=ADA_POOL, address=a.address,
                             amount=200, collateralAmount=900)
        assert status == 200, body
        order = decode_transaction(bytes.fromhex(body["cbor"]))
        # Paid from the token's UTxO alone: the 100 ADA one stays for the cancel's fee.
        assert order.inputs == [chain.funding_ref(1)]
        assert chain.judge(6, signed_by(keys, 0, bytes.fromhex(body["cbor"]))) is None
        chain.forge()
        status, body = build(surf, "cancelOrder", poolId=ADA_POOL, address=a.address,
                             outRef={"txHash": order.id.hex(), "outputIndex": 0})
        assert status == 200, body
        cancel = bytes.fromhex(body["cbor"])
        assert (order.id, 0) in decode_transaction(cancel).inputs
        assert chain.judge(6, signed_by(keys, 0, cancel)) is None, chain.refused
        chain.forge()
        assert call(surf.url, f"/api/getAllOrders?address={a.address}")[1] == {"orders": []}
        held = sum(out.assets.get(STRIKE_ID, 0)
                   for out in chain.ledger.at(address_bytes(a.address)).values())
        assert held == 900


def test_python_m_stubs_surf_serves_chain_mode(tmp_path: Path) -> None:
    """`python -m stubs surf --chain-utxos URL` (a process): reads go to that endpoint
    (down here: the stub's 503); --chain-utxos is refused for a stub without it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stubs", "surf", "--port", "0", "--fixtures", str(tmp_path),
         "--chain-utxos", "http://127.0.0.1:9"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True).start()
    try:
        # "stub surf listening on URL", read as it comes (a stub that never says it fails
        # the wait, never hangs the test).
        assert wait_until(lambda: any("listening on " in line for line in lines), WAIT_S,
                          interval_s=0.1), lines
        url = next(line for line in lines if "listening on " in line).rsplit(" ", 1)[1].strip()
        status, body = call(url, "/api/getAllPoolInfos")
        assert status == 503 and body["error"].startswith("stub_chain_unreachable"), body
    finally:
        stop_process(proc)
    refused = subprocess.run(
        [sys.executable, "-m", "stubs", "liqwid", "--port", "0", "--fixtures", str(tmp_path),
         "--chain-utxos", "http://127.0.0.1:9"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "--chain-utxos" in refused.stderr


def test_dhl_sandbox_surf_pool_is_checked(tmp_path: Path) -> None:
    listen = ["sandbox", "--listen", f"unix://{tmp_path}/x.sock"]
    for extra, why in ((["--surf-pool", "lots"], "--surf-pool"),
                       (["--surf-pool", f"1000:{'ab' * 28}=5"], "no Surf demo pool's asset")):
        result = run_dhl(listen + extra, {"MASTER_KEY_FILE": ""})
        assert result.returncode == 2 and why in result.stderr, (extra, result.stderr)


def check_as_the_engine(built: Any, wallet: Wallet, leg: LoanLeg) -> Any:
    """tasks/position_flow.check_venue_build, the engine's pre-signing check of a
    venue's build (only its readers and network are read of the flow's context)."""
    from tasks.position_flow import check_venue_build

    ctx = SimpleNamespace(readers=(), network="mainnet")
    return check_venue_build(ctx, built, wallet, leg, int(time.time() * 1000))  # type: ignore[arg-type]


def test_a_surf_loan_through_dhl_sandbox_opened_filled_and_repaid(tmp_path: Path) -> None:
    """The live path's loan, end to end: `dhl sandbox --surf-pool` funds the pool and a
    managed account (ADA and STRIKE); the Surf source asks the stub for a borrow; the
    engine's pre-signing check passes it; custody signs; it is submitted over local
    tx-submission and accepted (a second submission refused: a double spend); blocks
    later the batcher has filled it: the owner holds the borrowed ADA and the stub lists
    the loan under the order's outRef (the engine's loan_ref); its repay goes the same
    way and the collateral comes back, the vault gone."""
    keys = custody(tmp_path)
    socket = tmp_path / "sandbox.sock"
    owner = keys.wallet(0, "mainnet")
    with dhl_sandbox(socket, "--fund-account", "0:150000000",
                     "--fund-account", f"0:20000000:{STRIKE.unit}=2000000000",
                     "--surf-pool", "1000000000", "--http-port", "0",
                     "--block-seconds", "0.3",
                     env={"MASTER_KEY_FILE": str(tmp_path / "master.key")}) as lines:
        assert wait_until(lambda: any(line.startswith("listening") for line in lines),
                          WAIT_S, interval_s=0.1), lines
        [endpoint] = [line.split()[2].split("/addresses/")[0] for line in lines
                      if line.startswith("UTxOs on ")]
        node = parse_node_address(f"unix://{socket}")
        with StubServer(make_handler(Path("."), mainnet=True, chain_utxos=endpoint)) as surf:
            source = SurfSource(MAINNET, load_book("mainnet"),
                                SurfApi(surf.url + "/api", timeout_s=10.0))
            market = next(m for m in source.fetch_markets() if m.borrow.asset == ADA)
            assert market.available_liquidity == 1_000_000_000  # the sandbox's pool
            wallet = Wallet(owner.address)  # as the engine gives it: the address only

            built = source.build_borrow(market.market_id, 100_000_000, STRIKE, 500_000_000,
                                        wallet)
            result = check_as_the_engine(built, wallet,
                                         LoanLeg("borrow", STRIKE, 500_000_000, ADA,
                                                 100_000_000))
            assert not isinstance(result, str), result
            assert exact_change(built.cbor, endpoint, owner.address, built.intent)
            tx_id = decode_transaction(built.cbor).id.hex()
            [venue] = [o.index for o in result.outputs if o.role == "venue"]
            loan_ref = f"{tx_id}#{venue}"  # what tasks/position_flow records
            signed = signed_by(keys, 0, built.cbor)
            assert submit(node, MAINNET.magic, signed) == tx_id
            with pytest.raises(SubmitRefused, match="does not exist or is spent"):
                submit(node, MAINNET.magic, signed)

            def listed() -> bool:
                return [ref_of(p["borrowId"]) for p in positions(surf, owner.address)] \
                    == [loan_ref]

            assert wait_until(listed, WAIT_S, interval_s=0.2), lines
            [loan] = positions(surf, owner.address)
            fill = loan["outRef"]["txHash"]
            mine = utxos_at(endpoint, owner.address)
            assert mine[(fill, 1)] == (ENVELOPE + 100_000_000, {})  # the borrowed ADA
            [vault] = source.fetch_loans(owner.address)
            assert (vault["loan"], vault["current_ref"]) == (loan_ref, ref_of(loan["outRef"]))

            repay = source.build_repay(loan_ref, None, wallet)
            result = check_as_the_engine(repay, wallet, LoanLeg("repay", ADA, 100_000_000,
                                                                STRIKE, 500_000_000))
            assert not isinstance(result, str), result
            assert submit(node, MAINNET.magic, signed_by(keys, 0, repay.cbor)) \
                == decode_transaction(repay.cbor).id.hex()
            assert wait_until(lambda: positions(surf, owner.address) == [], WAIT_S,
                              interval_s=0.2), lines
            strike = sum(assets.get(STRIKE.unit, 0)
                         for _, assets in utxos_at(endpoint, owner.address).values())
            assert strike == 2_000_000_000  # the collateral is back
            vaults = load_demo(mainnet=True).context(
                load_demo(mainnet=True).pools[ADA_POOL]).vault_address
            assert utxos_at(endpoint, vaults) == {}  # the vault is gone
            [pool_row] = utxo_rows(endpoint, load_demo(mainnet=True).pool_address(
                load_demo(mainnet=True).pools[ADA_POOL]))
            state = read_pool(bytes.fromhex(pool_row["inline_datum"]))
            assert state.total_borrowed == 0


def utxo_rows(endpoint: str, address: str) -> list[dict[str, Any]]:
    status, rows = call(endpoint, f"/addresses/{address}/utxos")
    assert status == 200, rows
    return list(rows)


def utxos_at(endpoint: str, address: str) -> dict[tuple[str, int], tuple[int, dict[str, int]]]:
    """An address's UTxOs on the sandbox: (tx, ix) → (lovelace, {unit: quantity})."""
    found = {}
    for row in utxo_rows(endpoint, address):
        amounts = {a["unit"]: int(a["quantity"]) for a in row["amount"]}
        lovelace = amounts.pop("lovelace")
        found[(row["tx_hash"], row["output_index"])] = (lovelace, amounts)
    return found


def exact_change(tx: bytes, endpoint: str, address: str, intent: Any) -> bool:
    """The pre-signing check with the wallet's UTxOs on the chain given (what leaves the
    wallet compared with the intent), and the change exact to the unit: what the spent
    UTxOs held is what the outputs hold and the fee."""
    from stubs.sandbox_utxos import row_output
    from stubs.surf import cip30_pair

    chain_utxos = dict(row_output(row) for row in utxo_rows(endpoint, address))
    decoded = decode_transaction(tx)
    spent = [chain_utxos[ref] for ref in decoded.inputs]
    wallet = Wallet(address, tuple(cip30_pair(ref, out) for ref, out in chain_utxos.items()))
    result = check_transaction(tx, Expectation.for_wallet(intent, wallet, fee_cap=1_000_000),
                               readers=(), now_slot=now_slot(), network="mainnet")
    assert result.ok and result.balance_checked, result.reasons
    lovelace_in = sum(out.lovelace for out in spent)
    lovelace_out = sum(out.lovelace for out in decoded.outputs) + (decoded.fee or 0)
    tokens_in = sum(out.assets.get(STRIKE_ID, 0) for out in spent)
    tokens_out = sum(out.assets.get(STRIKE_ID, 0) for out in decoded.outputs)
    return lovelace_in == lovelace_out and tokens_in == tokens_out
