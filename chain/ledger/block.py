"""`decode_block`: one era-neutral, read-only view of a Cardano block of any era.

Decoding validates the whole block (every element goes through cbor2's C decoder once,
as `cbor2.loads` would) but keeps only byte spans; transactions are built on first
access of `Block.txs`, so header fields, hash, tx count and tx ids stay cheap. This runs
once per block of the chain, so the common path avoids needless Python calls.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from . import byron
from .cbor import BREAK, MAJOR_ARRAY, MAJOR_BYTES, Reader, read_container, read_head
from .eras import ERA_BY_TAG, ERA_SHAPE, TAG_BY_ERA, detect_shelley_era
from .errors import LedgerError
from .header import (
    BYRON_EBB,
    BYRON_MAIN,
    HeaderView,
    blake2b_256,
    byron_hash,
    byron_header_fields,
    byron_kind,
    shelley_header_fields,
)
from .prefilter import block_mentions
from .tx import Tx, shelley_tx
from .witness import read_witnesses

Span = tuple[int, int]
_NONE: frozenset[int] = frozenset()
T = TypeVar("T")


class _lazy(Generic[T]):
    """Computed on first access, then stored in the instance dict (which then shadows
    this non-data descriptor). Like functools.cached_property without the per-access
    lock Python 3.11 takes; computing twice in a race is harmless (pure functions)."""

    def __init__(self, compute: Callable[[Any], T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> T:
        if instance is None:
            return self  # type: ignore[return-value]
        value = self.compute(instance)
        instance.__dict__[self.name] = value
        return value


@dataclass(frozen=True)
class Block:
    era: str
    block_tag: int  # 0 Byron EBB, 1 Byron main, 2 Shelley ... 7 Conway
    slot: int
    height: int
    hash: bytes
    prev_hash: bytes | None
    tx_count: int
    raw: bytes = field(repr=False)  # the unwrapped block CBOR
    # Where things are in `raw`, found while validating, so `txs` need not search again.
    _header_span: Span = field(default=(0, 0), repr=False, compare=False)
    _tx_spans: tuple[Span, ...] = field(default=(), repr=False, compare=False)
    _witness_spans: tuple[Span, ...] = field(default=(), repr=False, compare=False)
    _metadata_indices: frozenset[int] = field(default=frozenset(), repr=False, compare=False)
    _invalid_indices: frozenset[int] = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def _new(
        cls,
        era: str,
        block_tag: int,
        slot: int,
        height: int,
        hash: bytes,
        prev_hash: bytes | None,
        raw: bytes,
        header_span: Span,
        tx_spans: tuple[Span, ...] = (),
        witness_spans: tuple[Span, ...] = (),
        metadata_indices: frozenset[int] = frozenset(),
        invalid_indices: frozenset[int] = frozenset(),
    ) -> Block:
        # The frozen dataclass __init__ costs ~2 us (object.__setattr__ per field), a
        # quarter of decoding an empty block; installing the dict directly costs a tenth.
        block = object.__new__(cls)
        object.__setattr__(block, "__dict__", {
            "era": era, "block_tag": block_tag, "slot": slot, "height": height,
            "hash": hash, "prev_hash": prev_hash, "tx_count": len(tx_spans), "raw": raw,
            "_header_span": header_span, "_tx_spans": tx_spans, "_witness_spans": witness_spans,
            "_metadata_indices": metadata_indices, "_invalid_indices": invalid_indices,
        })
        return block

    @_lazy
    def wrapped(self) -> bytes:
        """`[block_tag, block]`, built around the original bytes (never re-encoded)."""
        return bytes((0x82, self.block_tag)) + self.raw

    @property
    def header_raw(self) -> bytes:
        """Original bytes of the header (element 0 of the block): what the hash covers
        (after `82 0k` for Byron) and what N2N chain-sync sends inside tag 24."""
        start, end = self._header_span
        return self.raw[start:end]

    @property
    def header(self) -> HeaderView:
        return HeaderView(self.era, self.slot, self.height, self.hash, self.prev_hash)

    @property
    def point(self) -> tuple[int, bytes]:
        """The chain-sync point `(slot, hash)` of this block."""
        return self.slot, self.hash

    def mentions(self, needles: Iterable[bytes]) -> bool:
        """`block_mentions` over the block body only: the header (about 850 bytes, all
        of an empty block) holds keys, VRF proofs and signatures, never tx data."""
        return block_mentions(self.raw, needles, self._header_span[1])

    @_lazy
    def tx_ids(self) -> list[bytes]:
        """Tx ids without building the txs: blake2b-256 over each body's original bytes."""
        raw = self.raw
        return [blake2b_256(raw[start:end]) for start, end in self._tx_spans]

    @_lazy
    def invalid_tx_ids(self) -> frozenset[bytes]:
        """Ids of the txs whose scripts failed (phase 2): on chain, but only their
        collateral was taken."""
        return frozenset(self.tx_ids[i] for i in self._invalid_indices)

    @_lazy
    def txs(self) -> list[Tx]:
        """The transactions, built on first access (body and witness set decoded again)."""
        try:
            return self._build_txs()
        except LedgerError as exc:
            raise LedgerError(f"block {self.hash.hex()}: {exc}") from exc
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            # Shape checks should catch everything first; this keeps the one-error promise.
            raise LedgerError(f"block {self.hash.hex()}: malformed transaction: {exc}") from exc

    def _build_txs(self) -> list[Tx]:
        reader = Reader(self.raw)
        ids = self.tx_ids
        txs: list[Tx] = []
        for i, (start, end) in enumerate(self._tx_spans):
            if self.era == "byron":
                txs.append(byron.byron_tx(reader, (start, end), i, ids[i]))
                continue
            body, _ = reader.item(start, f"tx {i} body")
            witness_start = self._witness_spans[i][0]
            redeemers, datums = read_witnesses(reader, witness_start, f"tx {i} witnesses")
            txs.append(
                shelley_tx(
                    body,
                    index=i,
                    tx_id=ids[i],
                    body_raw=self.raw[start:end],
                    valid=i not in self._invalid_indices,
                    redeemers=redeemers,
                    datums=datums,
                    metadata=i in self._metadata_indices,
                )
            )
        reader.release()
        return txs

    def to_json(self) -> dict[str, Any]:
        """The `dhl block` view: hex strings, full-precision ints, null for absent values."""
        from .jsonview import block_json

        return block_json(self)


