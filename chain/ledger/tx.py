"""Transactions and outputs of every era, built from decoded Shelley-family tx bodies.

Tx body keys (CDDL): 0 inputs, 1 outputs, 2 fee, 3 ttl, 5 withdrawals, 8 validity start,
9 mint, 13 collateral, 14 required signers, 16 collateral return, 17 total collateral,
18 reference inputs. Conway may wrap sets in tag 258, which cbor2 turns into Python sets;
those are listed in ledger order (sorted), since a set has no order of its own.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .address import address_text
from .cbor import tag24_bytes
from .errors import LedgerError

AssetId = tuple[bytes, bytes]  # (policy id, asset name)
TxIn = tuple[bytes, int]  # (tx id, output index)


@dataclass(frozen=True)
class TxOut:
    address: str  # bech32 (Shelley) or base58 (Byron)
    address_bytes: bytes
    lovelace: int
    assets: dict[AssetId, int]
    datum_hash: bytes | None = None
    inline_datum: bytes | None = None  # original CBOR bytes of the datum
    script_ref: bytes | None = None  # original CBOR bytes inside the tag 24


@dataclass(frozen=True)
class Tx:
    id: bytes
    index: int  # position in the block
    valid: bool  # False for Alonzo+ txs listed as invalid (only collateral is spent)
    fee: int | None  # None for Byron: unknowable without the spent outputs
    inputs: list[TxIn]
    reference_inputs: list[TxIn]
    collateral: list[TxIn]
    outputs: list[TxOut]
    mint: dict[AssetId, int]  # negative quantities burn
    withdrawals: dict[bytes, int]  # reward address bytes -> lovelace
    required_signers: list[bytes]
    validity_start: int | None
    ttl: int | None
    redeemers: int  # count
    datums: dict[bytes, bytes]  # witness datum hash -> original datum CBOR bytes
    metadata: bool
    body_raw: bytes  # original bytes of the tx body; id = blake2b-256 of these
    collateral_return: TxOut | None = None  # produced instead of `outputs` when not valid
    total_collateral: int | None = None


# --- field parsers: each checks its shape and names the place it came from ------------

def uint(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        raise LedgerError(f"{where}: expected an unsigned integer, found {value!r:.40}")
    return value


def _opt_uint(value: Any, where: str) -> int | None:
    return None if value is None else uint(value, where)


def _bytes(value: Any, where: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        want = f"{size} bytes" if size else "bytes"
        raise LedgerError(f"{where}: expected {want}, found {value!r:.40}")
    return value


def _elements(value: Any, where: str) -> list[Any]:
    """Items of an array or a (tag 258) set; absent means empty."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            raise LedgerError(f"{where}: set of mixed item types") from None
    raise LedgerError(f"{where}: expected an array or set, found {type(value).__name__}")


def tx_in(value: Any, where: str) -> TxIn:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise LedgerError(f"{where}: expected [tx_id, index]")
    return _bytes(value[0], f"{where} tx id", 32), uint(value[1], f"{where} index")


def _tx_ins(value: Any, where: str) -> list[TxIn]:
    return [tx_in(item, f"{where}[{i}]") for i, item in enumerate(_elements(value, where))]


