"""The JSON view of a block printed by `dhl block`: plain types only, so `json.dumps`
works; bytes as lowercase hex, amounts as full-precision ints, absent values as None."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tx import AssetId, Tx, TxIn, TxOut

if TYPE_CHECKING:
    from .block import Block


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _refs(refs: list[TxIn]) -> list[str]:
    return [f"{tx_id.hex()}#{index}" for tx_id, index in refs]


def _assets(assets: dict[AssetId, int]) -> dict[str, int]:
    return {f"{policy.hex()}.{name.hex()}": qty for (policy, name), qty in assets.items()}


def output_json(out: TxOut) -> dict[str, Any]:
    return {
        "address": out.address,
        "lovelace": out.lovelace,
        "assets": _assets(out.assets),
        "datum_hash": _hex(out.datum_hash),
        "inline_datum": _hex(out.inline_datum),
        "script_ref": _hex(out.script_ref),
    }


def tx_json(tx: Tx) -> dict[str, Any]:
    return {
        "id": tx.id.hex(),
        "valid": tx.valid,
        "fee": tx.fee,
        "inputs": _refs(tx.inputs),
        "reference_inputs": _refs(tx.reference_inputs),
        "collateral": _refs(tx.collateral),
        "outputs": [output_json(out) for out in tx.outputs],
        "mint": _assets(tx.mint),
        "required_signers": [signer.hex() for signer in tx.required_signers],
        "validity_start": tx.validity_start,
        "ttl": tx.ttl,
        "redeemers": tx.redeemers,
        "metadata": tx.metadata,
    }


def block_json(block: Block) -> dict[str, Any]:
    return {
        "era": block.era,
        "slot": block.slot,
        "height": block.height,
        "hash": block.hash.hex(),
        "prev_hash": _hex(block.prev_hash),
        "txs": [tx_json(tx) for tx in block.txs],
    }
