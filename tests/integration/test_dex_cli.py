"""`dhl dex read FILE...` as operators and scripts run it: through the CLI's own entry
(`dhl.cli.main`) in this process, and once as the real `python -m dhl` subprocess. It
needs no service: it reads files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT
from execution.dex.registry import BY_NAME
from tests.support.cli import run_dhl
from tests.support import dex_orders as crafted
from tests.support.fixtures import cardano, fixtures_dir, require

pytestmark = pytest.mark.integration

MSV1_ORDER = "minswap-v1/txs/tx_d1cb4d70_order_placement.hex"
MSV1_FILL = "minswap-v1/txs/tx_ae2210f9_batch_fill.hex"
SSV1_ORDER = "sundaeswap-v1/txs/tx_ee5500bf_order_placement.hex"
SSV1_SCOOP = "sundaeswap-v1/txs/tx_987eca3e_scoop.hex"


def dex_file(path: str) -> str:
    return str(require(fixtures_dir() / "dex" / path, "DEX fixtures"))


def dhl(*args: str) -> subprocess.CompletedProcess[str]:
    """`dhl dex ARGS` through the CLI's entry, in this process (tests/support/cli.py)."""
    return run_dhl(["dex", *args])


def lines(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_fixture_transactions_give_their_orders_and_fills():
    result = dhl("read", dex_file(MSV1_ORDER), dex_file(MSV1_FILL), dex_file(SSV1_ORDER),
                 dex_file(SSV1_SCOOP))
    assert result.returncode == 0, result.stderr
    got = lines(result)
    assert [(g["dex"], g["kind"]) for g in got] == [
        ("minswap-v1", "order"), ("minswap-v1", "fill"),
        ("sundaeswap-v1", "order"), ("sundaeswap-v1", "fill")]
    order = got[0]
    assert order == {
        "dex": "minswap-v1", "kind": "order",
        "ref": "d1cb4d707ac17672122e75ee9515cd4161d5279c3be7f0c79bc452065f2c1ae7#0",
        "tx": "d1cb4d707ac17672122e75ee9515cd4161d5279c3be7f0c79bc452065f2c1ae7",
        "order_kind": "swap", "owner": "223061e4a09950baf14d5c7b223bc8b401df61e82062ec888caee152",
        "receiver": order["receiver"], "offer": {"lovelace": 2_174_475_800, "assets": {}},
        "want": "f43a62fdc3965df486de8a0d32fe800963589c41b38946602a0dc535.41474958",
        "min_receive": 1_462_033_581_050, "batcher_fee": 1_500_000, "deposit": 2_000_000}
    assert order["receiver"].startswith("addr1q")
    fill = got[1]
    assert fill["ref"] is None and fill["order_ref"] is None  # its order is not in the files
    assert fill["tx"] == "ae2210f94144e2f650adeecfde1c7df0131925cf865a858d9ee2137296f3e334"
    assert fill["received"]["lovelace"] == 2_000_000
    assert list(fill["received"]["assets"].values()) == [41_491_569_693]
    assert got[3]["received"] == {"lovelace": 1_025_887_474, "assets": {}}
    assert got[2]["want"] is None and got[2]["min_receive"] == 334_487_632_431


def test_block_files_and_binary_transactions():
    babbage = str(cardano("babbage-block-mainnet-slot76204984.hex"))
    conway = str(cardano("conway-block-mainnet-slot159835207.hex"))
    result = dhl("read", babbage, conway)
    assert result.returncode == 0, result.stderr
    got = lines(result)
    assert [(g["dex"], g["kind"]) for g in got if g["kind"] == "order"] == [
        ("minswap-v1", "order"), ("sundaeswap-v1", "order")]
    fills = {g["tx"][:8]: g for g in got if g["kind"] == "fill"}
    assert {"a0aeaf01", "62fc6681", "eefddad2"} <= set(fills)
    # A real WingRiders v2 batch in the same block pays the same user as a Minswap v2 one.
    wr = [g for g in got if g["dex"] == "wingriders-v2"]
    assert len(wr) == 1 and wr[0]["paid_to"] == fills["a0aeaf01"]["paid_to"]


def test_an_order_then_its_fill_then_a_cancel_across_files(tmp_path: Path):
    script = next(iter(BY_NAME["sundaeswap-v3"].order_scripts))
    place = crafted.tx_cbor([(b"\x01" * 32, 0)],
                            [crafted.out(crafted.script_address(script), 104_000_000,
                                         inline=crafted.sundaeswap_v3()),
                             crafted.out(crafted.script_address(script), 50_000_000,
                                         inline=crafted.sundaeswap_v3())])
    from chain.ledger import decode_transaction

    placed = decode_transaction(place).id
    pool = crafted.script_address(next(iter(BY_NAME["sundaeswap-v3"].pool_scripts)))
    fill = crafted.tx_cbor([(placed, 0)], [crafted.out(pool, 10**9, 10**9),
                                           crafted.out(crafted.WALLET, 2_000_000, 4_600_000)],
                           signers=[crafted.BATCHER])
    cancel = crafted.tx_cbor([(placed, 1)], [crafted.out(crafted.WALLET, 49_800_000)],
                             signers=[crafted.OWNER])
    files = []
    for name, data in (("place.hex", place.hex().encode()), ("fill.cbor", fill),
                       ("cancel.hex", cancel.hex().encode())):
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    result = dhl("read", *files)
    assert result.returncode == 0, result.stderr
    got = lines(result)
    assert [g["kind"] for g in got] == ["order", "order", "fill", "cancel"]
    assert got[0]["offer"] == {"lovelace": 104_000_000, "assets": {}}
    assert got[0]["want"] == crafted.TOKEN and got[0]["receiver"] == str(crafted.WALLET)
    assert got[2]["order_ref"] == got[2]["ref"] == f"{placed.hex()}#0"
    assert got[2]["received"] == {"lovelace": 2_000_000, "assets": {crafted.TOKEN: 4_600_000}}
    assert got[3]["ref"] == f"{placed.hex()}#1"
    assert got[3]["received"]["lovelace"] == 49_800_000


def test_a_file_that_is_neither_is_one_error_and_the_others_are_read(tmp_path: Path):
    junk = tmp_path / "junk.txt"
    junk.write_text("not cbor at all\n")
    result = dhl("read", str(junk), str(tmp_path / "missing.hex"), dex_file(MSV1_ORDER))
    assert result.returncode == 2
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2 and "junk.txt" in errors[0] and "no such file" in errors[1]
    assert [g["kind"] for g in lines(result)] == ["order"]


def test_an_order_output_whose_datum_does_not_read_exits_1(tmp_path: Path):
    script = next(iter(BY_NAME["wingriders-v1"].order_scripts))
    bad = crafted.tx_cbor([(b"\x01" * 32, 0)],
                          [crafted.out(crafted.script_address(script), 5_000_000,
                                       inline=crafted.wingriders_v2())])
    path = tmp_path / "bad.hex"
    path.write_text(bad.hex())
    result = dhl("read", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert "wingriders-v1" in result.stderr and "RequestDatum" in result.stderr


def test_the_real_command_line():
    result = subprocess.run([sys.executable, "-m", "dhl", "dex", "read", dex_file(SSV1_ORDER)],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    [order] = lines(result)
    assert order["dex"] == "sundaeswap-v1" and order["offer"]["lovelace"] == 497_737_353
