"""Surf datums: built from the CIP-57 blueprint's own schemas (an encoder written here from
the JSON, independent of the decoder), decoded, and every wrong layout refused."""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import cbor2
import pytest

from core.settings import load_settings
from core.units import Asset
from protocols.errors import DatumLayoutError
from protocols.venues.surf import datums
from protocols.venues.surf.datums import OutRef
from tests.support.fixtures import require


def blueprint() -> dict[str, Any]:
    path = require(load_settings().fixtures_dir / "protocols" / "flow"
                   / "blueprint_schemas_no_code.json", "the Flow/Surf blueprint")
    return json.loads(Path(path).read_text())


def definition(bp: dict[str, Any], ref: str) -> dict[str, Any]:
    name = ref.removeprefix("#/definitions/").replace("~1", "/")
    return bp["definitions"][name]


# --- an encoder driven by the blueprint JSON alone ------------------------------------------

class Sampler:
    """Distinct sample values, by field title, so a swapped field shows."""

    def __init__(self) -> None:
        self.counter = itertools.count(7)

    def value(self, bp: dict[str, Any], schema: dict[str, Any], title: str) -> tuple[Any, Any]:
        """(CBOR value, the Python value our decoder should give)."""
        if "$ref" in schema:
            return self.value(bp, definition(bp, schema["$ref"]), schema.get("title", title))
        if schema.get("dataType") == "integer":
            n = next(self.counter) * 1_000 + 1
            return n, n
        if schema.get("dataType") == "bytes":
            size = 32 if title == "transaction_id" else 28
            if title in ("asset_name", "AssetName"):
                size = 5
            raw = bytes([next(self.counter) % 256]) * size
            return raw, raw
        if schema.get("dataType") == "list" and isinstance(schema.get("items"), dict):
            pairs = [self.value(bp, schema["items"], title) for _ in range(2)]
            return [p[0] for p in pairs], tuple(p[1] for p in pairs)
        if "anyOf" in schema:
            options = schema["anyOf"]
            if schema.get("title") == "Option":
                inner_cbor, inner = self.value(bp, options[0]["fields"][0], title)
                return cbor2.CBORTag(121, [inner_cbor]), inner
            assert len(options) == 1, schema
            option = options[0]
            built = [self.value(bp, f, f.get("title", "")) for f in option["fields"]]
            value = cbor2.CBORTag(121 + option["index"], [b[0] for b in built])
            expected = {f["title"]: b[1] for f, b in zip(option["fields"], built)}
            return value, self.typed(option["title"], expected)
        raise AssertionError(f"schema not handled: {schema}")

    @staticmethod
    def typed(title: str, fields: dict[str, Any]) -> Any:
        if title == "OutputReference":
            return OutRef(fields["transaction_id"], fields["output_index"])
        if title == "Asset":
            return Asset(fields["policy_id"].hex(), fields["asset_name"].hex())
        if title == "CollateralInfo":
            return datums.CollateralInfo(**fields)
        return fields


READERS = {"PoolDatum": datums.read_pool, "PoolInfoDatum": datums.read_pool_info,
           "VaultDatum": datums.read_vault}


@pytest.mark.parametrize("name", sorted(READERS))
def test_datums_built_from_the_blueprint_decode_field_by_field(name: str) -> None:
    bp = blueprint()
    value, expected = Sampler().value(bp, definition(bp, f"types/{name}"), name)
    decoded = READERS[name](cbor2.dumps(value))
    assert dataclasses.asdict(decoded) == {k: _asdict(v) for k, v in expected.items()}
    # and our encoder gives back the same Plutus data
    assert cbor2.loads(datums.encode(decoded)) == cbor2.loads(cbor2.dumps(value))


def _asdict(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, tuple):
        return tuple(_asdict(v) for v in value)
    return value


