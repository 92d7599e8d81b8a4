"""DEX order datums and fills: the real orders and fills in fixtures/dex decode to the
values their SOURCES.md state; datums built from the public layouts of the DEXs without
fixtures decode; a changed layout raises; orders, fills and cancels are found in txs."""
from __future__ import annotations

from pathlib import Path

import pytest

from chain.ledger import Tx, decode_transaction
from execution.dex import minswap_v1, minswap_v2, sundaeswap_v1
from execution.dex.model import DexDatumError, Order, UnsupportedOrder
from execution.dex.recognise import read_tx
from execution.dex.registry import DEXES, dex_of_order_address, read_order_datum
from protocols.errors import DatumLayoutError
from protocols.plutus import Constr, dumps, loads
from tests.support import dex_orders as crafted
from tests.support.fixtures import fixtures_dir, require


def dex_file(path: str) -> Path:
    return require(fixtures_dir() / "dex" / path, "DEX fixtures")


def tx_of(path: str) -> Tx:
    return decode_transaction(bytes.fromhex(dex_file(path).read_text().strip()))


def datum_of(path: str) -> bytes:
    return bytes.fromhex(dex_file(path).read_text().strip())


MSV1_ORDER = "minswap-v1/txs/tx_d1cb4d70_order_placement.hex"
MSV1_FILL = "minswap-v1/txs/tx_ae2210f9_batch_fill.hex"
SSV1_ORDER = "sundaeswap-v1/txs/tx_ee5500bf_order_placement.hex"
SSV1_SCOOP = "sundaeswap-v1/txs/tx_987eca3e_scoop.hex"
CSWAP_DATUM = "cswap/datums/order_datum_dexhunter_build_a5529d14_out0.hex"
MSV2_DATUM = "minswap-v2/datums/order_datum_utxo_13cbf663_0.hex"
CORNUCOPIAS = ("b6a7467ea1deb012808ef4e87b5ff371e85f7142d7b356a40d9b42a0."
               "436f726e75636f70696173205b76696120436861696e506f72742e696f5d")


# --- real datums ------------------------------------------------------------------------

def test_minswap_v1_placement_is_an_order_of_2174_ada():
    found = read_tx(tx_of(MSV1_ORDER), {})
    assert not found.errors and not found.fills
    [order] = found.orders
    assert order.ref == "d1cb4d707ac17672122e75ee9515cd4161d5279c3be7f0c79bc452065f2c1ae7#0"
    assert order.dex == "minswap-v1"
    assert order.offer.lovelace == 2_174_475_800 and order.offer.assets == {}
    d = order.datum
    assert d.owner == "223061e4a09950baf14d5c7b223bc8b401df61e82062ec888caee152"
    # The receiver is the owner's base address (its payment key and stake key).
    assert d.receiver.startswith("addr1q")
    assert tx_of(MSV1_ORDER).outputs[2].address == d.receiver
    assert d.want == "f43a62fdc3965df486de8a0d32fe800963589c41b38946602a0dc535.41474958"
    assert (d.min_receive, d.batcher_fee, d.deposit) == (1_462_033_581_050, 1_500_000,
                                                          2_000_000)


def test_minswap_v1_batch_pays_the_order_s_receiver_from_the_witness_datum():
    found = read_tx(tx_of(MSV1_FILL), {})
    assert not found.errors and not found.orders
    [fill] = found.fills
    assert fill.dex == "minswap-v1" and fill.order_ref is None
    assert fill.paid_to == tx_of(MSV1_FILL).outputs[2].address  # the token payout
    assert fill.received.lovelace == 2_000_000
    assert fill.received.assets == {CORNUCOPIAS: 41_491_569_693}
    # What the order asked for, read from the same witness datum, is met.
    fill_tx = tx_of(MSV1_FILL)
    orders = [d for d in (_try(minswap_v1.read_datum, c) for c in fill_tx.datums.values()) if d]
    [datum] = orders
    assert datum.want == CORNUCOPIAS and datum.min_receive == 41_285_143_973
    assert fill.received.get(datum.want) >= datum.min_receive


