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
