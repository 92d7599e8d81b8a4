"""Block headers of every era: the fields a follower needs (slot, height, hash, prev hash).

Also decodes the header of an N2N chain-sync MsgRollForward, which arrives wrapped with
the HFC era index instead of the block tag.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

import cbor2

from .cbor import tag24_bytes
from .eras import BYRON_EPOCH_SLOTS, ERA_BY_HFC_INDEX, ERA_SHAPE
from .errors import LedgerError

BYRON_EBB, BYRON_MAIN = 0, 1
_KINDS = (BYRON_EBB, BYRON_MAIN)


@dataclass(frozen=True)
class HeaderView:
    era: str
    slot: int
    height: int
    hash: bytes
    prev_hash: bytes | None


_BLAKE2B_256 = hashlib.blake2b(digest_size=32)  # copied, never updated: thread-safe


def blake2b_256(data: bytes) -> bytes:
    # Copying a ready hasher skips the keyword parsing of the constructor (~10% of a
    # header hash); this runs for every block and every tx id.
    hasher = _BLAKE2B_256.copy()
    hasher.update(data)
    return hasher.digest()


def byron_hash(kind: int, header_raw: bytes) -> bytes:
    # The Byron hash covers `[kind, header]`: the 2-byte array head 82 00 / 82 01 first.
    return blake2b_256(bytes((0x82, kind)) + header_raw)


def _uint(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise LedgerError(f"{where}: expected an unsigned integer, found {value!r:.40}")
    return value


def _hash32(value: Any, where: str, *, nullable: bool = False) -> bytes | None:
    if value is None and nullable:
        return None
    if not isinstance(value, bytes) or len(value) != 32:
        raise LedgerError(f"{where}: expected a 32-byte hash, found {value!r:.40}")
    return value


def shelley_header_fields(header: Any, where: str) -> tuple[int, int, bytes | None, int, int]:
    """(height, slot, prev hash, header body field count, protocol major) of a decoded
    Shelley-family header `[header_body, kes_signature]`. 15 header body fields through
    Alonzo (TPraos: the version is fields 13 and 14), 10 from Babbage (Praos: the version
    is the last field, `[major, minor]`). Called once per block, so kept lean."""
    if type(header) is not list or len(header) != 2 or type(header[0]) is not list:
        raise LedgerError(f"{where}: expected [header_body, kes_signature]")
    body = header[0]
    fields = len(body)
    if fields == 10:
        version = body[9]
        if type(version) is not list or len(version) != 2:
            raise LedgerError(f"{where}: header body field 9 is not [major, minor]")
        major = version[0]
    elif fields == 15:
        major = body[13]
    else:
        raise LedgerError(f"{where}: header body has {fields} fields, expected 15 or 10")
    height, slot, prev = body[0], body[1], body[2]
    if type(height) is not int or height < 0:
        height = _uint(height, f"{where} block number")
    if type(slot) is not int or slot < 0:
        slot = _uint(slot, f"{where} slot")
    if prev is not None and (type(prev) is not bytes or len(prev) != 32):
        prev = _hash32(prev, f"{where} prev hash")
    if type(major) is not int or major < 0:
        major = _uint(major, f"{where} protocol version")
    return height, slot, prev, fields, major


def byron_kind(header: Any, where: str) -> int:
    """BYRON_MAIN or BYRON_EBB, from the shape of the consensus data."""
    if not isinstance(header, list) or len(header) != 5 or not isinstance(header[3], list):
        raise LedgerError(f"{where}: a Byron header is [magic, prev, proof, consensus, extra]")
    consensus = header[3]
    if len(consensus) == 4 and isinstance(consensus[0], list):
        return BYRON_MAIN
    if len(consensus) == 2 and type(consensus[0]) is int:
        return BYRON_EBB
    raise LedgerError(f"{where}: consensus data is neither a main block's nor an EBB's")


def byron_header_fields(header: Any, kind: int, where: str) -> tuple[int, int, bytes]:
    """(height, absolute slot, prev hash) of a decoded Byron header of the given kind."""
    if byron_kind(header, where) != kind:
        name = "an EBB" if kind == BYRON_EBB else "a main block"
        raise LedgerError(f"{where}: header is not the header of {name}")
    consensus = header[3]
    prev = cast(bytes, _hash32(header[1], f"{where} prev hash"))  # not nullable: never None
    if kind == BYRON_EBB:  # consensus = [epoch, [difficulty]]
        epoch = _uint(consensus[0], f"{where} epoch")
        slot = epoch * BYRON_EPOCH_SLOTS
        difficulty = consensus[1]
    else:  # consensus = [[epoch, slot_in_epoch], pubkey, [difficulty], signature]
        slot_id = consensus[0]
        if len(slot_id) != 2:
            raise LedgerError(f"{where}: slot id is not [epoch, slot]")
        epoch = _uint(slot_id[0], f"{where} epoch")
        slot = epoch * BYRON_EPOCH_SLOTS + _uint(slot_id[1], f"{where} slot in epoch")
        difficulty = consensus[2]
    if not isinstance(difficulty, list) or len(difficulty) != 1:
        raise LedgerError(f"{where}: difficulty is not [count]")
    return _uint(difficulty[0], f"{where} difficulty"), slot, prev


def _loads(data: bytes, where: str) -> Any:
    try:
        return cbor2.loads(data)
    except Exception as exc:  # cbor2 raises several types; callers expect LedgerError only
        raise LedgerError(f"{where}: bad CBOR: {exc}") from exc


def decode_header(wrapped_header: object) -> HeaderView:
    """Header of an N2N chain-sync MsgRollForward (element 1 of the message, decoded).

    Shelley+: `[era_index 1..6, #6.24(header bytes)]`.
    Byron:    `[0, [[kind, block_size], #6.24(header bytes)]]`, kind 0 = EBB, 1 = main.
    The CBOR bytes of that element are accepted too.
    """
    where = "header"
    if isinstance(wrapped_header, (bytes, bytearray, memoryview)):
        wrapped_header = _loads(bytes(wrapped_header), where)
    if not isinstance(wrapped_header, (list, tuple)) or len(wrapped_header) != 2:
        raise LedgerError(f"{where}: expected [era_index, header]")
    index, content = wrapped_header
    if type(index) is not int or index not in ERA_BY_HFC_INDEX:
        raise LedgerError(f"{where}: unknown era index {index!r:.20}")
    era = ERA_BY_HFC_INDEX[index]
    prev: bytes | None  # the genesis successor has none
    if era == "byron":
        if not isinstance(content, (list, tuple)) or len(content) != 2:
            raise LedgerError(f"{where}: Byron header is not [[kind, size], header]")
        info, tagged = content
        if not isinstance(info, (list, tuple)) or len(info) != 2 or info[0] not in _KINDS:
            raise LedgerError(f"{where}: Byron header kind is not [0 or 1, size]")
        kind = int(info[0])  # a bool would compare equal; keep the int
        raw = tag24_bytes(tagged, where)
        height, slot, prev = byron_header_fields(_loads(raw, where), kind, where)
        return HeaderView(era, slot, height, byron_hash(kind, raw), prev)
    raw = tag24_bytes(content, where)
    height, slot, prev, fields, _ = shelley_header_fields(_loads(raw, where), where)
    if fields != ERA_SHAPE[era][0]:
        raise LedgerError(f"{where}: {era} header with {fields} header body fields")
    return HeaderView(era, slot, height, blake2b_256(raw), prev)
