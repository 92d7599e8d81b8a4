"""Plutus data for any venue or DEX: read a datum's CBOR into constructors, integers,
byte strings, lists and maps (one item, no trailing bytes), and write one back the way
Plutus tooling does (non-empty lists as indefinite-length arrays, byte strings in chunks
of at most 64 bytes), so a datum built here reads like one built by the protocol's own
code. Used by Levvy and the DEX order datums (execution/dex). Pure."""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Union

import cbor2


class PlutusDataError(ValueError):
    """The bytes are not one Plutus data item."""


@dataclass(frozen=True)
class Constr:
    index: int
    fields: tuple["Data", ...] = ()


Data = Union[Constr, int, bytes, list["Data"], dict["Data", "Data"]]


# --- reading ---------------------------------------------------------------------------

def loads(cbor: bytes) -> Data:
    """One Plutus data item from CBOR; anything else (floats, text, trailing bytes,
    unknown tags) raises PlutusDataError."""
    stream = io.BytesIO(cbor)
    try:
        raw = cbor2.CBORDecoder(stream).decode()
    except Exception as error:  # cbor2 raises several types for broken input
        raise PlutusDataError(f"not CBOR: {error}") from None
    if stream.tell() != len(cbor):
        raise PlutusDataError(f"{len(cbor) - stream.tell()} trailing bytes after the datum")
    return _from_cbor(raw)


def _from_cbor(value: object) -> Data:
    if isinstance(value, bool) or value is None:
        raise PlutusDataError(f"{value!r} is not Plutus data")
    if isinstance(value, (int, bytes)):
        return value
    if isinstance(value, list):
        return [_from_cbor(item) for item in value]
    if isinstance(value, dict):
        return {_key(k): _from_cbor(v) for k, v in value.items()}
    if isinstance(value, cbor2.CBORTag):
        return _constr(value)
    raise PlutusDataError(f"a {type(value).__name__} is not Plutus data")


def _key(value: object) -> Data:
    # cbor2 turns array map keys into tuples so they can be hashed.
    if isinstance(value, tuple):
        raise PlutusDataError("maps keyed by lists are not read here")
    return _from_cbor(value)


def _constr(tag: cbor2.CBORTag) -> Constr:
    if 121 <= tag.tag <= 127:
        index, fields = tag.tag - 121, tag.value
    elif 1280 <= tag.tag <= 1400:
        index, fields = tag.tag - 1280 + 7, tag.value
    elif tag.tag == 102:
        if not (isinstance(tag.value, list) and len(tag.value) == 2
                and type(tag.value[0]) is int and tag.value[0] >= 0):
            raise PlutusDataError("tag 102 is not [constructor, fields]")
        index, fields = tag.value
    else:
        raise PlutusDataError(f"CBOR tag {tag.tag} is not a Plutus constructor")
    if not isinstance(fields, list):
        raise PlutusDataError(f"constructor {index} fields are not a list")
    return Constr(index, tuple(_from_cbor(item) for item in fields))


# --- writing ---------------------------------------------------------------------------

def dumps(value: Data) -> bytes:
    out = bytearray()
    _write(out, value)
    return bytes(out)


def _head(out: bytearray, major: int, argument: int) -> None:
    if argument < 24:
        out.append(major << 5 | argument)
    elif argument < 1 << 8:
        out += bytes([major << 5 | 24, argument])
    elif argument < 1 << 16:
        out.append(major << 5 | 25)
        out += argument.to_bytes(2, "big")
    elif argument < 1 << 32:
        out.append(major << 5 | 26)
        out += argument.to_bytes(4, "big")
    else:
        out.append(major << 5 | 27)
        out += argument.to_bytes(8, "big")


def _write_list(out: bytearray, items: list[Data] | tuple[Data, ...]) -> None:
    if not items:
        out.append(0x80)
        return
    out.append(0x9F)
    for item in items:
        _write(out, item)
    out.append(0xFF)


def _write_bytes(out: bytearray, value: bytes) -> None:
    if len(value) <= 64:
        _head(out, 2, len(value))
        out += value
        return
    out.append(0x5F)  # Plutus caps byte-string chunks at 64 bytes
    for start in range(0, len(value), 64):
        chunk = value[start:start + 64]
        _head(out, 2, len(chunk))
        out += chunk
    out.append(0xFF)


def _write(out: bytearray, value: Data) -> None:
    if isinstance(value, Constr):
        if value.index < 7:
            _head(out, 6, 121 + value.index)
        elif value.index < 128:
            _head(out, 6, 1280 + value.index - 7)
        else:
            _head(out, 6, 102)
            out.append(0x82)
            _write(out, value.index)
        _write_list(out, value.fields)
    elif isinstance(value, bool):
        raise PlutusDataError("a bool is not Plutus data")
    elif isinstance(value, int):
        if 0 <= value < 1 << 64:
            _head(out, 0, value)
        elif -(1 << 64) <= value < 0:
            _head(out, 1, -1 - value)
        else:
            magnitude = value if value >= 0 else -1 - value
            _head(out, 6, 2 if value >= 0 else 3)
            _write_bytes(out, magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big"))
    elif isinstance(value, (bytes, bytearray)):
        _write_bytes(out, bytes(value))
    elif isinstance(value, list):
        _write_list(out, value)
    elif isinstance(value, dict):
        _head(out, 5, len(value))
        for key, item in value.items():
            _write(out, key)
            _write(out, item)
    else:
        raise PlutusDataError(f"a {type(value).__name__} is not Plutus data")
