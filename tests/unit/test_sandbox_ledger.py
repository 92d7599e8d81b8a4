"""chain/sandbox_ledger.py: the sandbox chain accepts a real signed transaction that spends
existing funds and balances within its validity window, and refuses every other one
with the node-like reason; an accepted one moves the UTxO set exactly."""
from __future__ import annotations

import hashlib
from typing import Any

import cbor2
import pytest
from nacl.signing import SigningKey

from chain.ledger import decode_transaction
from chain.sandbox_ledger import Funds, Rejected, SandboxLedger

POLICY, NAME = bytes(range(28)), b"TOK"


def key(label: str) -> SigningKey:
    return SigningKey(hashlib.blake2b(label.encode(), digest_size=32).digest())


def key_hash(k: SigningKey) -> bytes:
    return hashlib.blake2b(bytes(k.verify_key), digest_size=28).digest()


def enterprise(k: SigningKey) -> bytes:
    return bytes([0x61]) + key_hash(k)  # mainnet, payment key, no stake part


SCRIPT = bytes([0x71]) + bytes(28)  # a script address: no key signs for it
ALICE, BOB = key("alice"), key("bob")


def tx(inputs: list[tuple[bytes, int]], outputs: list[tuple[bytes, Any]], fee: int, *,
       signers: tuple[SigningKey, ...] = (), ttl: int | None = 1_000,
       start: int | None = None, mint: dict[bytes, dict[bytes, int]] | None = None,
       extra: dict[int, Any] | None = None) -> bytes:
    body: dict[int, Any] = {0: [list(i) for i in inputs],
                            1: [{0: a, 1: v} for a, v in outputs], 2: fee}
    if ttl is not None:
        body[3] = ttl
    if start is not None:
        body[8] = start
    if mint:
        body[9] = mint
    body.update(extra or {})
    raw = cbor2.dumps(body)
    digest = hashlib.blake2b(raw, digest_size=32).digest()
    witnesses = {0: [[bytes(k.verify_key), k.sign(digest).signature] for k in signers]} \
        if signers else {}
    return cbor2.dumps([body, witnesses, True, None])


@pytest.fixture
def ledger() -> SandboxLedger:
    return SandboxLedger.from_genesis([
        Funds(enterprise(ALICE), 100_000_000, {(POLICY, NAME): 500}),
        Funds(SCRIPT, 10_000_000)])


def genesis_ref(ledger: SandboxLedger, address: bytes) -> tuple[bytes, int]:
    [ref] = ledger.at(address)
    return ref


def test_a_signed_balanced_transaction_is_accepted_and_moves_the_utxos(
        ledger: SandboxLedger) -> None:
    ref = genesis_ref(ledger, enterprise(ALICE))
    pay = tx([ref], [(enterprise(BOB), [30_000_000, {POLICY: {NAME: 200}}]),
                     (enterprise(ALICE), [69_800_000, {POLICY: {NAME: 300}}])], 200_000,
             signers=(ALICE,))
    assert ledger.check(pay, slot=10) == []
    applied = ledger.apply(pay, slot=10)
    assert applied.id == decode_transaction(pay).id
    assert ref not in ledger.utxos
    [(bob_ref, bob_out)] = ledger.at(enterprise(BOB)).items()
    assert bob_ref == (applied.id, 0) and bob_out.lovelace == 30_000_000
    assert bob_out.assets == {(POLICY, NAME): 200}
    # Spending it again is a double spend: refused, nothing changes.
    before = dict(ledger.utxos)
    with pytest.raises(Rejected, match="does not exist or is spent"):
        ledger.apply(pay, slot=11)
    assert ledger.utxos == before


def test_every_rule_refuses_with_its_reason(ledger: SandboxLedger) -> None:
    ref = genesis_ref(ledger, enterprise(ALICE))
    out = [(enterprise(BOB), [99_800_000, {POLICY: {NAME: 500}}])]
    cases = {
        "missing the signature of key " + key_hash(ALICE).hex():
            tx([ref], out, 200_000, signers=(BOB,)),
        "value not conserved": tx([ref], out, 100_000, signers=(ALICE,)),
        "more in than out by 1":
            tx([ref], [(enterprise(BOB), [99_800_000, {POLICY: {NAME: 499}}])], 200_000,
               signers=(ALICE,)),
        "expired: valid until slot 5": tx([ref], out, 200_000, signers=(ALICE,), ttl=5),
        "not valid before slot 50": tx([ref], out, 200_000, signers=(ALICE,), start=50),
        "does not exist or is spent": tx([(bytes(32), 7)], out, 200_000, signers=(ALICE,)),
        "certificates are not supported":
            tx([ref], out, 200_000, signers=(ALICE,), extra={4: []}),
        "missing the signature of key " + key_hash(BOB).hex():
            tx([ref], out, 200_000, signers=(ALICE,), extra={14: [key_hash(BOB)]}),
    }
    for why, candidate in cases.items():
        reasons = ledger.check(candidate, slot=10)
        assert any(why in r for r in reasons), (why, reasons)
    # A signature of another body does not count.
    good = tx([ref], out, 200_000, signers=(ALICE,))
    body, _, valid, aux = cbor2.loads(good)
    other = ALICE.sign(hashlib.blake2b(b"else", digest_size=32).digest()).signature
    forged = cbor2.dumps([body, {0: [[bytes(ALICE.verify_key), other]]}, valid, aux])
    assert any("does not sign this body" in r for r in ledger.check(forged, slot=10))
    assert ledger.check(b"\x80", slot=10)[0].startswith("not a transaction")


def test_minting_and_script_inputs(ledger: SandboxLedger) -> None:
    ref = genesis_ref(ledger, enterprise(ALICE))
    script_ref = genesis_ref(ledger, SCRIPT)
    minted = tx([ref, script_ref],
                [(enterprise(ALICE), [109_800_000, {POLICY: {NAME: 500, b"NEW": 7}}])],
                200_000, signers=(ALICE,), mint={POLICY: {b"NEW": 7}})
    # The script-locked input needs no signature (scripts are not run here).
    assert ledger.check(minted, slot=1) == []
    burned = tx([ref], [(enterprise(ALICE), [99_800_000, {POLICY: {NAME: 400}}])], 200_000,
                signers=(ALICE,), mint={POLICY: {NAME: -100}})
    assert ledger.check(burned, slot=1) == []