KIND_OF_REF = {"Int": {"int"}, "ByteArray": {"bytes", "hash28"}, "types/PubKeyHash": {"hash28"},
               "cardano/assets/PolicyId": {"policy"}, "cardano/assets/AssetName": {"name"},
               "cardano/transaction/OutputReference": {"outref"}, "types/Asset": {"asset"},
               "Option$types/PubKeyHash": {"option_hash"},
               "List$types/CollateralInfo": {"collateral_infos"},
               "List$Tuple$Int_Int": {"tuples"}, "List$Tuple$Int_Int_Int": {"tuples"},
               "List$Tuple$Int_Int_Int_Int": {"tuples"}}


def _blueprint_fields(bp: dict[str, Any], name: str) -> list[tuple[int, list[tuple[str, str]]]]:
    return [(option["index"],
             [(f["title"], f["$ref"].removeprefix("#/definitions/").replace("~1", "/"))
              for f in option["fields"]])
            for option in bp["definitions"][name]["anyOf"]]


@pytest.mark.parametrize("name,layout", [
    ("types/PoolDatum", datums.POOL_DATUM), ("types/PoolInfoDatum", datums.POOL_INFO_DATUM),
    ("types/VaultDatum", datums.VAULT_DATUM), ("types/CollateralInfo", datums.COLLATERAL_INFO),
    ("types/Asset", datums.ASSET),
    ("cardano/transaction/OutputReference", datums.OUTPUT_REFERENCE)])
def test_decoder_layouts_match_the_blueprint_json(name: str, layout: datums.Layout) -> None:
    """A schema change in the blueprint (a field added, moved, retyped) fails here."""
    [(index, found)] = _blueprint_fields(blueprint(), name)
    assert index == layout[0]
    assert [title for title, _ in found] == [field for field, _ in layout[1]]
    for (title, ref), (_, kind) in zip(found, layout[1]):
        if name.endswith("OutputReference") and title == "transaction_id":
            assert ref == "ByteArray" and kind == "txid"
            continue
        assert kind in KIND_OF_REF[ref], f"{name}.{title}: {ref} read as {kind}"


@pytest.mark.parametrize("family", ["OrderRedeemer", "VaultRedeemer", "PoolRedeemer"])
def test_redeemer_layouts_match_the_blueprint_json(family: str) -> None:
    name = {"OrderRedeemer": "order/OrderRedeemer", "VaultRedeemer": "vault/VaultRedeemer",
            "PoolRedeemer": "pool/PoolRedeemer"}[family]
    found = _blueprint_fields(blueprint(), name)
    ours = datums.REDEEMER_LAYOUTS[family]
    titles = [o["title"] for o in blueprint()["definitions"][name]["anyOf"]]
    assert titles == list(ours)
    for (index, fields), (title, (our_index, spec)) in zip(found, ours.items()):
        assert index == our_index, title
        assert [f for f, _ in fields] == [f for f, _ in spec], title


def test_typed_classes_follow_their_layouts() -> None:
    for name, (cls, (_, spec)) in datums.TYPED_LAYOUTS.items():
        assert [f.name for f in dataclasses.fields(cls)] == [f for f, _ in spec], name


def test_order_and_oracle_datums_are_not_in_the_blueprint() -> None:
    """The order validator takes `Data` and the oracle is read by the pool: their layouts
    come from lib/types.ak (lending.md §3.3). If the blueprint ever declares them, this
    fails so that our layouts get checked against it."""
    bp = blueprint()
    assert not any("Order" in k and "Datum" in k for k in bp["definitions"])
    assert not any("Oracle" in k for k in bp["definitions"])
    order = next(v for v in bp["validators"] if v["title"] == "order.order.spend")
    assert order["datum"]["schema"] == {"$ref": "#/definitions/Data"}


# --- orders and the oracle -----------------------------------------------------------------

POOL = OutRef(bytes(range(32)), 1)
BORROW = OutRef(bytes([9]) * 32, 0)
PKH = bytes([1]) * 28
STAKE = bytes([2]) * 28
SNEK = Asset("aa" * 28, "534e454b")