def _try(read, cbor):  # type: ignore[no-untyped-def]
    try:
        return read(cbor, True)
    except DatumLayoutError:
        return None


def test_sundaeswap_v1_placement_is_an_order_of_497_ada():
    [order] = read_tx(tx_of(SSV1_ORDER), {}).orders
    assert order.dex == "sundaeswap-v1" and order.offer.lovelace == 497_737_353
    d = order.datum
    assert d.owner == "206a54629f155d28a5db2cfd7f337b852cfcc1c4c52e8681282eb4e6"
    assert d.want is None  # the datum names the pool, not the token
    assert (d.min_receive, d.batcher_fee, d.deposit) == (334_487_632_431, 2_500_000, 2_000_000)
    # offered + scooper fee + deposit = what the order UTxO holds
    assert 493_237_353 + d.batcher_fee + d.deposit == order.offer.lovelace


def test_sundaeswap_v1_scoop_pays_the_order_s_receiver():
    scoop = tx_of(SSV1_SCOOP)
    [fill] = read_tx(scoop, {}).fills
    assert fill.dex == "sundaeswap-v1"
    assert fill.paid_to == scoop.outputs[2].address
    assert fill.received.lovelace == 1_025_887_474 and not fill.received.assets
    [datum] = [d for d in (_try(sundaeswap_v1.read_datum, c) for c in scoop.datums.values())
               if d]
    assert datum.min_receive == 993_173_532 <= fill.received.lovelace


def test_cswap_datum_from_the_dexhunter_build():
    d = read_order_datum("cswap", datum_of(CSWAP_DATUM))
    assert d.owner == "def3ae76d194a05fc6fc4e29e281d628ab84ee5a466e81e41e465e88"
    assert d.want == "1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e34.5553444378"
    assert (d.min_receive, d.batcher_fee, d.deposit) == (5_262_313, 690_000, 2_000_000)
    from pycardano import Address

    receiver = Address.decode(d.receiver)
    assert receiver.payment_part.payload.hex() == d.owner
    assert receiver.staking_part.payload.hex().startswith("e9ede0c1")


def test_minswap_v2_datum_is_a_deposit_for_lp_tokens():
    d = minswap_v2.read_datum(datum_of(MSV2_DATUM), True)
    assert d.kind == "deposit"
    assert d.owner == "6b22d12477ed7e3b6b9f9a8b56406a8b055cce960caa6bc91d14df12"
    assert d.want.startswith("f5808c2c990d86da54bfc97d89cee6efa20cd8461616359478d96b4c.82e2b1fd")
    assert (d.min_receive, d.batcher_fee) == (4_281_349_025, 1_000_000)
    # The fill paid 4,302,755,750 LP tokens: above the datum's minimum.
    assert 4_302_755_750 >= d.min_receive


@pytest.mark.parametrize("name", ["minswap-v2/txs/tx_a0aeaf01_batch_fill.hex",
                                  "minswap-v2/txs/tx_62fc6681_batch_fill.hex",
                                  "minswap-v2/txs/tx_eefddad2_batch_fill.hex"])
def test_minswap_v2_batch_read_alone_reports_the_user_payout(name):
    tx = tx_of(name)
    [fill] = read_tx(tx, {}).fills
    assert fill.dex == "minswap-v2" and fill.order_ref is None
    assert fill.paid_to == tx.outputs[0].address  # the user payout, per SOURCES.md
    assert fill.received.lovelace == tx.outputs[0].lovelace


# --- changed layouts raise --------------------------------------------------------------

def _changed(cbor: bytes, path: list[int], value) -> bytes:  # type: ignore[no-untyped-def]
    def go(node, rest):  # type: ignore[no-untyped-def]
        if not rest:
            return value
        fields = list(node.fields)
        fields[rest[0]] = go(fields[rest[0]], rest[1:])
        return Constr(node.index, tuple(fields))
    return dumps(go(loads(cbor), path))


def _witness_order(path: str, read) -> bytes:  # type: ignore[no-untyped-def]
    tx = tx_of(path)
    return next(c for c in tx.datums.values() if _try(read, c))


