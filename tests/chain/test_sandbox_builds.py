"""A DexHunter stub build made from a managed wallet's own UTxOs on the sandbox chain,
signed by custody and merged, is accepted by the sandbox's ledger: real inputs, exact
change, the order at the CSWAP script, both keys DexHunter asks for; a wallet that
cannot pay is refused before anything is built."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chain.sandbox_ledger import Funds, SandboxLedger
from execution.addresses import address_bytes
from execution.custody import Custody
from execution.witnesses import merge_witnesses
from stubs.dexhunter_tx import NotEnoughFunds, Swap, build_tx
from tests.support.fixtures import fixtures_dir, require

USDCX = "25c5de5f5b286073c593edfd77b48abc7a48e5a4f3d4cd9d428ff93555534443"
TOK = (bytes.fromhex("ab" * 28), b"TOK")
DJED = "8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61446a65644d6963726f555344"


@pytest.fixture(scope="module")
def template() -> bytes:
    path = require(fixtures_dir() / "dexhunter" / "swap-build.response.json",
                   "DexHunter's recorded build")
    return bytes.fromhex(json.loads(path.read_text())["cbor"])


def custody(tmp_path: Path) -> Custody:
    key = tmp_path / "master.key"
    key.write_text("all all all all all all all all all all all all")
    os.chmod(key, 0o600)
    return Custody(key)


def swap(buyer: str, ledger: SandboxLedger, **extra: object) -> Swap:
    utxos = tuple((ref[0], ref[1], out.lovelace, dict(out.assets))
                  for ref, out in ledger.at(address_bytes(buyer)).items())
    fields: dict[object, object] = dict(
        buyer=buyer, sell="", buy=USDCX, amount_in=20_000_000, min_out=5_000_000,
        batcher_fee=690_000, deposits=2_000_000, platform_fee=1_000_000,
        request_key=b"k", valid_from=1_000, utxos=utxos)
    fields.update(extra)
    return Swap(**fields)  # type: ignore[arg-type]


def test_a_stub_build_from_the_wallets_utxos_is_accepted_by_the_sandbox(
        tmp_path: Path, template: bytes) -> None:
    keys = custody(tmp_path)
    wallet = keys.wallet(0, "mainnet")
    ledger = SandboxLedger.from_genesis([
        Funds(address_bytes(wallet.address), 15_000_000),
        Funds(address_bytes(wallet.address), 12_000_000, {TOK: 9})])
    tx = build_tx(template, swap(wallet.address, ledger))
    unsigned = ledger.check(tx, slot=1_010)
    assert any("missing the signature" in r for r in unsigned), unsigned
    signed = merge_witnesses(tx, keys.sign(0, tx, {wallet.payment_key_hash,
                                                   wallet.stake_key_hash}))
    assert ledger.check(signed, slot=1_010) == []
    applied = ledger.apply(signed, slot=1_010)
    # Every token came back as change; the wallet keeps the rest of its ADA.
    mine = ledger.at(address_bytes(wallet.address))
    assert [dict(out.assets) for out in mine.values()] == [{TOK: 9}]
    spent = 15_000_000 + 12_000_000 - sum(out.lovelace for out in mine.values())
    assert spent == 20_000_000 + 690_000 + 2_000_000 + 1_000_000 + (applied.fee or 0)
    assert ledger.check(signed, slot=1_011)  # once only: a second try is a double spend


def test_a_wallet_that_cannot_pay_is_refused_before_anything_is_built(
        tmp_path: Path, template: bytes) -> None:
    wallet = custody(tmp_path).wallet(1, "mainnet")
    ledger = SandboxLedger.from_genesis([Funds(address_bytes(wallet.address), 5_000_000)])
    with pytest.raises(NotEnoughFunds, match="lovelace"):
        build_tx(template, swap(wallet.address, ledger))
    with pytest.raises(NotEnoughFunds, match="544f4b"):  # selling a token it lacks
        build_tx(template, swap(wallet.address, ledger, sell=(TOK[0] + TOK[1]).hex(),
                                buy="", amount_in=3))


def test_the_dexhunter_stub_builds_from_the_sandbox_over_http(tmp_path: Path) -> None:
    """The stub asked to build for a managed wallet reads its UTxOs from the sandbox's
    endpoint (real HTTP both ways) and spends them; an empty wallet gets the stub's
    refusal; an endpoint that is down is the stub's 503, not a build."""
    import json as json_lib
    import urllib.request

    from chain.sandbox import SandboxChain
    from stubs.dexhunter import make_handler
    from stubs.sandbox_utxos import SandboxUtxos
    from stubs.server import StubServer

    fixtures = require(fixtures_dir() / "dexhunter", "DexHunter recordings").parent
    keys = custody(tmp_path)
    wallet, empty = keys.wallet(0, "mainnet"), keys.wallet(5, "mainnet")
    chain = SandboxChain([Funds(address_bytes(wallet.address), 80_000_000)], lambda: 10,
                         magic=42, block_interval_s=3600)

    def build(server: StubServer, buyer: str) -> tuple[int, object]:
        request = urllib.request.Request(
            f"{server.url}/swap/build", method="POST",
            data=json_lib.dumps({"buyer_address": buyer, "token_in": "", "token_out": DJED,
                                 "amount_in": 20, "slippage": 1}).encode(),
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json_lib.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json_lib.loads(error.read())

    with StubServer(SandboxUtxos(lambda: chain.snapshot)) as utxos, \
            StubServer(make_handler(fixtures, utxos.url)) as dexhunter:
        status, body = build(dexhunter, wallet.address)
        assert status == 200, body
        tx = bytes.fromhex(body["cbor"])  # type: ignore[index]
        [genesis] = chain.ledger.at(address_bytes(wallet.address))
        from chain.ledger import decode_transaction

        assert decode_transaction(tx).inputs == [genesis]
        signed = merge_witnesses(tx, keys.sign(0, tx, {wallet.payment_key_hash,
                                                       wallet.stake_key_hash}))
        slot = decode_transaction(tx).validity_start or 0
        assert chain.ledger.check(signed, slot=slot + 1) == []
        assert build(dexhunter, empty.address) == (400, "stub_not_enough_funds")
    with StubServer(make_handler(fixtures, "http://127.0.0.1:9")) as down:
        assert build(down, wallet.address) == (503, "stub_chain_unreachable")


def test_the_stub_batcher_fills_a_cswap_order_in_the_next_block(tmp_path: Path,
                                                                template: bytes) -> None:
    """A buy of DJED built by the DexHunter stub from the wallet's UTxOs, signed and
    accepted, lands in one block; the batcher fills it in the next, from the pool's
    reserves, at the price less the pool fee; the receiver holds the DJED, value
    conserved at every step (the sandbox ledger checked each transaction)."""
    from decimal import Decimal

    from chain.sandbox import SandboxChain
    from stubs.sandbox_batcher import CswapBatcher

    keys = custody(tmp_path)
    wallet = keys.wallet(0, "mainnet")
    djed = bytes.fromhex(DJED)
    pool = bytes([0x71]) + bytes(range(100, 128))  # a made-up pool script address
    order_script = bytes.fromhex("da5b47aed3955c9132ee087796fa3b58a1ba6173fa31a7bc29e56d4e")
    batcher = CswapBatcher(order_script, pool, price=lambda unit: Decimal("5"),
                           decimals=lambda unit: 6)
    chain = SandboxChain([Funds(address_bytes(wallet.address), 80_000_000),
                          Funds(pool, 1_000_000_000, {(djed[:28], djed[28:]): 10**12})],
                         lambda: 2_000, magic=42, block_interval_s=3600,
                         batchers=[batcher.fills])
    order = swap(wallet.address, chain.ledger, buy=DJED, amount_in=25_000_000,
                 min_out=4_900_000, valid_from=1_990)
    tx = build_tx(template, order)
    signed = merge_witnesses(tx, keys.sign(0, tx, {wallet.payment_key_hash,
                                                   wallet.stake_key_hash}))
    assert chain.judge(6, signed) is None, chain.refused
    chain.forge()  # the order lands
    assert chain.filled == [] and len(chain.blocks[-1:]) == 1
    chain.forge()  # the next block fills it
    assert len(chain.filled) == 1, chain.refused
    mine = chain.ledger.at(address_bytes(wallet.address))
    bought = sum(out.assets.get((djed[:28], djed[28:]), 0) for out in mine.values())
    # 25 ADA at 5 ADA per DJED, less the 0.2 % pool fee: 4.99 DJED, above the 4.9 minimum.
    assert bought == 4_990_000
    chain.forge()  # nothing left to fill
    assert len(chain.filled) == 1
