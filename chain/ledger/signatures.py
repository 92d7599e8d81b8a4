"""A transaction's vkey witnesses as the ledger sees them: the body hash every one signs,
the witness set's entries as built, and which keys validly signed. Pure.

A vkey witness is [vkey (32 bytes), ed25519 signature of blake2b-256(body bytes) (64
bytes)]; it signs for the key hash blake2b-224(vkey). The body is hashed as built, never
re-encoded.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import cbor2

from .cbor import MAJOR_ARRAY, MAJOR_MAP, Reader, read_container, walk
from .errors import LedgerError

VKEYS, BOOTSTRAP = 0, 2  # witness-set keys of signatures
SET_TAG = 258  # Conway's set marker


class WitnessError(ValueError):
    """A witness set that cannot be read or merged, or a transaction that is not one."""


@dataclass(frozen=True)
class TxParts:
    head: bytes  # the transaction array's head
    body: bytes  # the body's bytes as built
    entries: list[tuple[Any, bytes, bytes]]  # witness set: (key, key bytes, value bytes)
    tail: bytes  # what follows the witness set: validity flag, auxiliary data


def split_transaction(tx_cbor: bytes) -> TxParts:
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
        return TxParts(head, body, entries, tx_cbor[witness_end:])
    except LedgerError as error:
        raise WitnessError(f"not a transaction: {error}") from None
    finally:
        reader.release()


def body_hash(tx_cbor: bytes) -> bytes:
    """What every vkey witness signs: blake2b-256 of the body's bytes (the tx id)."""
    return hashlib.blake2b(split_transaction(tx_cbor).body, digest_size=32).digest()


def key_hash(vkey: bytes) -> bytes:
    return hashlib.blake2b(vkey, digest_size=28).digest()


def witness_pairs(value: Any, what: str) -> tuple[list[list[bytes]], bool]:
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
    for key, _, value in split_transaction(tx_cbor).entries:
        if key == VKEYS and type(key) is int:
            pairs, _ = witness_pairs(cbor2.loads(value), "vkey witnesses")
            return [(pair[0], pair[1]) for pair in pairs]
    return []


def verified_signers(tx_cbor: bytes) -> tuple[set[bytes], list[bytes]]:
    """(key hashes whose witness is a valid signature of the body, key hashes whose
    witness is not)."""
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    digest = body_hash(tx_cbor)
    good: set[bytes] = set()
    bad: list[bytes] = []
    for vkey, signature in vkey_witnesses(tx_cbor):
        who = key_hash(vkey)
        try:
            if len(vkey) != 32 or len(signature) != 64:
                raise ValueError("sizes")
            VerifyKey(vkey).verify(digest, signature)
        except (BadSignatureError, ValueError):
            bad.append(who)
            continue
        good.add(who)
    return good, bad
