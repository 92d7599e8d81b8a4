"""execution/custody.py: managed position wallets derived (CIP-1852) from MASTER_KEY_FILE,
checked against the hardware wallets' public test vectors, and their signatures merged
into a real build and verified; the key file's content never in an error or a repr."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from execution.custody import Custody, CustodyError
from execution.witnesses import key_hash, merge_witnesses, signature_problems, vkey_witnesses
from tests.support.fixtures import fixtures_dir, require

#: The hardware wallets' "all" seed (Trezor's and Ledger's test suites): account 0's base
#: address (payment 1852'/1815'/0'/0/0, stake 1852'/1815'/0'/2/0), mainnet and testnet.
ALL = "all all all all all all all all all all all all"
ALL_MAINNET = ("addr1qxq0nckg3ekgzuqg7w5p9mvgnd9ym28qh5grlph8xd2z92sj922xhxkn6twlq2wn4q50q"
               "352annk3903tj00h45mgfmsl3s9zt")
ALL_TESTNET = ("addr_test1qzq0nckg3ekgzuqg7w5p9mvgnd9ym28qh5grlph8xd2z92sj922xhxkn6twlq2wn"
               "4q50q352annk3903tj00h45mgfmsu8d9w5")


def key_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "master.key"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_account_zero_is_the_hardware_wallets_address(tmp_path: Path) -> None:
    custody = Custody(key_file(tmp_path, ALL + "\n"))
    assert custody.wallet(0, "mainnet").address == ALL_MAINNET
    assert custody.wallet(0, "preprod").address == ALL_TESTNET
    one = custody.wallet(1, "mainnet")
    assert one.address != ALL_MAINNET and one.account == 1
    assert one.payment_key_hash != custody.wallet(0, "mainnet").payment_key_hash


def test_signatures_for_what_the_build_needs_merge_and_verify(tmp_path: Path) -> None:
    build = bytes.fromhex(json.loads(require(
        fixtures_dir() / "dexhunter" / "swap-build.response.json",
        "DexHunter's recorded build").read_text())["cbor"])
    custody = Custody(key_file(tmp_path, ALL))
    wallet = custody.wallet(3, "mainnet")
    needed = {wallet.payment_key_hash, wallet.stake_key_hash}
    signed = merge_witnesses(build, custody.sign(3, build, needed))
    assert signature_problems(signed, needed) == []
    assert {key_hash(v) for v, _ in vkey_witnesses(signed)} == needed
    # Only the payment key where only it is needed; none of ours: refused.
    assert len(vkey_witnesses(merge_witnesses(
        build, custody.sign(3, build, {wallet.payment_key_hash})))) == 1
    with pytest.raises(CustodyError, match="not among the transaction's signers"):
        custody.sign(3, build, {b"\x00" * 28})


@pytest.mark.parametrize("text,mode,why", [
    (ALL, 0o644, "readable by others"),
    ("all all all all all all all all all all all", 0o600, "not a BIP-39 mnemonic"),
    ("zebra " * 12, 0o600, "not a BIP-39 mnemonic"),
    ("", 0o600, "not a BIP-39 mnemonic"),
])
def test_a_key_file_that_cannot_be_used_is_refused_without_its_content(
        tmp_path: Path, text: str, mode: int, why: str) -> None:
    with pytest.raises(CustodyError, match=why) as refused:
        Custody(key_file(tmp_path, text, mode))
    assert "all all" not in str(refused.value) and "zebra" not in str(refused.value)


def test_the_key_never_shows(tmp_path: Path) -> None:
    custody = Custody(key_file(tmp_path, ALL))
    assert "all" not in repr(custody).replace("master", "")
    with pytest.raises(CustodyError, match="an account is an integer"):
        custody.wallet(-1, "mainnet")
    with pytest.raises(CustodyError, match="cannot be read"):
        Custody(tmp_path / "missing.key")
