"""CBOR heads and exact byte spans over one buffer.

Hashes (block, tx id, datum) must be taken over the *original* bytes, so we walk the
few outer array/map heads ourselves and let cbor2's C decoder consume one item at a
time from a BytesIO: `fp.tell()` before and after gives the item's exact span. With the
default read_size=1 the C decoder never reads ahead, so the span is exact.
"""
from __future__ import annotations

import io
import threading
from typing import Any, Callable, Iterable

from cbor2 import CBORDecoder, CBORTag

from .errors import LedgerError

BREAK = 0xFF  # ends an indefinite-length array or map
MAJOR_UINT, MAJOR_BYTES, MAJOR_ARRAY, MAJOR_MAP = 0, 2, 4, 5


def read_head(data: bytes, pos: int, where: str) -> tuple[int, int | None, int]:
    """Return (major type, argument, position after the head) of the item at `pos`.

    The argument is None for an indefinite-length string, array or map.
    """
    try:
        initial = data[pos]
    except IndexError:
        raise LedgerError(f"{where}: truncated, no CBOR item at byte {pos}") from None
    major = initial >> 5
    info = initial & 0x1F
    if info < 24:
        return major, info, pos + 1
    if info < 28:
        end = pos + 1 + (1 << (info - 24))
        if end > len(data):
            raise LedgerError(f"{where}: truncated CBOR head at byte {pos}")
        return major, int.from_bytes(data[pos + 1 : end], "big"), end
    if info == 31 and MAJOR_BYTES <= major <= MAJOR_MAP:
        return major, None, pos + 1
    raise LedgerError(f"{where}: invalid CBOR head 0x{initial:02x} at byte {pos}")


def write_head(major: int, value: int) -> bytes:
    """The definite head of a CBOR item: major type and argument (a length, for arrays
    and maps), in the shortest form."""
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise LedgerError(f"a CBOR argument of {value} does not fit 64 bits")