@pytest.mark.parametrize("path,change", [
    ([4], b"\x01"),                     # batcher fee as bytes
    ([3, 1], -5),                       # a negative minimum
    ([3], Constr(2, (1,))),             # a deposit step
    ([0], Constr(0, (b"\x01",))),       # an address with one part
])
def test_minswap_v1_changed_layout_raises(path, change):
    cbor = _witness_order(MSV1_ORDER, minswap_v1.read_datum)
    assert minswap_v1.read_datum(cbor, True)
    with pytest.raises(DatumLayoutError):
        minswap_v1.read_datum(_changed(cbor, path, change), True)


def test_unknown_layouts_raise_typed_errors_for_every_dex():
    cbor = datum_of(CSWAP_DATUM)
    for dex in DEXES:
        if dex.name == "cswap":
            continue
        with pytest.raises(DexDatumError):
            dex.read_datum(cbor, True)
    with pytest.raises(DexDatumError):
        read_order_datum("cswap", b"\xff\x00")
    with pytest.raises(DexDatumError):
        read_order_datum("cswap", datum_of(CSWAP_DATUM) + b"\x00")  # trailing bytes
    extra = dumps(Constr(0, loads(datum_of(CSWAP_DATUM)).fields + (1,)))  # type: ignore[union-attr]
    with pytest.raises(DexDatumError, match="7"):
        read_order_datum("cswap", extra)


def test_minswap_v2_other_steps_are_refused_not_guessed():
    cbor = datum_of(MSV2_DATUM)
    stop = _changed(cbor, [6], Constr(1, (Constr(0, ()), Constr(0, (5,)), 5)))
    with pytest.raises(UnsupportedOrder):
        minswap_v2.read_datum(stop, True)
    script_canceller = _changed(cbor, [0], Constr(1, (b"\x00" * 28,)))
    with pytest.raises(UnsupportedOrder):
        minswap_v2.read_datum(script_canceller, True)


# --- the DEXs without fixtures, from their public layouts --------------------------------

def test_sundaeswap_v3_swap_from_the_public_layout():
    d = read_order_datum("sundaeswap-v3", crafted.sundaeswap_v3())
    assert d.owner == crafted.OWNER.hex() and d.receiver == str(crafted.WALLET)
    assert (d.want, d.min_receive, d.batcher_fee, d.deposit) == (crafted.TOKEN, 4_500_000,
                                                                 1_280_000, 2_000_000)
    for bad in (crafted.sundaeswap_v3(owner_kind=2), crafted.sundaeswap_v3(destination_kind=1),
                crafted.sundaeswap_v3(details_kind=2)):
        with pytest.raises(UnsupportedOrder):
            read_order_datum("sundaeswap-v3", bad)


def test_wingriders_v1_swap_from_the_public_layout():
    d = read_order_datum("wingriders-v1", crafted.wingriders_v1())
    assert d.owner == crafted.OWNER.hex() and d.receiver == str(crafted.WALLET)
    assert (d.want, d.min_receive, d.batcher_fee, d.deposit) == (crafted.TOKEN, 7_000_000,
                                                                 2_000_000, 2_000_000)
    assert read_order_datum("wingriders-v1", crafted.wingriders_v1(direction=1)).want == \
        "lovelace"
    with pytest.raises(UnsupportedOrder):
        read_order_datum("wingriders-v1", crafted.wingriders_v1(action=1))
    with pytest.raises(DexDatumError):
        read_order_datum("wingriders-v1", crafted.wingriders_v1(direction=2))


def test_wingriders_v2_swap_from_the_public_layout():
    d = read_order_datum("wingriders-v2", crafted.wingriders_v2())
    assert d.owner == crafted.OWNER.hex() and d.receiver == str(crafted.WALLET)
    assert (d.want, d.min_receive, d.deposit) == ("lovelace", 55_000_000, 2_000_000)
    assert read_order_datum("wingriders-v2", crafted.wingriders_v2(direction=0)).want == \
        crafted.TOKEN
    with pytest.raises(DexDatumError, match="13 fields"):
        read_order_datum("wingriders-v2", crafted.wingriders_v2(fields=12))