def _mapping(value: Any, where: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise LedgerError(f"{where}: expected a map, found {type(value).__name__}")
    return value


def multiasset(value: Any, where: str, *, signed: bool) -> dict[AssetId, int]:
    """{policy: {name: quantity}} flattened to {(policy, name): quantity}."""
    assets: dict[AssetId, int] = {}
    for policy, names in _mapping(value, where).items():
        _bytes(policy, f"{where} policy id", 28)
        for name, quantity in _mapping(names, f"{where} {policy.hex()}").items():
            key = f"{where} {policy.hex()}.{name!r:.40}"
            _bytes(name, key)
            if signed:
                if type(quantity) is not int:
                    raise LedgerError(f"{key}: expected an integer quantity")
            else:
                uint(quantity, key)
            assets[(policy, name)] = quantity
    return assets


def value_of(value: Any, where: str) -> tuple[int, dict[AssetId, int]]:
    """Value = coin | [coin, multiasset]."""
    if type(value) is int:
        return uint(value, where), {}
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return uint(value[0], f"{where} coin"), multiasset(value[1], where, signed=False)
    raise LedgerError(f"{where}: expected coin or [coin, multiasset]")


def tx_out(value: Any, where: str) -> TxOut:
    """Legacy `[address, value(, datum_hash)]` or post-Alonzo `{0: address, 1: value, ...}`."""
    datum_hash = inline = script_ref = None
    if isinstance(value, Mapping):
        address, amount = value.get(0), value.get(1)
        option = value.get(2)
        if option is not None:
            if not isinstance(option, (list, tuple)) or len(option) != 2:
                raise LedgerError(f"{where}: datum option is not [kind, datum]")
            if option[0] == 0:
                datum_hash = _bytes(option[1], f"{where} datum hash", 32)
            elif option[0] == 1:
                inline = tag24_bytes(option[1], f"{where} inline datum")
            else:
                raise LedgerError(f"{where}: unknown datum option {option[0]!r:.20}")
        if value.get(3) is not None:
            script_ref = tag24_bytes(value[3], f"{where} script ref")
    elif isinstance(value, (list, tuple)) and len(value) in (2, 3):
        address, amount = value[0], value[1]
        if len(value) == 3:
            datum_hash = _bytes(value[2], f"{where} datum hash", 32)
    else:
        raise LedgerError(f"{where}: expected an output array or map")
    address = _bytes(address, f"{where} address")
    lovelace, assets = value_of(amount, f"{where} value")
    return TxOut(
        address=address_text(address),
        address_bytes=address,
        lovelace=lovelace,
        assets=assets,
        datum_hash=datum_hash,
        inline_datum=inline,
        script_ref=script_ref,
    )


def shelley_tx(
    body: Any,
    *,
    index: int,
    tx_id: bytes,
    body_raw: bytes,
    valid: bool,
    redeemers: int,
    datums: dict[bytes, bytes],
    metadata: bool,
) -> Tx:
    where = f"tx {index}"
    body = _mapping(body, f"{where} body")
    if 0 not in body or 1 not in body or 2 not in body:
        raise LedgerError(f"{where}: body lacks inputs, outputs or fee")
    outputs = _elements(body[1], f"{where} outputs")
    withdrawals = {
        _bytes(account, f"{where} withdrawal account"): uint(amount, f"{where} withdrawal")
        for account, amount in _mapping(body.get(5, {}), f"{where} withdrawals").items()
    }
    collateral_return = body.get(16)
    return Tx(
        id=tx_id,
        index=index,
        valid=valid,
        fee=uint(body[2], f"{where} fee"),
        inputs=_tx_ins(body[0], f"{where} inputs"),
        reference_inputs=_tx_ins(body.get(18), f"{where} reference inputs"),
        collateral=_tx_ins(body.get(13), f"{where} collateral"),
        outputs=[tx_out(o, f"{where} output {i}") for i, o in enumerate(outputs)],
        mint=multiasset(body.get(9, {}), f"{where} mint", signed=True),
        withdrawals=withdrawals,
        required_signers=[
            _bytes(s, f"{where} required signer", 28)
            for s in _elements(body.get(14), f"{where} required signers")
        ],
        validity_start=_opt_uint(body.get(8), f"{where} validity start"),
        ttl=_opt_uint(body.get(3), f"{where} ttl"),
        redeemers=redeemers,
        datums=datums,
        metadata=metadata,
        body_raw=body_raw,
        collateral_return=(
            None if collateral_return is None
            else tx_out(collateral_return, f"{where} collateral return")
        ),
        total_collateral=_opt_uint(body.get(17), f"{where} total collateral"),
    )
