"""Surf (formerly Flow Lending) datums and redeemers, typed. Pure.

Layouts: the CIP-57 blueprint of flow-lending-smart-contracts @ 110523b1 (PoolDatum,
PoolInfoDatum, VaultDatum, CollateralInfo, Asset, OutputReference and the redeemers), and
`lib/types.ak` at the same commit for OrderDatum and OracleDatum, which the blueprint does
not spell out (the order validator takes its datum as `Data`; the oracle is read by the pool
validator as a reference input). lending.md §3.3 lists them.

Plutus data as CBOR: a constructor i is tag 121+i (i < 7), 1280+(i-7) (i < 128), or tag 102
holding [i, fields]. Every layout below is (constructor, [(field, kind)]); `read_*` checks the
constructor, the field count and each field's type and size, and raises DatumLayoutError
naming the first difference: a wrong number is never produced from an unknown layout.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import Any, Union

import cbor2

from core.units import Asset
from protocols.errors import DatumLayoutError

VENUE = "surf"

# --- Plutus data --------------------------------------------------------------------------


def constr(index: int, items: list[Any]) -> cbor2.CBORTag:
    """The CBOR of Plutus `Constr index items` (what cbor2 encodes)."""
    if 0 <= index < 7:
        return cbor2.CBORTag(121 + index, items)
    if index < 128:
        return cbor2.CBORTag(1280 + index - 7, items)
    return cbor2.CBORTag(102, [index, items])


def constr_of(value: Any, where: str) -> tuple[int, list[Any]]:
    """(constructor index, fields) of a decoded Plutus constructor."""
    if not isinstance(value, cbor2.CBORTag):
        raise DatumLayoutError(VENUE, f"{where}: expected a constructor, found "
                                      f"{type(value).__name__}")
    tag, inner = value.tag, value.value
    if 121 <= tag <= 127:
        index, items = tag - 121, inner
    elif 1280 <= tag <= 1400:
        index, items = tag - 1280 + 7, inner
    elif tag == 102 and isinstance(inner, (list, tuple)) and len(inner) == 2:
        index, items = inner
        if type(index) is not int:
            raise DatumLayoutError(VENUE, f"{where}: constructor index is not an integer")
    else:
        raise DatumLayoutError(VENUE, f"{where}: CBOR tag {tag} is not a Plutus constructor")
    if not isinstance(items, (list, tuple)):
        raise DatumLayoutError(VENUE, f"{where}: constructor fields are not a list")
    return index, list(items)


def loads(datum_cbor: bytes, where: str) -> Any:
    """One whole CBOR item (bytes after it, or a lone break code, are not a datum)."""
    stream = io.BytesIO(datum_cbor)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except Exception as error:  # cbor2 raises several types for broken bytes
        raise DatumLayoutError(VENUE, f"{where}: not CBOR ({type(error).__name__})") from None
    if stream.tell() != len(datum_cbor) or value is getattr(cbor2, "break_marker", None):
        raise DatumLayoutError(VENUE, f"{where}: not CBOR (one item expected)")
    return value


def dumps(value: Any) -> bytes:
    return bytes(cbor2.dumps(value))


# --- layouts --------------------------------------------------------------------------------

#: Field kinds: int; bytes (any length); hash28 (a key or script hash or a policy id, 28
#: bytes); policy (28 bytes, or empty for ADA); name (an asset name, at most 32 bytes);
#: outref, asset, option_hash (Option<28 bytes>), collateral_infos (List<CollateralInfo>).
Field = tuple[str, str]
Layout = tuple[int, tuple[Field, ...]]

OUTPUT_REFERENCE: Layout = (0, (("transaction_id", "txid"), ("output_index", "int")))
ASSET: Layout = (0, (("policy_id", "policy"), ("asset_name", "name")))
COLLATERAL_INFO: Layout = (0, (
    ("collateral_asset", "asset"), ("oracle_nft", "asset"), ("liquidation_threshold", "int"),
    ("max_borrow_ltv", "int")))
POOL_DATUM: Layout = (0, (
    ("pool_id", "outref"), ("total_supplied", "int"), ("total_borrowed", "int"),
    ("reserve", "int"), ("total_ctoken", "int")))
POOL_INFO_DATUM: Layout = (0, (
    ("pool_id", "outref"), ("envelope_amount", "int"), ("pool_asset", "asset"),
    ("ctoken", "asset"), ("vault_authtoken", "asset"), ("batcher_policy_id", "hash28"),
    ("order_script_hash", "hash28"), ("vault_script_hash", "hash28"),
    ("pool_stake_key", "option_hash"), ("reserve_factor_percentage", "int"),
    ("collateral_infos", "collateral_infos"), ("kink", "int"), ("base_rate", "int"),
    ("slope_low", "int"), ("slope_high", "int")))
VAULT_DATUM: Layout = (0, (
    ("pool_id", "outref"), ("borrow_id", "outref"), ("owner_pkh", "hash28"),
    ("owner_stake_key", "option_hash"), ("collateral_amount", "int"),
    ("collateral_asset", "asset"), ("interest_rate", "int"), ("start_time", "int"),
    ("principal", "int")))
ORACLE_DATUM: Layout = (0, (("price", "int"), ("decimals", "int"), ("updated_at", "int")))

_DEPOSIT_FIELDS: tuple[Field, ...] = (
    ("o_pool_id", "outref"), ("o_owner_pkh", "hash28"), ("o_owner_stake_key", "option_hash"),
    ("o_batcher_fee", "int"), ("o_amount", "int"))
ORDER_LAYOUTS: dict[str, Layout] = {
    "ODeposit": (0, _DEPOSIT_FIELDS),
    "OWithdraw": (1, _DEPOSIT_FIELDS),
    "OBorrow": (2, (
        ("o_pool_id", "outref"), ("o_owner_pkh", "hash28"), ("o_owner_stake_key", "option_hash"),
        ("o_batcher_fee", "int"), ("o_principal", "int"), ("o_collateral_amount", "int"),
        ("o_collateral_asset", "asset"), ("o_start_time", "int"))),
    "ORepay": (3, (
        ("o_pool_id", "outref"), ("o_batcher_fee", "int"), ("o_borrow_id", "outref"),
        ("o_owner_pkh", "hash28"), ("o_time", "int"))),
    "OLiquidate": (4, (
        ("o_pool_id", "outref"), ("o_batcher_fee", "int"), ("o_owner_pkh", "hash28"),
        ("o_borrow_id", "outref"))),
}

_POOL_REDEEMER_FIELDS = (("own_input_idx", "int"), ("own_output_idx", "int"),
                         ("pool_info_idx", "int"), ("license_idx", "int"))
#: Redeemers (the blueprint's), as layouts; order_indices are lists of int tuples.
REDEEMER_LAYOUTS: dict[str, dict[str, Layout]] = {
    "OrderRedeemer": {"Apply": (0, (("pool_in_idx", "int"),)),
                      "Cancel": (1, (("order_in_idx", "int"),))},
    "VaultRedeemer": {"VSpend": (0, (("pool_in_idx", "int"),)),
                      "VAddCollateral": (1, (("own_input_idx", "int"), ("own_output_idx", "int"),
                                             ("add_amount", "int"))),
                      "VSlash": (2, ())},
    "PoolRedeemer": {"ApplyDeposit": (0, (*_POOL_REDEEMER_FIELDS, ("order_indices", "tuples"))),
                     "ApplyWithdraw": (1, (*_POOL_REDEEMER_FIELDS, ("order_indices", "tuples"))),
                     "ApplyBorrow": (2, (*_POOL_REDEEMER_FIELDS, ("order_indices", "tuples"))),
                     "ApplyRepay": (3, (*_POOL_REDEEMER_FIELDS, ("order_indices", "tuples"))),
                     "ApplyLiquidate": (4, (*_POOL_REDEEMER_FIELDS, ("order_indices", "tuples"))),
                     "AdminOperation": (5, ())},
}


# --- typed values ------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class OutRef:
    """An OutputReference: a pool id, a borrow id, or a UTxO."""

    tx_id: bytes
    index: int

    def __str__(self) -> str:
        return f"{self.tx_id.hex()}#{self.index}"

    @classmethod
    def parse(cls, text: str) -> "OutRef":
        """"txid#ix" (ours) or "txid:ix" (the Surf API's pool ids)."""
        for separator in ("#", ":"):
            if separator in text:
                tx, _, ix = text.strip().partition(separator)
                break
        else:
            raise ValueError(f"not an output reference (txid#ix or txid:ix): {text!r}")
        try:
            tx_id = bytes.fromhex(tx)
            index = int(ix)
        except ValueError:
            raise ValueError(f"not an output reference (txid#ix or txid:ix): {text!r}") from None
        if len(tx_id) != 32 or index < 0 or not ix.isdigit():
            raise ValueError(f"not an output reference (txid#ix or txid:ix): {text!r}")
        return cls(tx_id, index)


@dataclass(frozen=True)
class CollateralInfo:
    collateral_asset: Asset
    oracle_nft: Asset
    liquidation_threshold: int  # basis points of the collateral's value (7_500 = 75 %)
    max_borrow_ltv: int  # basis points


@dataclass(frozen=True)
class PoolDatum:
    """The market state."""

    pool_id: OutRef
    total_supplied: int
    total_borrowed: int
    reserve: int
    total_ctoken: int


@dataclass(frozen=True)
class PoolInfoDatum:
    """The market parameters. Rates and ratios are basis points (multiplier 10 000)."""

    pool_id: OutRef
    envelope_amount: int  # lovelace that travels with every order output and vault
    pool_asset: Asset
    ctoken: Asset
    vault_authtoken: Asset
    batcher_policy_id: bytes
    order_script_hash: bytes
    vault_script_hash: bytes
    pool_stake_key: bytes | None  # the stake (script) credential of vault addresses
    reserve_factor_percentage: int  # basis points of interest kept as reserve (1_000 = 10 %)
    collateral_infos: tuple[CollateralInfo, ...]
    kink: int
    base_rate: int
    slope_low: int
    slope_high: int

    def collateral(self, asset: Asset) -> CollateralInfo | None:
        for info in self.collateral_infos:
            if info.collateral_asset == asset:
                return info
        return None


@dataclass(frozen=True)
class VaultDatum:
    """One loan. `interest_rate` is basis points a year, fixed when the loan opened."""

    pool_id: OutRef
    borrow_id: OutRef
    owner_pkh: bytes
    owner_stake_key: bytes | None
    collateral_amount: int
    collateral_asset: Asset
    interest_rate: int
    start_time: int  # Unix ms
    principal: int


@dataclass(frozen=True)
class OracleDatum:
    """The price of one base unit of a collateral in base units of the pool asset is
    price / decimals (`decimals` is a divisor, e.g. 1_000_000, not a digit count)."""

    price: int
    decimals: int
    updated_at: int  # Unix ms


@dataclass(frozen=True)
class ODeposit:
    o_pool_id: OutRef
    o_owner_pkh: bytes
    o_owner_stake_key: bytes | None
    o_batcher_fee: int
    o_amount: int  # base units of the pool asset


@dataclass(frozen=True)
class OWithdraw:
    o_pool_id: OutRef
    o_owner_pkh: bytes
    o_owner_stake_key: bytes | None
    o_batcher_fee: int
    o_amount: int  # cTokens to burn


@dataclass(frozen=True)
class OBorrow:
    o_pool_id: OutRef
    o_owner_pkh: bytes
    o_owner_stake_key: bytes | None
    o_batcher_fee: int
    o_principal: int
    o_collateral_amount: int
    o_collateral_asset: Asset
    o_start_time: int  # Unix ms: the loan may start no earlier


@dataclass(frozen=True)
class ORepay:
    o_pool_id: OutRef
    o_batcher_fee: int
    o_borrow_id: OutRef
    o_owner_pkh: bytes
    o_time: int  # Unix ms: the order holds the debt as of this time


@dataclass(frozen=True)
class OLiquidate:
    o_pool_id: OutRef
    o_batcher_fee: int
    o_owner_pkh: bytes
    o_borrow_id: OutRef


OrderDatum = Union[ODeposit, OWithdraw, OBorrow, ORepay, OLiquidate]
ORDER_TYPES: dict[str, type] = {"ODeposit": ODeposit, "OWithdraw": OWithdraw,
                                "OBorrow": OBorrow, "ORepay": ORepay, "OLiquidate": OLiquidate}
ORDER_KIND = {"ODeposit": "deposit", "OWithdraw": "withdraw", "OBorrow": "borrow",
              "ORepay": "repay", "OLiquidate": "liquidate"}

#: Each typed value beside its layout (the blueprint test checks both against the JSON).
TYPED_LAYOUTS: dict[str, tuple[type, Layout]] = {
    "PoolDatum": (PoolDatum, POOL_DATUM),
    "PoolInfoDatum": (PoolInfoDatum, POOL_INFO_DATUM),
    "VaultDatum": (VaultDatum, VAULT_DATUM),
    "CollateralInfo": (CollateralInfo, COLLATERAL_INFO),
    "OracleDatum": (OracleDatum, ORACLE_DATUM),
    **{name: (ORDER_TYPES[name], layout) for name, layout in ORDER_LAYOUTS.items()},
}


# --- decoding ---------------------------------------------------------------------------

def _int(value: Any, where: str) -> int:
    if type(value) is not int:
        raise DatumLayoutError(VENUE, f"{where}: expected an integer, found {type(value).__name__}")
    return value


def _bytes(value: Any, where: str, size: int | None = None, *, max_size: int | None = None,
           or_empty: bool = False) -> bytes:
    if not isinstance(value, bytes):
        raise DatumLayoutError(VENUE, f"{where}: expected bytes, found {type(value).__name__}")
    if size is not None and len(value) != size and not (or_empty and not value):
        raise DatumLayoutError(VENUE, f"{where}: expected {size} bytes, found {len(value)}")
    if max_size is not None and len(value) > max_size:
        raise DatumLayoutError(VENUE, f"{where}: more than {max_size} bytes ({len(value)})")
    return value


def _fields(value: Any, layout: Layout, where: str) -> dict[str, Any]:
    index, items = constr_of(value, where)
    expected_index, spec = layout
    if index != expected_index:
        raise DatumLayoutError(VENUE, f"{where}: constructor {index}, expected {expected_index}")
    if len(items) != len(spec):
        raise DatumLayoutError(VENUE, f"{where}: {len(items)} fields, expected {len(spec)}")
    return {name: _field(item, kind, f"{where}.{name}") for (name, kind), item in zip(spec, items)}


def _field(value: Any, kind: str, where: str) -> Any:
    if kind == "int":
        return _int(value, where)
    if kind == "bytes":
        return _bytes(value, where)
    if kind == "hash28":
        return _bytes(value, where, 28)
    if kind == "txid":
        return _bytes(value, where, 32)
    if kind == "policy":
        return _bytes(value, where, 28, or_empty=True)
    if kind == "name":
        return _bytes(value, where, max_size=32)
    if kind == "outref":
        found = _fields(value, OUTPUT_REFERENCE, where)
        if found["output_index"] < 0:
            raise DatumLayoutError(VENUE, f"{where}: negative output index")
        return OutRef(found["transaction_id"], found["output_index"])
    if kind == "asset":
        found = _fields(value, ASSET, where)
        return Asset(found["policy_id"].hex(), found["asset_name"].hex())
    if kind == "option_hash":
        index, items = constr_of(value, where)
        if index == 0 and len(items) == 1:
            return _bytes(items[0], f"{where}.Some", 28)
        if index == 1 and not items:
            return None
        raise DatumLayoutError(VENUE, f"{where}: not an Option (constructor {index}, "
                                      f"{len(items)} fields)")
    if kind == "collateral_infos":
        if not isinstance(value, (list, tuple)):
            raise DatumLayoutError(VENUE, f"{where}: expected a list")
        return tuple(CollateralInfo(**_fields(item, COLLATERAL_INFO, f"{where}[{i}]"))
                     for i, item in enumerate(value))
    if kind == "tuples":
        if not isinstance(value, (list, tuple)):
            raise DatumLayoutError(VENUE, f"{where}: expected a list")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, (list, tuple)):
                raise DatumLayoutError(VENUE, f"{where}[{i}]: expected a tuple")
            out.append(tuple(_int(x, f"{where}[{i}]") for x in item))
        return tuple(out)
    raise AssertionError(f"unknown field kind {kind}")


