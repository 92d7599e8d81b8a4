"""What a tx's witness set tells the ledger view: the redeemer count and the datums.

Datums are kept as their original bytes (their hash is taken over those bytes and
plutus data is often encoded with indefinite-length lists, which re-encoding would
change), so key 4 is walked item by item instead of being decoded as a whole.
"""
from __future__ import annotations

from collections.abc import Mapping

from .cbor import MAJOR_MAP, Reader, walk
from .errors import LedgerError
from .header import blake2b_256

REDEEMERS, PLUTUS_DATA = 5, 4


def read_witnesses(reader: Reader, start: int, where: str) -> tuple[int, dict[bytes, bytes]]:
    """(number of redeemers, {datum hash: datum bytes}) of the witness set at `start`."""
    data = reader.data
    redeemers = 0
    datums: dict[bytes, bytes] = {}

    def entry(_index: int, pos: int) -> int:
        nonlocal redeemers
        key, pos = reader.item(pos, f"{where} key")
        if key == PLUTUS_DATA and type(key) is int:
            spans, pos = reader.array_spans(pos, f"{where} plutus data")
            for item_start, item_end in spans:
                raw = data[item_start:item_end]
                datums[blake2b_256(raw)] = raw
            return pos
        value, pos = reader.item(pos, f"{where} key {key!r:.20}")
        if key == REDEEMERS and type(key) is int:
            # Alonzo-Babbage: [[tag, index, data, ex_units]]; Conway may use a map
            # {[tag, index]: [data, ex_units]}.
            if not isinstance(value, (list, tuple, Mapping)):
                raise LedgerError(f"{where}: redeemers are neither an array nor a map")
            redeemers = len(value)
        return pos

    walk(data, start, MAJOR_MAP, where, entry)
    return redeemers, datums