def oref(ref: OutRef) -> cbor2.CBORTag:
    return cbor2.CBORTag(121, [ref.tx_id, ref.index])


@pytest.mark.parametrize("tag,items,expected", [
    (121, [oref(POOL), PKH, cbor2.CBORTag(121, [STAKE]), 300_000, 10_000_000],
     datums.ODeposit(POOL, PKH, STAKE, 300_000, 10_000_000)),
    (122, [oref(POOL), PKH, cbor2.CBORTag(122, []), 300_000, 185_924_576],
     datums.OWithdraw(POOL, PKH, None, 300_000, 185_924_576)),
    (123, [oref(POOL), PKH, cbor2.CBORTag(122, []), 300_000, 100_000_000, 50_000,
           cbor2.CBORTag(121, [bytes.fromhex(SNEK.policy), b"SNEK"]), 1_727_453_227_635],
     datums.OBorrow(POOL, PKH, None, 300_000, 100_000_000, 50_000, SNEK, 1_727_453_227_635)),
    (124, [oref(POOL), 300_000, oref(BORROW), PKH, 1_727_453_227_635],
     datums.ORepay(POOL, 300_000, BORROW, PKH, 1_727_453_227_635)),
    (125, [oref(POOL), 300_000, PKH, oref(BORROW)],
     datums.OLiquidate(POOL, 300_000, PKH, BORROW)),
])
def test_orders_decode_by_constructor(tag: int, items: list[Any], expected: Any) -> None:
    raw = cbor2.dumps(cbor2.CBORTag(tag, items))
    assert datums.read_order(raw) == expected
    assert datums.encode(expected) == raw


def test_oracle_datum() -> None:
    raw = cbor2.dumps(cbor2.CBORTag(121, [500_000, 1_000_000, 1_727_453_227_635]))
    assert datums.read_oracle(raw) == datums.OracleDatum(500_000, 1_000_000, 1_727_453_227_635)
    with pytest.raises(DatumLayoutError, match="positive"):
        datums.read_oracle(cbor2.dumps(cbor2.CBORTag(121, [0, 1_000_000, 1])))


def test_general_constructor_forms_decode() -> None:
    """Tag 102 [index, fields] is also Plutus data; an order in that form reads the same."""
    raw = cbor2.dumps(cbor2.CBORTag(102, [4, [oref(POOL), 1, PKH, oref(BORROW)]]))
    assert datums.read_order(raw) == datums.OLiquidate(POOL, 1, PKH, BORROW)
    assert datums.constr_of(datums.constr(9, []), "x") == (9, [])
    assert datums.constr_of(datums.constr(200, [1]), "x") == (200, [1])


def _pool_items() -> list[Any]:
    return [oref(POOL), 1_000, 600, 10, 990]


@pytest.mark.parametrize("raw,message", [
    (cbor2.dumps(cbor2.CBORTag(122, _pool_items())), "constructor 1, expected 0"),
    (cbor2.dumps(cbor2.CBORTag(121, _pool_items()[:4])), "4 fields, expected 5"),
    (cbor2.dumps(cbor2.CBORTag(121, _pool_items() + [1])), "6 fields, expected 5"),
    (cbor2.dumps(cbor2.CBORTag(121, [oref(POOL), b"1000", 600, 10, 990])),
     "total_supplied: expected an integer"),
    (cbor2.dumps(cbor2.CBORTag(121, [cbor2.CBORTag(121, [b"short", 1]), 1, 2, 3, 4])),
     "transaction_id: expected 32 bytes"),
    (cbor2.dumps(cbor2.CBORTag(121, [oref(POOL), True, 600, 10, 990])), "expected an integer"),
    (cbor2.dumps(cbor2.CBORTag(121, [oref(POOL), -1, 600, 10, 990])), "negative"),
    (cbor2.dumps([1, 2, 3]), "expected a constructor"),
    (b"\xff\x00", "not CBOR"),
    (cbor2.dumps(cbor2.CBORTag(121, _pool_items())) + b"\x00", "one item expected"),
    (cbor2.dumps(cbor2.CBORTag(200, [1])), "not a Plutus constructor"),
])
def test_wrong_pool_layouts_raise(raw: bytes, message: str) -> None:
    with pytest.raises(DatumLayoutError, match=message):
        datums.read_pool(raw)


