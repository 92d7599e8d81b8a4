"""Reading recorded blocks from files: the simulator's and `dhl block`'s input.

A file may hold one block in hex or binary, raw or era-wrapped (`[block_tag, block]`)
or tag-24-wrapped (the N2C RollForward payload form); several hex lines, one block
each; or a node ImmutableDB chunk (a CBOR sequence of `[block_tag, block]`). A
directory means every block file in it.
"""
from __future__ import annotations

import io
import string
from pathlib import Path
from typing import Iterator

import cbor2

from chain.ledger import Block, LedgerError, decode_block

_HEX = set(string.hexdigits + string.whitespace)


class BlockFileError(ValueError):
    """A file that holds no readable block; the message names the file and the reason."""


def _items(data: bytes) -> Iterator[bytes]:
    """The CBOR items of a sequence, each as its original bytes."""
    stream = io.BytesIO(data)
    decoder = cbor2.CBORDecoder(stream)
    while stream.tell() < len(data):
        start = stream.tell()
        try:
            decoder.decode()
        except (cbor2.CBORDecodeError, ValueError) as error:
            raise BlockFileError(f"malformed CBOR at byte {start}: {error}") from None
        yield data[start:stream.tell()]


def _payloads(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    head = data[:4096]
    if head and all(chr(b) in _HEX for b in head):
        lines = [line.strip() for line in data.decode("ascii", "replace").splitlines()]
        for number, line in enumerate((ln for ln in lines if ln), start=1):
            try:
                yield from _items(bytes.fromhex(line))
            except ValueError as error:
                raise BlockFileError(f"line {number}: not hex CBOR ({error})") from None
    else:
        yield from _items(data)


def read_blocks(path: Path, network_magic: int | None = None) -> list[Block]:
    if path.is_dir():
        blocks = [b for child in sorted(path.iterdir())
                  if child.suffix in (".cbor", ".hex", ".chunk", ".bin", ".block")
                  for b in read_blocks(child, network_magic)]
        return sorted(blocks, key=lambda b: b.slot)
    if not path.is_file():
        raise BlockFileError(f"{path}: no such file")
    blocks = []
    try:
        for payload in _payloads(path):
            blocks.append(decode_block(payload, network_magic=network_magic))
    except (BlockFileError, LedgerError) as error:
        raise BlockFileError(f"{path}: {error}") from None
    if not blocks:
        raise BlockFileError(f"{path}: holds no block")
    return blocks
