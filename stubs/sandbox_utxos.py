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


def utxo_reader(base_url: str, timeout_s: float = 5.0) -> Callable[[str], WalletUtxos]:
    """What a stub calls to learn a wallet's UTxOs from the sandbox's endpoint: (tx id,
    index, lovelace, {(policy, name): quantity}) each. Raises OSError when it cannot."""
    import json
    import urllib.request
    from decimal import Decimal

    def read(address: str) -> WalletUtxos:
        url = f"{base_url.rstrip('/')}/addresses/{address}/utxos"
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 (loopback)
            rows = json.loads(answer.read(), parse_float=Decimal)
        found = []
        for row in rows:
            assets: dict[tuple[bytes, bytes], int] = {}
            lovelace = 0
            for item in row["amount"]:
                if item["unit"] == "lovelace":
                    lovelace = int(item["quantity"])
                else:
                    unit = bytes.fromhex(item["unit"])
                    assets[(unit[:28], unit[28:])] = int(item["quantity"])
            found.append((bytes.fromhex(row["tx_hash"]), int(row["output_index"]), lovelace,
                          assets))
        return tuple(found)

    return read