def test_wrong_order_layouts_raise() -> None:
    with pytest.raises(DatumLayoutError, match="constructor 5 is no order"):
        datums.read_order(cbor2.dumps(cbor2.CBORTag(126, [])))
    with pytest.raises(DatumLayoutError, match="ORepay: 4 fields, expected 5"):
        datums.read_order(cbor2.dumps(cbor2.CBORTag(124, [oref(POOL), 1, oref(BORROW), PKH])))
    bad_option = [oref(POOL), PKH, cbor2.CBORTag(121, []), 1, 2]
    with pytest.raises(DatumLayoutError, match="not an Option"):
        datums.read_order(cbor2.dumps(cbor2.CBORTag(121, bad_option)))
    with pytest.raises(DatumLayoutError, match="o_owner_pkh: expected 28 bytes"):
        datums.read_order(cbor2.dumps(cbor2.CBORTag(121, [oref(POOL), b"k", None, 1, 2])))


def test_vault_datum_with_an_asset_of_the_wrong_shape_raises() -> None:
    items = [oref(POOL), oref(BORROW), PKH, cbor2.CBORTag(122, []), 5,
             cbor2.CBORTag(121, [b"\x01" * 27, b"x"]), 500, 1, 100]
    with pytest.raises(DatumLayoutError, match="collateral_asset.policy_id: expected 28 bytes"):
        datums.read_vault(cbor2.dumps(cbor2.CBORTag(121, items)))


def test_redeemers_round_trip() -> None:
    raw = datums.encode_redeemer("OrderRedeemer", "Cancel", order_in_idx=2)
    assert raw == cbor2.dumps(cbor2.CBORTag(122, [2]))
    assert datums.read_redeemer("OrderRedeemer", raw) == ("Cancel", {"order_in_idx": 2})
    raw = datums.encode_redeemer("VaultRedeemer", "VAddCollateral", own_input_idx=0,
                                 own_output_idx=1, add_amount=5)
    assert datums.read_redeemer("VaultRedeemer", raw) == (
        "VAddCollateral", {"own_input_idx": 0, "own_output_idx": 1, "add_amount": 5})
    pool = cbor2.dumps(cbor2.CBORTag(124, [0, 0, 0, 3, [[1, 1, 2, 0]]]))
    assert datums.read_redeemer("PoolRedeemer", pool) == (
        "ApplyRepay", {"own_input_idx": 0, "own_output_idx": 0, "pool_info_idx": 0,
                       "license_idx": 3, "order_indices": ((1, 1, 2, 0),)})


def test_outref_forms() -> None:
    text = POOL.tx_id.hex()
    assert OutRef.parse(f"{text}#1") == OutRef.parse(f"{text}:1") == POOL
    assert str(POOL) == f"{text}#1"
    for bad in ("abc#1", f"{text}#-1", f"{text}", f"{text}#x"):
        with pytest.raises(ValueError):
            OutRef.parse(bad)


def test_record_fields_are_plain() -> None:
    order = datums.OBorrow(POOL, PKH, None, 1, 2, 3, SNEK, 4)
    assert datums.to_fields(order) == {
        "o_pool_id": str(POOL), "o_owner_pkh": PKH, "o_owner_stake_key": None,
        "o_batcher_fee": 1, "o_principal": 2, "o_collateral_amount": 3,
        "o_collateral_asset": {"policy_id": SNEK.policy, "asset_name": SNEK.name},
        "o_start_time": 4}
