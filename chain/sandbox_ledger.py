"""The sandbox chain's ledger: which transactions a small local chain accepts, and the
UTxO set they leave. Pure.

A transaction is accepted when (issue 10, the sandbox chain):
- every input, collateral input and reference input exists and is unspent;
- every key-locked input (and collateral), every required signer and every reward
  withdrawal by a key has a valid vkey witness (chain/ledger/signatures.py);
- value balances: the inputs and withdrawals pay the outputs and the fee, in lovelace;
  for every token, the inputs and the mint make the outputs;
- the validity interval holds at the slot it is offered in (valid from `validity_start`,
  invalid from `ttl` on).
Not done, and said so (docs/): Plutus scripts are not run (a script-locked input is
spent if the transaction is otherwise valid), fees are not checked against the protocol
parameters, outputs' min-ADA is not enforced, and certificates are refused (the sandbox
keeps no stake state). Byron (bootstrap) inputs are refused.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import cbor2

from chain.ledger import LedgerError, Tx, TxOut, decode_transaction
from chain.ledger.signatures import WitnessError, verified_signers
from chain.ledger.tx import AssetId, TxIn

CERTIFICATES = 4  # the body key of certificates


class Rejected(Exception):
    """The ledger refuses the transaction; `reasons` say why, as a node's would."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Funds:
    """A genesis output: lovelace and tokens at an address (raw bytes)."""

    address: bytes
    lovelace: int
    assets: Mapping[AssetId, int] = field(default_factory=dict)


def genesis_id(label: str = "sandbox") -> bytes:
    """The made-up id of the genesis transaction of a ledger labelled `label`."""
    return hashlib.blake2b(f"genesis:{label}".encode(), digest_size=32).digest()


@dataclass
class SandboxLedger:
    utxos: dict[TxIn, TxOut] = field(default_factory=dict)

    @classmethod
    def from_genesis(cls, funds: Iterable[Funds], label: str = "sandbox") -> "SandboxLedger":
        """One made-up genesis transaction (id `genesis_id(label)`) paying `funds`,
        output by output."""
        from chain.ledger.address import address_text

        ledger = cls()
        for index, fund in enumerate(funds):
            ledger.utxos[(genesis_id(label), index)] = TxOut(
                address_text(fund.address), fund.address, fund.lovelace, dict(fund.assets))
        return ledger

    def check(self, tx_cbor: bytes, slot: int) -> list[str]:
        """Every reason the transaction is refused at `slot`; empty when accepted."""
        try:
            tx = decode_transaction(tx_cbor)
        except LedgerError as error:
            return [f"not a transaction: {error}"]
        reasons: list[str] = []
        if not tx.valid:
            reasons.append("a transaction marked invalid (phase 2) is not accepted here")
        if CERTIFICATES in _body_keys(tx):
            reasons.append("certificates are not supported by the sandbox")
        spent: list[TxOut] = []
        for what, refs in (("input", tx.inputs), ("collateral input", tx.collateral),
                           ("reference input", tx.reference_inputs)):
            for ref in refs:
                out = self.utxos.get(ref)
                if out is None:
                    reasons.append(f"{what} {ref[0].hex()}#{ref[1]} does not exist or is "
                                   f"spent")
                elif what != "reference input":
                    spent.append(out)
        if len(set(tx.inputs)) != len(tx.inputs):
            reasons.append("an input is listed twice")
        reasons += _signature_reasons(tx_cbor, tx, spent)
        found = [self.utxos[ref] for ref in tx.inputs if ref in self.utxos]
        if len(found) == len(tx.inputs):
            reasons += _balance_reasons(tx, found)
        if tx.validity_start is not None and slot < tx.validity_start:
            reasons.append(f"not valid before slot {tx.validity_start} (now {slot})")
        if tx.ttl is not None and slot >= tx.ttl:
            reasons.append(f"expired: valid until slot {tx.ttl} (now {slot})")
        return reasons

    def apply(self, tx_cbor: bytes, slot: int) -> Tx:
        """Accept the transaction: its inputs are spent, its outputs added. Raises
        Rejected (and changes nothing) when `check` finds a reason."""
        reasons = self.check(tx_cbor, slot)
        if reasons:
            raise Rejected(reasons)
        tx = decode_transaction(tx_cbor)
        for ref in tx.inputs:
            del self.utxos[ref]
        for index, out in enumerate(tx.outputs):
            self.utxos[(tx.id, index)] = out
        return tx

    def at(self, address: bytes) -> dict[TxIn, TxOut]:
        return {ref: out for ref, out in self.utxos.items() if out.address_bytes == address}


def _body_keys(tx: Tx) -> set[object]:
    body = cbor2.loads(tx.body_raw)
    return set(body) if isinstance(body, dict) else set()


def _signature_reasons(tx_cbor: bytes, tx: Tx, spent: list[TxOut]) -> list[str]:
    needed = set(tx.required_signers)
    reasons: list[str] = []
    for out in spent:
        kind = out.address_bytes[0] >> 4
        if kind in (0, 2, 4, 6):  # a key pays for it
            needed.add(out.address_bytes[1:29])
        elif kind == 8:
            reasons.append("Byron (bootstrap) inputs are not supported by the sandbox")
    for account in tx.withdrawals:
        if account[0] >> 4 == 0xE:
            needed.add(account[1:29])
    try:
        signed, bad = verified_signers(tx_cbor)
    except WitnessError as error:
        return [*reasons, str(error)]
    reasons += [f"the witness of key {who.hex()} does not sign this body" for who in bad]
    reasons += [f"missing the signature of key {who.hex()}"
                for who in sorted(needed - signed)]
    return reasons


def _balance_reasons(tx: Tx, spent: list[TxOut]) -> list[str]:
    consumed = sum(out.lovelace for out in spent) + sum(tx.withdrawals.values())
    produced = sum(out.lovelace for out in tx.outputs) + (tx.fee or 0)
    reasons = []
    if consumed != produced:
        reasons.append(f"value not conserved: {consumed} lovelace in, {produced} out "
                       f"(outputs and the fee)")
    tokens: Counter[AssetId] = Counter()
    for out in spent:
        tokens.update(out.assets)
    for asset, quantity in tx.mint.items():
        tokens[asset] += quantity
    for out in tx.outputs:
        tokens.subtract(out.assets)
    unbalanced = sorted((asset, left) for asset, left in tokens.items() if left)
    for (policy, name), left in unbalanced:
        reasons.append(f"token {policy.hex()}.{name.hex()} not conserved: "
                       f"{'more in than out' if left > 0 else 'more out than in'} by {abs(left)}")
    return reasons
