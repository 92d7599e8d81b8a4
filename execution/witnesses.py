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

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import cbor2

from chain.ledger import LedgerError
from chain.ledger.cbor import MAJOR_ARRAY, MAJOR_MAP, Reader, read_container, walk
from chain.ledger.tx import TxIn

VKEYS, BOOTSTRAP = 0, 2  # witness-set keys a wallet may add to
SET_TAG = 258  # Conway's set marker, kept where the transaction used it


class WitnessError(ValueError):
    """A witness set that cannot be merged, or a transaction that is not one."""


@dataclass(frozen=True)
class _Parts:
    head: bytes  # the transaction array's head
    body: bytes  # the body's bytes as built
    entries: list[tuple[Any, bytes, bytes]]  # witness set: (key, key bytes, value bytes)
    tail: bytes  # what follows the witness set: validity flag, auxiliary data


def _split(tx_cbor: bytes) -> _Parts:
    reader = Reader(tx_cbor)
    try:
        length, pos = read_container(tx_cbor, 0, MAJOR_ARRAY, "transaction")
        if length not in (3, 4):
            raise WitnessError("a transaction is a definite array of 3 or 4 elements")
        head = tx_cbor[:pos]
        _, body_end = reader.item(pos, "transaction body")
        body = tx_cbor[pos:body_end]
        entries: list[tuple[Any, bytes, bytes]] = []

        def entry(_index: int, start: int) -> int:
            key, key_end = reader.item(start, "witness key")
            _, end = reader.item(key_end, f"witness {key!r:.20}")
            entries.append((key, tx_cbor[start:key_end], tx_cbor[key_end:end]))
            return end

        witness_end = walk(tx_cbor, body_end, MAJOR_MAP, "transaction witnesses", entry)
        return _Parts(head, body, entries, tx_cbor[witness_end:])
    except LedgerError as error:
        raise WitnessError(f"not a transaction: {error}") from None
    finally:
        reader.release()


def body_hash(tx_cbor: bytes) -> bytes:
    """What every vkey witness signs: blake2b-256 of the body's bytes (the tx id)."""
    return hashlib.blake2b(_split(tx_cbor).body, digest_size=32).digest()


def key_hash(vkey: bytes) -> bytes:
    return hashlib.blake2b(vkey, digest_size=28).digest()


def _pairs(value: Any, what: str) -> tuple[list[list[bytes]], bool]:
    """The [vkey, signature, ...] items of a witness list, and whether it was tagged 258."""
    tagged = isinstance(value, cbor2.CBORTag) and value.tag == SET_TAG
    items = value.value if tagged else value
    if not isinstance(items, (list, tuple, set, frozenset)):
        raise WitnessError(f"{what}: not a list of witnesses")
    found: list[list[bytes]] = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) < 2 or \
                not all(isinstance(part, bytes) for part in item):
            raise WitnessError(f"{what}: a witness is not [vkey, signature, ...] bytes")
        found.append(list(item))
    return found, tagged


def vkey_witnesses(tx_cbor: bytes) -> list[tuple[bytes, bytes]]:
    """(vkey, signature) of every vkey witness the transaction carries."""
    for key, _, value in _split(tx_cbor).entries:
        if key == VKEYS and type(key) is int:
            pairs, _ = _pairs(cbor2.loads(value), "vkey witnesses")
            return [(pair[0], pair[1]) for pair in pairs]
    return []


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
    parts = _split(tx_cbor)
    entries = list(parts.entries)
    for wanted in (VKEYS, BOOTSTRAP):
        if wanted not in added:
            continue
        new, _ = _pairs(added[wanted], f"the wallet's witnesses {wanted}")
        at = next((i for i, (k, _, _) in enumerate(entries) if k == wanted and type(k) is int),
                  None)
        old: list[list[bytes]] = []
        tagged = isinstance(added[wanted], cbor2.CBORTag)
        if at is not None:
            old, tagged = _pairs(cbor2.loads(entries[at][2]), f"witnesses {wanted}")
        merged = _union(old, new)
        value = cbor2.dumps(cbor2.CBORTag(SET_TAG, merged) if tagged else merged)
        if at is None:
            entries.append((wanted, cbor2.dumps(wanted), value))
        else:
            entries[at] = (wanted, entries[at][1], value)
    witness_map = _map_head(len(entries)) + b"".join(k + v for _, k, v in entries)
    return parts.head + parts.body + witness_map + parts.tail


def _union(old: list[list[bytes]], new: list[list[bytes]]) -> list[list[bytes]]:
    by_key = {pair[0]: pair for pair in old}
    for pair in new:
        known = by_key.get(pair[0])
        if known is not None and known != pair:
            raise WitnessError(f"two different signatures by key {key_hash(pair[0]).hex()}")
        by_key[pair[0]] = pair
    return list(by_key.values())


def _map_head(length: int) -> bytes:
    return _head(MAJOR_MAP, length)


def _head(major: int, value: int) -> bytes:
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise WitnessError("a witness set that large is not a transaction's")


def signature_problems(tx_cbor: bytes, required: Iterable[bytes]) -> list[str]:
    """Each vkey witness that is not a valid signature of the body, and each required
    signer (key hash) no witness signs for; empty when the transaction may go."""
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    problems: list[str] = []
    digest = body_hash(tx_cbor)
    signed: set[bytes] = set()
    for vkey, signature in vkey_witnesses(tx_cbor):
        who = key_hash(vkey)
        try:
            if len(vkey) != 32 or len(signature) != 64:
                raise ValueError("sizes")
            VerifyKey(vkey).verify(digest, signature)
        except (BadSignatureError, ValueError):
            problems.append(f"the witness of key {who.hex()} is not a signature of this "
                            f"transaction's body")
            continue
        signed.add(who)
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
