"""Byron main-block bodies: where each tx lies, and the tx itself.

body = [tx_payload, ssc, dlg, upd]; tx_payload = [* [tx, witnesses]];
tx = [inputs, outputs, attributes]. The tx id is blake2b-256 of the original bytes of
`tx`, and an address' base58 text is over the original bytes of the address item
(`[#6.24(bytes), crc]`), so both are located by span. Byron encoders used
indefinite-length arrays here, which the walk handles.
"""
from __future__ import annotations

from typing import Any

import cbor2

from .address import base58_encode
from .cbor import MAJOR_ARRAY, Reader, read_container, tag24_bytes, walk
from .errors import LedgerError
from .tx import Tx, TxIn, TxOut, tx_in, uint


def _fixed_array(reader: Reader, pos: int, size: int, where: str) -> int:
    length, pos = read_container(reader.data, pos, MAJOR_ARRAY, where)
    if length != size:
        raise LedgerError(f"{where}: expected an array of {size}, found length {length}")
    return pos


def body_tx_spans(reader: Reader, pos: int, where: str) -> tuple[list[tuple[int, int]], int]:
    """Spans of the txs of the Byron body at `pos`, and the position after the body."""
    pos = _fixed_array(reader, pos, 4, where)
    spans: list[tuple[int, int]] = []

    def entry(index: int, start: int) -> int:
        here = f"{where} tx {index}"
        at = _fixed_array(reader, start, 2, here)
        tx, end = reader.item(at, here)
        if not isinstance(tx, list) or len(tx) != 3:
            raise LedgerError(f"{here}: expected [inputs, outputs, attributes]")
        spans.append((at, end))
        _, end = reader.item(end, f"{here} witnesses")
        return end

    pos = walk(reader.data, pos, MAJOR_ARRAY, f"{where} tx payload", entry)
    for part in ("ssc", "delegation", "update"):
        _, pos = reader.item(pos, f"{where} {part} payload")
    return spans, pos


def _input(value: Any, where: str) -> TxIn:
    # [0, #6.24(bytes .cbor [txid, index])]; 0 is the only input type Byron ever used.
    if not isinstance(value, list) or len(value) != 2 or value[0] != 0:
        raise LedgerError(f"{where}: expected [0, #6.24(bytes)]")
    payload = tag24_bytes(value[1], where)
    try:
        inner = cbor2.loads(payload)
    except Exception as exc:
        raise LedgerError(f"{where}: bad CBOR inside tag 24: {exc}") from exc
    return tx_in(inner, where)


def byron_tx(reader: Reader, span: tuple[int, int], index: int, tx_id: bytes) -> Tx:
    where = f"tx {index}"
    data = reader.data
    pos = _fixed_array(reader, span[0], 3, where)
    raw_inputs, pos = reader.item(pos, f"{where} inputs")
    if not isinstance(raw_inputs, list):
        raise LedgerError(f"{where}: inputs are not an array")
    inputs = [_input(item, f"{where} input {i}") for i, item in enumerate(raw_inputs)]
    outputs: list[TxOut] = []

    def output(i: int, start: int) -> int:
        here = f"{where} output {i}"
        at = _fixed_array(reader, start, 2, here)
        address, end = reader.item(at, f"{here} address")
        if not isinstance(address, list) or len(address) != 2:
            raise LedgerError(f"{here}: address is not [#6.24(bytes), crc]")
        address_bytes = data[at:end]
        amount, end = reader.item(end, f"{here} amount")
        outputs.append(TxOut(base58_encode(address_bytes), address_bytes,
                             uint(amount, f"{here} amount"), {}))
        return end

    pos = walk(data, pos, MAJOR_ARRAY, f"{where} outputs", output)
    _, pos = reader.item(pos, f"{where} attributes")
    if pos != span[1]:
        raise LedgerError(f"{where}: tx items do not fill the tx")
    return Tx(
        id=tx_id, index=index, valid=True, fee=None, inputs=inputs, reference_inputs=[],
        collateral=[], outputs=outputs, mint={}, withdrawals={}, required_signers=[],
        validity_start=None, ttl=None, redeemers=0, datums={}, metadata=False,
        body_raw=data[span[0]:span[1]],
    )
