"""Forging a block of the sandbox chain from accepted transactions. Pure.

A Conway block in the form block-fetch and local chain-sync carry it, `[7, block]`:
`[header, tx bodies, witness sets, auxiliary data, invalid txs]`. Each transaction's
body and witness set go in with the bytes they were submitted with, so its id (the
hash of its body) is the one the submitter computed. The header body has the ten Praos
fields; block number, slot, previous hash, body size and body hash are true (the body
hash as Alonzo and later compute it: the hash of the four body parts' hashes). The
issuer, VRF, operational certificate and KES signature are made up: the sandbox has no
stake pool, and nothing here verifies them (docs/live.md).
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import cbor2

from chain.ledger.cbor import encoded_array, encoded_map
from chain.ledger.signatures import split_transaction

CONWAY_TAG = 7
PROTOCOL_VERSION = (10, 0)


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def forge_block(txs: Sequence[bytes], *, slot: int, height: int,
                prev_hash: bytes | None, label: str = "sandbox") -> bytes:
    """The block (tagged `[7, block]`) holding `txs` (whole transactions as submitted)."""
    bodies: list[bytes] = []
    witnesses: list[bytes] = []
    aux: dict[int, Any] = {}
    invalid: list[int] = []
    for index, tx_cbor in enumerate(txs):
        parts = split_transaction(tx_cbor)
        bodies.append(parts.body)
        witnesses.append(encoded_map((k, v) for _, k, v in parts.entries))
        # What follows the witness set (validity flag and auxiliary data, or the data
        # alone), read as one array: the transaction's own head says how many there are.
        tail = cbor2.loads(bytes([0x80 | ((parts.head[0] & 0x1F) - 2)]) + parts.tail)
        valid, data = (tail[0], tail[1]) if len(tail) == 2 else (True, tail[0])
        if data is not None:
            aux[index] = data
        if valid is False:
            invalid.append(index)
    body_parts = [encoded_array(bodies), encoded_array(witnesses), cbor2.dumps(aux),
                  cbor2.dumps(invalid)]
    body_hash = _hash(b"".join(_hash(part) for part in body_parts))
    issuer = _hash(f"issuer:{label}".encode())
    header_body = [height, slot, prev_hash, issuer, _hash(f"vrf:{label}".encode()),
                   [bytes(64), bytes(80)], sum(len(part) for part in body_parts), body_hash,
                   [_hash(f"hot:{label}".encode()), 0, 0, bytes(64)],
                   list(PROTOCOL_VERSION)]
    header = cbor2.dumps([header_body, bytes(448)])
    block = bytes([0x85]) + header + b"".join(body_parts)
    return bytes([0x82, CONWAY_TAG]) + block


def header_hash(block: bytes) -> bytes:
    """The hash of a forged block's header (what the next block names as previous)."""
    from chain.ledger import decode_block

    return decode_block(block).hash