def _typed(cls: type, layout: Layout, value: Any, where: str) -> Any:
    return cls(**_fields(value, layout, where))


def read_pool(datum_cbor: bytes) -> PoolDatum:
    datum: PoolDatum = _typed(PoolDatum, POOL_DATUM, loads(datum_cbor, "PoolDatum"), "PoolDatum")
    for name in ("total_supplied", "total_borrowed", "reserve", "total_ctoken"):
        if getattr(datum, name) < 0:
            raise DatumLayoutError(VENUE, f"PoolDatum.{name}: negative")
    return datum


def read_pool_info(datum_cbor: bytes) -> PoolInfoDatum:
    datum: PoolInfoDatum = _typed(PoolInfoDatum, POOL_INFO_DATUM,
                                  loads(datum_cbor, "PoolInfoDatum"), "PoolInfoDatum")
    return datum


def read_vault(datum_cbor: bytes) -> VaultDatum:
    datum: VaultDatum = _typed(VaultDatum, VAULT_DATUM, loads(datum_cbor, "VaultDatum"),
                               "VaultDatum")
    return datum


def read_oracle(datum_cbor: bytes) -> OracleDatum:
    datum: OracleDatum = _typed(OracleDatum, ORACLE_DATUM, loads(datum_cbor, "OracleDatum"),
                                "OracleDatum")
    if datum.price <= 0 or datum.decimals <= 0:
        raise DatumLayoutError(VENUE, f"OracleDatum: price {datum.price} and decimals "
                                      f"{datum.decimals} must be positive")
    return datum


