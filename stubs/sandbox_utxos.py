"""The sandbox chain's UTxOs over HTTP, in Blockfrost's shape, for the stubs that build
transactions from a wallet's chain state (DexHunter builds from the buyer's UTxOs it
reads itself). Loopback only, read only.

GET /addresses/{address}/utxos → [{"tx_hash", "output_index", "address",
"amount": [{"unit": "lovelace" | policy+name hex, "quantity": "<int>"}], "data_hash",
"inline_datum"}], as of the last forged block (the ledger's snapshot, replaced whole at
each forge, so a read never sees half a block).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Mapping

from chain.ledger import TxOut
from chain.ledger.tx import TxIn
from stubs.server import Reply, Request

PATH = re.compile(r"/addresses/([a-z0-9_]{10,200})/utxos")


def utxo_json(ref: TxIn, out: TxOut) -> dict[str, Any]:
    amount = [{"unit": "lovelace", "quantity": str(out.lovelace)}]
    amount += [{"unit": (policy + name).hex(), "quantity": str(quantity)}
               for (policy, name), quantity in sorted(out.assets.items())]
    return {"tx_hash": ref[0].hex(), "output_index": ref[1], "address": out.address,
            "amount": amount,
            "data_hash": out.datum_hash.hex() if out.datum_hash else None,
            "inline_datum": out.inline_datum.hex() if out.inline_datum else None}


class SandboxUtxos:
    """The handler: `snapshot()` gives the UTxO set as of the last forged block."""

    def __init__(self, snapshot: Callable[[], Mapping[TxIn, TxOut]]) -> None:
        self.snapshot = snapshot

    def __call__(self, request: Request) -> Reply:
        match = PATH.fullmatch(request.path)
        if request.method != "GET" or match is None:
            return Reply(404, {"status_code": 404, "error": "Not Found",
                               "message": "GET /addresses/{address}/utxos only"})
        address = match.group(1)
        found = [utxo_json(ref, out) for ref, out in sorted(self.snapshot().items())
                 if out.address == address]
        return Reply(200, found)


WalletUtxos = tuple[tuple[bytes, int, int, dict[tuple[bytes, bytes], int]], ...]


def _rows(base_url: str, address: str, timeout_s: float) -> list[dict[str, Any]]:
    """The endpoint's answer for one address. Raises OSError when it cannot be read."""
    import json
    import urllib.request
    from decimal import Decimal

    url = f"{base_url.rstrip('/')}/addresses/{address}/utxos"
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 (loopback)
        rows = json.loads(answer.read(), parse_float=Decimal)
    if not isinstance(rows, list):
        raise OSError(f"{url} did not answer a list of UTxOs")
    return rows


def row_value(row: dict[str, Any]) -> tuple[int, dict[tuple[bytes, bytes], int]]:
    """An endpoint row's `amount` list as (lovelace, {(policy, name): quantity})."""
    assets: dict[tuple[bytes, bytes], int] = {}
    lovelace = 0
    for item in row["amount"]:
        if item["unit"] == "lovelace":
            lovelace = int(item["quantity"])
        else:
            unit = bytes.fromhex(item["unit"])
            assets[(unit[:28], unit[28:])] = int(item["quantity"])
    return lovelace, assets


def utxo_reader(base_url: str, timeout_s: float = 5.0) -> Callable[[str], WalletUtxos]:
    """What a stub calls to learn a wallet's UTxOs from the sandbox's endpoint: (tx id,
    index, lovelace, {(policy, name): quantity}) each. Raises OSError when it cannot."""

    def read(address: str) -> WalletUtxos:
        rows = _rows(base_url, address, timeout_s)
        found = []
        for row in rows:
            lovelace, assets = row_value(row)
            found.append((bytes.fromhex(row["tx_hash"]), int(row["output_index"]), lovelace,
                          assets))
        return tuple(found)

    return read


def row_output(row: dict[str, Any]) -> tuple[TxIn, TxOut]:
    """One endpoint row back into the ledger's (ref, output), the inline datum's CBOR
    included (what a stub needs to read a script UTxO's datum)."""
    from pycardano import Address

    lovelace, assets = row_value(row)
    address = str(row["address"])
    raw = bytes(Address.from_primitive(address).to_primitive())
    datum = row.get("inline_datum")
    data_hash = row.get("data_hash")
    return ((bytes.fromhex(row["tx_hash"]), int(row["output_index"])),
            TxOut(address, raw, lovelace, assets,
                  datum_hash=bytes.fromhex(data_hash) if data_hash and not datum else None,
                  inline_datum=bytes.fromhex(datum) if datum else None))


def output_reader(base_url: str,
                  timeout_s: float = 5.0) -> Callable[[str], dict[TxIn, TxOut]]:
    """Like `utxo_reader`, but each UTxO whole, as the ledger holds it (address, value,
    inline datum): for a stub that reads script UTxOs too. Raises OSError when the
    endpoint cannot be read or answers what is not its shape."""

    def read(address: str) -> dict[TxIn, TxOut]:
        try:
            return dict(row_output(row) for row in _rows(base_url, address, timeout_s))
        except (KeyError, TypeError, ValueError) as error:  # JSON or a row not its shape
            raise OSError(f"the UTxO endpoint answered an unreadable row: {error}") from None

    return read