def decode_block(data: bytes, *, network_magic: int | None = None) -> Block:
    """Decode block CBOR: `[block_tag, block]` (block-fetch, N2C, ImmutableDB), the raw
    block (era detected from its shape and slot, see `eras.detect_shelley_era`), or either
    of these inside `#6.24(bytes)`. Any malformed input raises LedgerError."""
    if type(data) is not bytes:
        if not isinstance(data, (bytearray, memoryview)):
            raise LedgerError(f"block: expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if data[:2] == b"\xd8\x18":
        data = _untag24(data)
    if data[:1] == b"\x82":  # [block_tag, block]: no raw block has 2 elements
        tag = data[1] if len(data) > 1 else 0xFF
        if tag <= 7:  # the tag as a one-byte uint: the only encoding seen in practice
            return _decode_raw(data[2:], tag, network_magic)
        tag, after = _block_tag(data, 1)
        return _decode_raw(data[after:], tag, network_magic)
    return _decode_raw(data, None, network_magic)


def _untag24(data: bytes) -> bytes:
    major, length, pos = read_head(data, 2, "block (tag 24)")
    if major != MAJOR_BYTES or length is None:
        raise LedgerError("block (tag 24): tag 24 does not wrap a definite byte string")
    if pos + length != len(data):
        raise LedgerError(
            f"block (tag 24): byte string of {length} bytes but {len(data) - pos} follow"
        )
    return data[pos:]


def _block_tag(data: bytes, pos: int) -> tuple[int, int]:
    major, tag, after = read_head(data, pos, "block tag")
    if major != 0:
        raise LedgerError("block: a 2-element array whose first element is not a block tag")
    if tag not in ERA_BY_TAG:
        raise LedgerError(f"block: unknown block tag {tag}")
    return tag, after


def _decode_raw(raw: bytes, tag: int | None, network_magic: int | None) -> Block:
    reader = Reader(raw)
    first = raw[0] if raw else 0
    if 0x83 <= first <= 0x85:  # a definite 3-, 4- or 5-element array: every real block
        length: int | None = first - 0x80
        pos = 1
    else:
        length, pos = read_container(raw, 0, MAJOR_ARRAY, "block")
    header, end = reader.item(pos, "block header")
    header_raw = raw[pos:end]
    if type(header) is list and len(header) == 5:
        block = _byron(reader, length, end, header, header_raw, tag)
    else:
        block = _shelley(reader, length, end, header, header_raw, tag, network_magic)
    reader.release()
    return block


def _close(raw: bytes, length: int | None, elements: int, pos: int) -> None:
    """Check the block array ends here, with nothing after it."""
    if length is None:
        if pos >= len(raw) or raw[pos] != BREAK:
            raise LedgerError(f"block: more than {elements} elements")
        pos += 1
    elif length != elements:
        raise LedgerError(f"block: {length} elements where {elements} were expected")
    if pos != len(raw):
        raise LedgerError(f"block: {len(raw) - pos} trailing bytes after the block")


_KIND_NAMES = {BYRON_EBB: "EBB", BYRON_MAIN: "main block"}


def _byron(
    reader: Reader,
    length: int | None,
    header_end: int,
    header: Any,
    header_raw: bytes,
    tag: int | None,
) -> Block:
    pos = header_end
    kind = byron_kind(header, "Byron header")
    if tag is not None and tag != kind:
        raise LedgerError(f"block: tag {tag} but the header is a Byron {_KIND_NAMES[kind]}")
    height, slot, prev = byron_header_fields(header, kind, "Byron header")
    spans: list[Span] = []
    if kind == BYRON_MAIN:
        spans, pos = byron.body_tx_spans(reader, pos, "Byron body")
    else:
        _, pos = reader.item(pos, "Byron EBB body")  # the epoch's stakeholder list
    _, pos = reader.item(pos, "Byron block extra data")
    _close(reader.data, length, 3, pos)
    return Block._new(
        "byron", kind, slot, height, byron_hash(kind, header_raw), prev, reader.data,
        (header_end - len(header_raw), header_end), tuple(spans),
    )


def _shelley(
    reader: Reader,
    length: int | None,
    header_end: int,
    header: Any,
    header_raw: bytes,
    tag: int | None,
    network_magic: int | None,
) -> Block:
    raw = reader.data
    pos = header_end
    height, slot, prev, fields, major = shelley_header_fields(header, "block header")
    if raw[pos : pos + 2] == b"\x80\x80":  # no tx bodies, no witness sets: a quiet slot
        bodies: list[Span] | tuple[()] = ()
        witnesses: list[Span] | tuple[()] = ()
        pos += 2
    else:
        bodies, pos = reader.array_spans(pos, "transaction bodies", dict)
        witnesses, pos = reader.array_spans(pos, "witness sets", dict)
    count = len(bodies)
    if len(witnesses) != count:
        raise LedgerError(f"block: {count} tx bodies but {len(witnesses)} witness sets")
    metadata: frozenset[int] = _NONE
    if raw[pos : pos + 1] == b"\xa0":  # empty auxiliary data map: the usual case
        pos += 1
    else:
        aux, pos = reader.item(pos, "auxiliary data")
        if not isinstance(aux, Mapping):
            raise LedgerError("block: auxiliary data is not a map")
        metadata = _indices(aux.keys(), count, "auxiliary data")
    invalid: frozenset[int] = _NONE
    elements = 4
    if length == 5 or (length is None and raw[pos : pos + 1] not in (b"", b"\xff")):
        elements = 5
        if raw[pos : pos + 1] == b"\x80":  # no invalid txs: the usual case
            pos += 1
        else:
            found, pos = reader.item(pos, "invalid transactions")
            if not isinstance(found, list):
                raise LedgerError("block: invalid transactions are not an array")
            invalid = _indices(found, count, "invalid transactions")
    if length != elements or pos != len(raw):
        _close(raw, length, elements, pos)

    if tag is None:
        era = detect_shelley_era(fields, elements, slot, major, network_magic)
        tag = TAG_BY_ERA[era]
    else:
        era = ERA_BY_TAG[tag]
        if ERA_SHAPE.get(era) != (fields, elements):
            raise LedgerError(
                f"block: tag {tag} ({era}) but the header body has {fields} fields "
                f"and the block {elements} elements"
            )
    return Block._new(
        era, tag, slot, height, blake2b_256(header_raw), prev, raw,
        (header_end - len(header_raw), header_end), tuple(bodies), tuple(witnesses),
        metadata, invalid,
    )


def _indices(values: Any, count: int, where: str) -> frozenset[int]:
    """Tx indices as the ledger requires them: integers in range (cardano-ledger's block
    decoder rejects out-of-range auxiliary-data and invalid-tx indices too)."""
    for index in values:
        if type(index) is not int or not 0 <= index < count:
            raise LedgerError(f"block: {where} index {index!r:.20} is not a tx of the block")
    return frozenset(values)
