"""One standalone transaction (`[body, witnesses, valid, auxiliary data]`, as wallets,
cardano-cli and tx builders hand it out), read into the same `Tx` a block gives."""
from __future__ import annotations

from .cbor import Reader
from .errors import LedgerError
from .header import blake2b_256
from .tx import Tx, shelley_tx
from .witness import read_witnesses


def decode_transaction(data: bytes) -> Tx:
    """Raises LedgerError on anything but one whole Shelley-family transaction."""
    reader = Reader(data)
    try:
        spans, end = reader.array_spans(0, "transaction")
        if end != len(data):
            raise LedgerError(f"transaction: {len(data) - end} bytes after its end")
        if len(spans) not in (3, 4):
            raise LedgerError(f"transaction: expected 3 or 4 elements, found {len(spans)}")
        (body_start, body_end), (witness_start, _) = spans[0], spans[1]
        body, _ = reader.item(body_start, "transaction body")
        if not isinstance(body, dict):
            raise LedgerError("transaction: its body is not a map")
        valid = True
        metadata = False
        if len(spans) == 4:
            flag, _ = reader.item(spans[2][0], "transaction validity flag")
            if not isinstance(flag, bool):
                raise LedgerError("transaction: the validity flag is not a boolean")
            valid = flag
            aux, _ = reader.item(spans[3][0], "auxiliary data")
            metadata = aux is not None
        else:  # Mary-era shape: [body, witnesses, auxiliary data]
            aux, _ = reader.item(spans[2][0], "auxiliary data")
            metadata = aux is not None
        redeemers, datums = read_witnesses(reader, witness_start, "transaction witnesses")
        body_raw = data[body_start:body_end]
        return shelley_tx(body, index=0, tx_id=blake2b_256(body_raw), body_raw=body_raw,
                          valid=valid, redeemers=redeemers, datums=datums, metadata=metadata)
    except LedgerError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise LedgerError(f"transaction: malformed: {exc}") from exc
    finally:
        reader.release()