def test_testnet_receivers_are_testnet_addresses():
    d = read_order_datum("wingriders-v1", crafted.wingriders_v1(), mainnet=False)
    assert d.receiver.startswith("addr_test1")


def test_order_scripts_are_known_by_address():
    for dex in DEXES:
        for script in dex.order_scripts:
            assert dex_of_order_address(bytes(crafted.script_address(script))) is dex
            assert dex_of_order_address(bytes(crafted.script_address(script, None))) is dex
    assert dex_of_order_address(bytes(crafted.WALLET)) is None


# --- fills and cancels of known orders ----------------------------------------------------

def _place(datum: bytes, dex: str, lovelace: int = 104_000_000) -> tuple[Tx, dict[str, Order]]:
    script = next(iter(next(d for d in DEXES if d.name == dex).order_scripts))
    tx = decode_transaction(crafted.tx_cbor(
        [(b"\x01" * 32, 0)],
        [crafted.out(crafted.script_address(script), lovelace, inline=datum)]))
    known: dict[str, Order] = {}
    [order] = read_tx(tx, known).orders
    return tx, known


def test_a_fill_spends_the_order_and_pays_its_receiver():
    placed, known = _place(crafted.sundaeswap_v3(), "sundaeswap-v3")
    pool = crafted.script_address(next(iter(DEXES[3].pool_scripts)))
    fill_tx = decode_transaction(crafted.tx_cbor(
        [(placed.id, 0), (b"\x02" * 32, 1)],
        [crafted.out(pool, 900_000_000, 10**9),
         crafted.out(crafted.WALLET, 2_000_000, 4_700_000)],
        signers=[crafted.BATCHER]))
    found = read_tx(fill_tx, known)
    [fill] = found.fills
    assert not found.cancels and not found.errors
    assert fill.order_ref == f"{placed.id.hex()}#0" and fill.paid_to == str(crafted.WALLET)
    assert fill.received.assets == {crafted.TOKEN: 4_700_000}
    assert known == {}  # settled once


def test_a_cancel_pays_the_owner_back_without_a_pool():
    placed, known = _place(crafted.wingriders_v2(), "wingriders-v2")
    cancel_tx = decode_transaction(crafted.tx_cbor(
        [(placed.id, 0)], [crafted.out(crafted.WALLET, 103_500_000)],
        signers=[crafted.OWNER]))
    found = read_tx(cancel_tx, known)
    assert not found.fills
    [cancel] = found.cancels
    assert cancel.ref == f"{placed.id.hex()}#0" and cancel.returned.lovelace == 103_500_000


def test_an_order_whose_datum_does_not_read_is_an_error_not_skipped():
    script = next(iter(DEXES[4].order_scripts))  # wingriders-v1
    tx = decode_transaction(crafted.tx_cbor(
        [(b"\x01" * 32, 0)],
        [crafted.out(crafted.script_address(script), 5_000_000,
                     inline=crafted.wingriders_v2())]))
    found = read_tx(tx, {})
    assert not found.orders
    [error] = found.errors
    assert "wingriders-v1" in error and f"{tx.id.hex()}#0" in error


def test_a_known_order_spent_without_paying_receiver_or_owner_is_an_error():
    placed, known = _place(crafted.wingriders_v1(), "wingriders-v1")
    stranger = crafted.script_address("55" * 28)
    tx = decode_transaction(crafted.tx_cbor([(placed.id, 0)],
                                            [crafted.out(stranger, 103_000_000)]))
    found = read_tx(tx, known)
    assert not found.fills and not found.cancels
    [error] = found.errors
    assert f"{placed.id.hex()}#0" in error and "neither" in error


def test_a_pool_output_alone_is_not_a_batch():
    pool = crafted.script_address(next(iter(minswap_v2.POOL_SCRIPTS)))
    tx = decode_transaction(crafted.tx_cbor(
        [(b"\x07" * 32, 0)],
        [crafted.out(pool, 10**9, 10**9), crafted.out(crafted.WALLET, 5_000_000)]))
    assert read_tx(tx, {}).fills == []
