"""The DexOrderReader over execution/dex: real orders read into DexOrders with DexHunter's
ids; the DEXs whose swap datums do not name the bought token claim no id (so a swap
blacklists them) and raise when one of their orders is read."""
from __future__ import annotations

import pytest

from chain.ledger import Tx, TxOut, decode_transaction
from core.units import Asset
from execution.dex.model import UnsupportedOrder
from execution.dex.reader import DEXHUNTER_DEXES, dex_readers
from execution.order_reader import DexOrder, blacklisted_dexes, readable_dexes
from tests.support.fixtures import fixtures_dir, require


def tx_of(path: str) -> Tx:
    file = require(fixtures_dir() / "dex" / path, "DEX fixtures")
    return decode_transaction(bytes.fromhex(file.read_text().strip()))


def read_all(tx: Tx, out: TxOut) -> list[DexOrder]:
    datum = out.inline_datum
    if datum is None and out.datum_hash is not None:
        datum = tx.datums.get(out.datum_hash)
    found = [r.read(out, datum) for r in dex_readers()]
    return [order for order in found if order is not None]


def test_the_ids_claimed_and_the_ones_blacklisted() -> None:
    readers = dex_readers()
    assert readable_dexes(readers) == {"CSWAP", "MINSWAP", "SUNDAESWAPV3", "WINGRIDER",
                                       "WINGRIDERV2"}
    blacklist = blacklisted_dexes(DEXHUNTER_DEXES, readers)
    assert {"MINSWAPV2", "SUNDAESWAP", "SPLASH", "SHADOWBOOK"} <= set(blacklist)
    assert not {"CSWAP", "MINSWAP"} & set(blacklist)


def test_a_minswap_v1_order_reads_with_its_dexhunter_id() -> None:
    tx = tx_of("minswap-v1/txs/tx_d1cb4d70_order_placement.hex")
    orders = [o for out in tx.outputs for o in read_all(tx, out)]
    [order] = orders
    assert order.dex == "MINSWAP"
    assert order.want == Asset("f43a62fdc3965df486de8a0d32fe800963589c41b38946602a0dc535",
                               "41474958")
    assert (order.min_receive, order.batcher_fee, order.deposit) == (1_462_033_581_050,
                                                                     1_500_000, 2_000_000)


def test_a_sundaeswap_v1_swap_raises_its_bought_token_unknown() -> None:
    tx = tx_of("sundaeswap-v1/txs/tx_ee5500bf_order_placement.hex")
    with pytest.raises(UnsupportedOrder, match="does not name the token"):
        for out in tx.outputs:
            read_all(tx, out)


def test_an_output_elsewhere_is_not_an_order() -> None:
    tx = tx_of("minswap-v1/txs/tx_d1cb4d70_order_placement.hex")
    assert read_all(tx, tx.outputs[2]) == []