def encoded_map(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """A definite CBOR map of already-encoded (key, value) items, bytes kept as they are."""
    pairs = list(entries)
    return write_head(MAJOR_MAP, len(pairs)) + b"".join(k + v for k, v in pairs)


def encoded_array(items: Iterable[bytes]) -> bytes:
    """A definite CBOR array of already-encoded items, bytes kept as they are."""
    listed = list(items)
    return write_head(MAJOR_ARRAY, len(listed)) + b"".join(listed)


def read_container(data: bytes, pos: int, major: int, where: str) -> tuple[int | None, int]:
    """Read an array (major 4) or map (major 5) head: (length or None if indefinite, pos)."""
    got, length, pos = read_head(data, pos, where)
    if got != major:
        kind = "an array" if major == MAJOR_ARRAY else "a map"
        raise LedgerError(f"{where}: expected {kind}, found CBOR major type {got}")
    return length, pos


def skip_set_tag(data: bytes, pos: int) -> int:
    """Skip an optional tag 258 (`d9 01 02`, Conway's set marker) in front of an array."""
    return pos + 3 if data[pos : pos + 3] == b"\xd9\x01\x02" else pos


def at_break(data: bytes, pos: int, where: str) -> bool:
    if pos >= len(data):
        raise LedgerError(f"{where}: truncated before the end of an indefinite-length item")
    return data[pos] == BREAK


# One spare decoder per thread: creating a CBORDecoder costs about a third of decoding
# an empty block's header. cbor2 resets its per-item state (shared values, string
# references) at each top-level decode(), and a reader that failed never gives its
# decoder back, so reuse cannot carry anything from one block to the next.
_spare = threading.local()


class Reader:
    """Decodes single items of one buffer at given offsets and reports where they end.

    Call `release()` after a successful use to let the next Reader reuse the decoder."""

    __slots__ = ("data", "_fp", "_decoder", "_decode")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._fp = fp = io.BytesIO(data)  # shares the bytes buffer, no copy
        decoder = getattr(_spare, "decoder", None)
        if decoder is None:
            decoder = CBORDecoder(fp)
        else:
            _spare.decoder = None  # taken: a nested Reader makes its own
            decoder.fp = fp
        self._decoder = decoder
        self._decode: Callable[[], Any] = decoder.decode

    def release(self) -> None:
        _spare.decoder = self._decoder

    def item(self, pos: int, where: str) -> tuple[Any, int]:
        """Decode the item starting at `pos`; return it and the position just after it."""
        fp = self._fp
        fp.seek(pos)
        try:
            value = self._decode()
        except Exception as exc:  # cbor2 raises several types (EOF, ValueError, Overflow...)
            raise LedgerError(f"{where}: bad CBOR at byte {pos}: {exc}") from exc
        return value, fp.tell()

    def array_spans(
        self, pos: int, where: str, expect: type | tuple[type, ...] | None = None
    ) -> tuple[list[tuple[int, int]], int]:
        """Spans (start, end) of the elements of the array at `pos` (definite or not;
        a tag 258 in front is skipped), and the position after the array. Each element
        is decoded once, which validates it; `expect` checks its Python type.

        This is the hot path of block decoding (one call per tx body and witness set),
        so it reads the elements back to back without re-seeking."""
        data = self.data
        if data[pos : pos + 1] == b"\x80":  # empty array: most blocks on quiet networks
            return [], pos + 1
        length, pos = read_container(data, skip_set_tag(data, pos), MAJOR_ARRAY, where)
        fp, decode = self._fp, self._decode
        spans: list[tuple[int, int]] = []
        append = spans.append
        fp.seek(pos)
        try:
            if length is None:
                while True:
                    if pos >= len(data):
                        raise LedgerError(f"{where}: truncated before the end of the array")
                    if data[pos] == BREAK:
                        return spans, pos + 1
                    value = decode()
                    end = fp.tell()
                    if expect is not None and not isinstance(value, expect):
                        raise self._wrong_type(where, len(spans), expect, value)
                    append((pos, end))
                    pos = end
            for _ in range(length):
                value = decode()
                end = fp.tell()
                if expect is not None and not isinstance(value, expect):
                    raise self._wrong_type(where, len(spans), expect, value)
                append((pos, end))
                pos = end
        except LedgerError:
            raise
        except Exception as exc:  # cbor2 raises several types (EOF, ValueError, Overflow...)
            raise LedgerError(f"{where}[{len(spans)}]: bad CBOR at byte {pos}: {exc}") from exc
        return spans, pos

    @staticmethod
    def _wrong_type(where: str, index: int, expect: type | tuple[type, ...], value: Any
                    ) -> LedgerError:
        return LedgerError(
            f"{where}[{index}]: expected {_names(expect)}, found {type(value).__name__}"
        )


def walk(
    data: bytes, pos: int, major: int, where: str, handle: Callable[[int, int], int]
) -> int:
    """Visit each element (array) or key/value pair (map) of the container at `pos`:
    `handle(index, start)` consumes it and returns where it ends. Returns the position
    after the container, definite or indefinite length."""
    length, pos = read_container(data, pos, major, where)
    index = 0
    if length is None:
        while not at_break(data, pos, where):
            pos = handle(index, pos)
            index += 1
        return pos + 1
    while index < length:
        pos = handle(index, pos)
        index += 1
    return pos


def tag24_bytes(value: Any, where: str) -> bytes:
    """The byte string inside CBOR tag 24 (encoded CBOR data item)."""
    if isinstance(value, CBORTag) and value.tag == 24 and isinstance(value.value, bytes):
        return value.value
    raise LedgerError(f"{where}: expected tag 24 wrapping bytes, found {type(value).__name__}")


def _names(types: type | tuple[type, ...]) -> str:
    if isinstance(types, type):
        return types.__name__
    return " or ".join(t.__name__ for t in types)