def read_order_value(value: Any, where: str = "OrderDatum") -> OrderDatum:
    index, _ = constr_of(value, where)
    for name, layout in ORDER_LAYOUTS.items():
        if layout[0] == index:
            order: OrderDatum = _typed(ORDER_TYPES[name], layout, value, f"{where}.{name}")
            return order
    raise DatumLayoutError(VENUE, f"{where}: constructor {index} is no order (0..4)")


def read_order(datum_cbor: bytes) -> OrderDatum:
    return read_order_value(loads(datum_cbor, "OrderDatum"))


def order_name(order: OrderDatum) -> str:
    return type(order).__name__


def read_redeemer(family: str, redeemer_cbor: bytes) -> tuple[str, dict[str, Any]]:
    """A redeemer of `family` (OrderRedeemer, VaultRedeemer, PoolRedeemer): (name, fields)."""
    value = loads(redeemer_cbor, family)
    index, _ = constr_of(value, family)
    for name, layout in REDEEMER_LAYOUTS[family].items():
        if layout[0] == index:
            return name, _fields(value, layout, f"{family}.{name}")
    raise DatumLayoutError(VENUE, f"{family}: unknown constructor {index}")


# --- encoding (for the orders we build, and for tests) ------------------------------------

def _encode(value: Any, kind: str) -> Any:
    if kind in ("int", "bytes", "hash28", "txid", "policy", "name"):
        return value
    if kind == "outref":
        return constr(0, [value.tx_id, value.index])
    if kind == "asset":
        return constr(0, [bytes.fromhex(value.policy), bytes.fromhex(value.name)])
    if kind == "option_hash":
        return constr(1, []) if value is None else constr(0, [value])
    if kind == "collateral_infos":
        return [encode_value(info) for info in value]
    if kind == "tuples":
        return [list(item) for item in value]
    raise AssertionError(f"unknown field kind {kind}")


def _layout_of(value: Any) -> Layout:
    name = type(value).__name__
    if name not in TYPED_LAYOUTS:
        raise TypeError(f"not a Surf datum: {name}")
    return TYPED_LAYOUTS[name][1]


def encode_value(value: Any) -> cbor2.CBORTag:
    """A typed datum as Plutus data (a cbor2 value)."""
    index, spec = _layout_of(value)
    return constr(index, [_encode(getattr(value, name), kind) for name, kind in spec])


def encode(value: Any) -> bytes:
    """A typed datum as CBOR bytes."""
    return dumps(encode_value(value))


def encode_redeemer(family: str, name: str, **values: int) -> bytes:
    index, spec = REDEEMER_LAYOUTS[family][name]
    return dumps(constr(index, [_encode(values[field], kind) for field, kind in spec]))


def to_fields(value: Any) -> dict[str, Any]:
    """A datum's fields for a VenueRecord: OutRefs as "txid#ix", assets as
    {policy_id, asset_name} (hex), hashes as bytes."""
    return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}


def _plain(value: Any) -> Any:
    if isinstance(value, OutRef):
        return str(value)
    if isinstance(value, Asset):
        return {"policy_id": value.policy, "asset_name": value.name}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return to_fields(value)
    return value
