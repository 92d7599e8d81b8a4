"""execution/witnesses.py: a wallet's signatures merged into real built transactions with
the body untouched (its hash, the tx id, unchanged) and every other witness entry byte
for byte; signatures checked against the body; the signers a transaction needs."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cbor2
import pytest
from nacl.signing import SigningKey

from chain.ledger import decode_transaction
from execution.witnesses import (WitnessError, body_hash, key_hash, merge_witnesses,
                                 required_signers, signature_problems, vkey_witnesses)
from tests.support.fixtures import fixtures_dir, require

#: A real Minswap v1 batch fill on mainnet: redeemers, datums and its batcher's signature.
BATCH_FILL = Path("dex") / "minswap-v1" / "txs" / "tx_ae2210f9_batch_fill.hex"
BUILD = Path("dexhunter") / "swap-build.response.json"


def key(label: str) -> SigningKey:
    return SigningKey(hashlib.blake2b(label.encode(), digest_size=32).digest())


def wallet_signs(tx_cbor: bytes, *signers: SigningKey) -> bytes:
    """What a CIP-30 wallet's signTx answers: a witness set with its vkey witnesses."""
    digest = body_hash(tx_cbor)
    return cbor2.dumps({0: [[bytes(k.verify_key), k.sign(digest).signature] for k in signers]})


def entries(tx_cbor: bytes) -> dict[int, bytes]:
    """The witness set's entries other than the vkey witnesses, as raw values."""
    from chain.ledger.signatures import split_transaction

    return {k: v for k, _, v in split_transaction(tx_cbor).entries if k != 0}


@pytest.fixture(scope="module")
def batch_fill() -> bytes:
    path = require(fixtures_dir() / BATCH_FILL, "the Minswap v1 batch fill")
    return bytes.fromhex(path.read_text().strip())


@pytest.fixture(scope="module")
def build() -> bytes:
    path = require(fixtures_dir() / BUILD, "DexHunter's recorded build")
    return bytes.fromhex(json.loads(path.read_text())["cbor"])


def test_the_real_signatures_of_a_mainnet_transaction_verify(batch_fill: bytes) -> None:
    signed = vkey_witnesses(batch_fill)
    assert signed, "the batch fill carries its batcher's signature"
    assert signature_problems(batch_fill, {key_hash(v) for v, _ in signed}) == []
    assert body_hash(batch_fill) == decode_transaction(batch_fill).id


def test_a_signature_merged_into_a_script_transaction_leaves_the_rest_as_built(
        batch_fill: bytes) -> None:
    ours = key("ours")
    merged = merge_witnesses(batch_fill, wallet_signs(batch_fill, ours))
    assert decode_transaction(merged).id == decode_transaction(batch_fill).id
    assert decode_transaction(merged).body_raw == decode_transaction(batch_fill).body_raw
    assert entries(merged) == entries(batch_fill)  # redeemers, datums, scripts: same bytes
    assert len(vkey_witnesses(merged)) == len(vkey_witnesses(batch_fill)) + 1
    needed = {key_hash(bytes(ours.verify_key))} | {key_hash(v) for v, _ in
                                                  vkey_witnesses(batch_fill)}
    assert signature_problems(merged, needed) == []
    # The same signature again changes nothing; a second one by the same key is refused.
    assert merge_witnesses(merged, wallet_signs(batch_fill, ours)) == merged
    forged = cbor2.dumps({0: [[bytes(ours.verify_key), b"\x00" * 64]]})
    with pytest.raises(WitnessError, match="two different signatures"):
        merge_witnesses(merged, forged)


def test_a_wallet_signature_on_dexhunters_build(build: bytes) -> None:
    ours = key("trader")
    merged = merge_witnesses(build, wallet_signs(build, ours))
    assert decode_transaction(merged).id == decode_transaction(build).id
    assert signature_problems(merged, {key_hash(bytes(ours.verify_key))}) == []
    assert signature_problems(build, {key_hash(bytes(ours.verify_key))}) == [
        f"no signature of required key {key_hash(bytes(ours.verify_key)).hex()}"]


def test_wrong_or_missing_signatures_are_refused(build: bytes) -> None:
    ours, stranger = key("trader"), key("stranger")
    # A signature of another body (the wallet signed something else).
    other = hashlib.blake2b(b"another body", digest_size=32).digest()
    wrong = cbor2.dumps({0: [[bytes(ours.verify_key), ours.sign(other).signature]]})
    problems = signature_problems(merge_witnesses(build, wrong), {key_hash(bytes(ours.verify_key))})
    assert any("not a signature of this transaction's body" in p for p in problems)
    assert any("no signature of required key" in p for p in problems)
    # A valid signature by a key nobody asked for does not stand in for the one needed.
    theirs = merge_witnesses(build, wallet_signs(build, stranger))
    assert signature_problems(theirs, {key_hash(bytes(ours.verify_key))}) == [
        f"no signature of required key {key_hash(bytes(ours.verify_key)).hex()}"]


@pytest.mark.parametrize("bad,why", [
    (cbor2.dumps([1, 2]), "not a map"),
    (b"\xa1\x00", "not CBOR"),  # a map cut short
    (cbor2.dumps({0: [], 1: []}), "signatures only"),  # a native script slipped in
    (cbor2.dumps({0: [[b"\x01" * 32]]}), "not \\[vkey, signature"),
])
def test_a_witness_set_that_is_not_only_signatures_is_refused(build: bytes, bad: bytes,
                                                               why: str) -> None:
    with pytest.raises(WitnessError, match=why):
        merge_witnesses(build, bad)


def test_the_signers_a_transaction_needs(build: bytes) -> None:
    tx = decode_transaction(build)
    ref = tx.inputs[0]
    payment = bytes(range(28))
    ours = bytes([0x01]) + payment + bytes(range(28, 56))  # a mainnet base address
    script = bytes([0x71]) + bytes(28)  # a script's address: no key to sign
    assert payment in required_signers(build, {ref: ours})
    assert required_signers(build, {ref: script}) == set(tx.required_signers)
    with pytest.raises(WitnessError):
        required_signers(b"\x80", {})
