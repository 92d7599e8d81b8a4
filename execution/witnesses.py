"""A transaction's signatures: merging a wallet's witness set into a built transaction
without touching its body, and checking the signatures before anything is submitted.
Pure.

The transaction id is the hash of the body's bytes as built, and a script transaction's
`script_data_hash` covers its redeemers and datums as encoded in the witness set. So a
merge keeps the body's bytes and every witness-set entry's bytes as they are, and writes
only the vkey witnesses (key 0) afresh: the union of those already there and the
wallet's. A wallet (CIP-30 `signTx`) adds signatures and nothing else.

A vkey witness is [vkey (32 bytes), ed25519 signature of the body hash (64 bytes)]; it
signs for the key hash blake2b-224(vkey).
"""
from __future__ import annotations

from typing import Iterable, Mapping

import cbor2

from chain.ledger import LedgerError
from chain.ledger.cbor import encoded_map
from chain.ledger.signatures import (BOOTSTRAP, SET_TAG, VKEYS, WitnessError, witness_pairs, split_transaction,
                                     body_hash, key_hash, verified_signers, vkey_witnesses)
from chain.ledger.tx import TxIn

__all__ = ["WitnessError", "body_hash", "key_hash", "merge_witnesses", "required_signers",
           "signature_problems", "vkey_witnesses"]


def merge_witnesses(tx_cbor: bytes, added_cbor: bytes) -> bytes:
    """`tx_cbor` with the wallet's witness set `added_cbor` (CIP-30 `signTx`'s answer)
    merged in: the body and every other witness entry byte for byte as built."""
    try:
        added = cbor2.loads(added_cbor)
    except Exception as error:  # cbor2 raises several types for bad bytes
        raise WitnessError(f"the witness set is not CBOR: {type(error).__name__}") from None
    if not isinstance(added, Mapping):
        raise WitnessError("the witness set is not a map")
    extra = sorted(repr(k) for k in added if k not in (VKEYS, BOOTSTRAP) or type(k) is not int)
    if extra:
        raise WitnessError(f"a wallet adds signatures only; its witness set also has "
                           f"{', '.join(extra)}")
    parts = split_transaction(tx_cbor)
    entries = list(parts.entries)
    for wanted in (VKEYS, BOOTSTRAP):
        if wanted not in added:
            continue
        new, _ = witness_pairs(added[wanted], f"the wallet's witnesses {wanted}")
        at = next((i for i, (k, _, _) in enumerate(entries) if k == wanted and type(k) is int),
                  None)
        old: list[list[bytes]] = []
        tagged = isinstance(added[wanted], cbor2.CBORTag)
        if at is not None:
            old, tagged = witness_pairs(cbor2.loads(entries[at][2]), f"witnesses {wanted}")
        merged = _union(old, new)
        value = cbor2.dumps(cbor2.CBORTag(SET_TAG, merged) if tagged else merged)
        if at is None:
            entries.append((wanted, cbor2.dumps(wanted), value))
        else:
            entries[at] = (wanted, entries[at][1], value)
    witness_map = encoded_map((k, v) for _, k, v in entries)
    return parts.head + parts.body + witness_map + parts.tail


def _union(old: list[list[bytes]], new: list[list[bytes]]) -> list[list[bytes]]:
    by_key = {pair[0]: pair for pair in old}
    for pair in new:
        known = by_key.get(pair[0])
        if known is not None and known != pair:
            raise WitnessError(f"two different signatures by key {key_hash(pair[0]).hex()}")
        by_key[pair[0]] = pair
    return list(by_key.values())


def signature_problems(tx_cbor: bytes, required: Iterable[bytes]) -> list[str]:
    """Each vkey witness that is not a valid signature of the body, and each required
    signer (key hash) no witness signs for; empty when the transaction may go."""
    signed, bad = verified_signers(tx_cbor)
    problems = [f"the witness of key {who.hex()} is not a signature of this transaction's "
                f"body" for who in bad]
    for needed in sorted(set(required) - signed):
        problems.append(f"no signature of required key {needed.hex()}")
    return problems


def required_signers(tx_cbor: bytes, spent: Mapping[TxIn, bytes]) -> set[bytes]:
    """The key hashes that must sign: the body's required signers, the payment keys of
    the key-locked inputs (and collateral) whose addresses are in `spent` (ref ->
    address bytes: the UTxOs we know), and the stake keys of reward withdrawals."""
    from chain.ledger import decode_transaction

    try:
        tx = decode_transaction(tx_cbor)
    except LedgerError as error:
        raise WitnessError(f"not a transaction: {error}") from None
    needed = set(tx.required_signers)
    for ref in [*tx.inputs, *tx.collateral]:
        address = spent.get(ref)
        if address is not None and address[0] >> 4 in (0, 2, 4, 6):  # key payment part
            needed.add(address[1:29])
    for account in tx.withdrawals:
        if account[0] >> 4 == 0xE:  # a reward account whose credential is a key
            needed.add(account[1:29])
    return needed
