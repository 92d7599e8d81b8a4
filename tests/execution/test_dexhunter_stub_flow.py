"""The DexHunter stub serving a paper swap flow over real HTTP: quotes synthesised from its
price table (the SYNTHETIC Surf demo tokens STRIKE and USDM, USDCx, SNEK...) and CSWAP
transactions synthesised from the recorded build, for any amount and buyer, passing the
pre-signing check (`dry_run_swap`, `dhl swap --dry-run`); faults queued over HTTP for a
stub run as a separate process."""
from __future__ import annotations

import time

import json
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from chain.slots import ms_to_slot
import requests
from pycardano import Address, Network, VerificationKeyHash

from chain.ledger import decode_transaction
from core.secrets import Secret
from core.units import ADA, Asset
from execution.dex import cswap
from execution.dex.reader import DEXHUNTER_DEXES, dex_readers
from execution.dexhunter.api import DexHunterApi
from execution.errors import DexHunterRefused, NotEnoughLiquidity, NoRoute
from execution.order_reader import blacklisted_dexes
from execution.swap_check import dry_run_swap
from protocols.http import HttpPolicy
from stubs.dexhunter import WINDOW_BUCKET_SLOTS, DexHunterStub
from stubs.dexhunter_tx import TEMPLATE_TTL, TEMPLATE_VALIDITY_START
from stubs.server import StubServer
from tests.support.cli import run_dhl
from tests.support.fixtures import load_settings, require

PARTNER = "pk_test_flow"
FEE_ADDRESS = ("addr1q8l7hny7x96fadvq8cukyqkcfca5xmkrvfrrkt7hp76v3qvssm7fz9ajmtd58ksljgkyvqu6"
               "gl23hlcfgv7um5v0rn8qtnzlfk")  # the recorded build's partner fee output
BUYER = ("addr1q8008tnk6x22qh7xl38znc5p6c52hp8wtfrxaq0yrer9az8fahsvrvjs2nte6d95crak93gphy32u868"
         "qqtx3s4r5dxqxpj8mk")
STRIKE = Asset("51" * 28, "535452494b45")  # SYNTHETIC Surf demo token, 0.5 ADA
USDM = Asset("55" * 28, "5553444d")  # SYNTHETIC Surf demo token, 2.2 ADA
USDCX = Asset.from_unit("1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e345553444378")
SNEK = Asset.from_unit("279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b")
def now_slot() -> int:
    """The mainnet slot now: the stub writes its window from its clock, so each test reads
    it when it runs (never at collection, minutes earlier in a long run)."""
    return ms_to_slot("mainnet", int(time.time() * 1000))
HALF = Decimal("0.5")
FAST = HttpPolicy(timeout_s=2, attempts=1, backoff_s=0.01, min_interval_s=0)
READERS = dex_readers()
BLACKLIST = blacklisted_dexes(DEXHUNTER_DEXES, READERS)


def random_address(seed: int) -> str:
    """A valid mainnet enterprise or base address from random key hashes."""
    rng = random.Random(seed)
    payment = VerificationKeyHash(rng.randbytes(28))
    stake = VerificationKeyHash(rng.randbytes(28)) if seed % 2 else None
    return str(Address(payment, stake, network=Network.MAINNET))


def fixtures() -> Path:
    return require(load_settings().fixtures_dir / "dexhunter", "DexHunter recordings").parent


@pytest.fixture
def server() -> Iterator[StubServer]:
    with StubServer(DexHunterStub(fixtures())) as running:
        yield running


@pytest.fixture
def api(server: StubServer) -> DexHunterApi:
    return DexHunterApi(server.url, Secret(PARTNER), policy=FAST)


FLOWS = [
    (ADA, STRIKE, "20", BUYER),
    (STRIKE, ADA, "40", random_address(1)),
    (ADA, USDM, "15.5", random_address(2)),
    (USDM, ADA, "3.25", random_address(3)),
    (ADA, USDCX, "21", random_address(4)),  # the recording scaled, built by the stub
    (USDCX, ADA, "7", BUYER),  # SHADOWBOOK recording blacklisted: synthesised CSWAP
    (ADA, SNEK, "30", random_address(5)),
]


@pytest.mark.parametrize(("sell", "buy", "amount", "buyer"), FLOWS)
def test_a_synthesised_swap_passes_the_pre_signing_check(
        api: DexHunterApi, sell: Asset, buy: Asset, amount: str, buyer: str) -> None:
    amount_in = Decimal(amount).scaleb(api.token(sell).decimals)
    quote = api.estimate(sell, buy, int(amount_in), HALF, blacklisted_dexes=BLACKLIST)
    assert quote.dexes == ("CSWAP",) and quote.total_output > 0
    now = now_slot()
    summary = dry_run_swap(api, buyer, sell, buy, amount, HALF, readers=READERS,
                           now_slot=now, network="mainnet", fee_addresses=[FEE_ADDRESS])
    assert summary["ok"] is True, summary["reasons"]
    assert summary["min_out"] == quote.total_output == summary["quoted_floor"]
    assert summary["receiver"] == buyer
    assert summary["orders"][0]["dex"] == "CSWAP"
    # The window starts at the clock's slot, bucketed, and lasts the template's hour.
    start = summary["validity_start"]
    assert now - WINDOW_BUCKET_SLOTS < start <= now + 5  # a bucket may begin mid-call
    assert start % WINDOW_BUCKET_SLOTS == 0
    assert summary["ttl"] - start == TEMPLATE_TTL - TEMPLATE_VALIDITY_START


@pytest.mark.parametrize(("sell", "buy", "amount", "buyer"), FLOWS[:4])
def test_the_built_order_is_read_as_cswap_for_the_buyer(
        api: DexHunterApi, sell: Asset, buy: Asset, amount: str, buyer: str) -> None:
    amount_in = int(Decimal(amount).scaleb(6))
    built = api.build(buyer, sell, buy, amount_in, HALF, blacklisted_dexes=BLACKLIST)
    tx = decode_transaction(built.tx_cbor)
    order = tx.outputs[0]
    datum = cswap.read_datum(order.inline_datum or b"", True)
    owner = Address.from_primitive(buyer).payment_part
    assert datum.owner == bytes(owner.payload).hex()  # type: ignore[union-attr]
    assert datum.receiver == buyer and datum.min_receive == built.quote.total_output
    assert datum.want == ("lovelace" if buy == ADA else f"{buy.policy}.{buy.name}")
    [reader] = [r for r in READERS if r.dexhunter_id == "CSWAP"]
    read = reader.read(order, order.inline_datum)
    assert read is not None and read.receiver == buyer
    fees = built.quote.fees
    if sell == ADA:
        assert order.lovelace == amount_in + fees.batcher + fees.deposits
    else:
        assert order.lovelace == fees.batcher + fees.deposits
        assert order.assets == {(bytes.fromhex(sell.policy), bytes.fromhex(sell.name)):
                                amount_in}
    assert all(o.address in (buyer, FEE_ADDRESS) for o in tx.outputs[1:])


def test_builds_are_deterministic_per_request(api: DexHunterApi) -> None:
    first = api.build(BUYER, ADA, STRIKE, 20_000_000, HALF)
    assert api.build(BUYER, ADA, STRIKE, 20_000_000, HALF).tx_cbor == first.tx_cbor
    other_amount = api.build(BUYER, ADA, STRIKE, 21_000_000, HALF)
    other_buyer = api.build(random_address(9), ADA, STRIKE, 20_000_000, HALF)
    assert len({first.tx_id, other_amount.tx_id, other_buyer.tx_id}) == 3


def test_synthesised_quotes_use_the_price_table_exactly(api: DexHunterApi,
                                                        server: StubServer) -> None:
    quote = api.estimate(ADA, STRIKE, 20_000_000, HALF)
    keep = (1 - Decimal("0.002")) * (1 - Decimal("0.6528438524118545") / 100)
    expected = int((Decimal(20) / Decimal("0.5") * keep).scaleb(6))
    assert quote.total_output_without_slippage == expected
    assert quote.total_output == int(Decimal(expected) * (1 - HALF / 100))
    assert (quote.fees.batcher, quote.fees.deposits, quote.fees.partner) == \
        (690_000, 2_000_000, 2_000_000)
    raw = requests.post(f"{server.url}/swap/estimate", timeout=2, json={
        "token_in": "", "token_out": STRIKE.unit, "amount_in": 20, "slippage": 0.5}).text
    assert '"initial_price": 0.5,' in raw and "e-" not in raw  # exact numbers, no float
    reverse = api.reverse_estimate(ADA, USDM, 5_000_000, HALF)
    assert reverse.total_output_without_slippage >= 5_000_000


def test_synthesised_quote_errors(api: DexHunterApi) -> None:
    with pytest.raises(NotEnoughLiquidity):
        api.estimate(ADA, STRIKE, 1_001_000_000, HALF)
    with pytest.raises(NoRoute):
        api.estimate(ADA, STRIKE, 20_000_000, HALF, blacklisted_dexes=["CSWAP"])
    with pytest.raises(DexHunterRefused) as caught:
        api.estimate(ADA, SNEK, 1, HALF)  # a lovelace buys no whole SNEK
    assert caught.value.code == "input_too_small"
    with pytest.raises(DexHunterRefused) as caught:
        api.build(BUYER, USDCX, SNEK, 3_000_000, HALF)  # MINSWAPV2 route: nothing to build
    assert caught.value.code == "stub_no_recorded_build"


def test_a_build_for_an_unreadable_address_is_refused(server: StubServer) -> None:
    answer = requests.post(f"{server.url}/swap/build", timeout=2, json={
        "buyer_address": "addr1notanaddress", "token_in": "", "token_out": STRIKE.unit,
        "amount_in": 20, "slippage": 0.5})
    assert (answer.status_code, answer.json()) == (400, "invalid_address")


def test_dhl_swap_dry_run_against_the_stub(server: StubServer) -> None:
    env = {"DEXHUNTER_API_URL": server.url, "DEXHUNTER_PARTNER_ID": "pk_test_swap",
           "CARDANO_NETWORK": "mainnet"}
    buyer = random_address(7)
    result = run_dhl(["swap", "--address", buyer, "--sell", "ADA", "--buy", STRIKE.unit,
                      "--amount", "12.5", "--slippage", "0.5", "--fee-address", FEE_ADDRESS,
                      "--now-slot", str(now_slot()), "--dry-run"], env,
                     ("MONGO_URL", "VENUES", "VENUE_MODULES"))
    assert result.returncode == 0, (result.stdout, result.stderr)
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["receiver"] == buyer


# --- faults over HTTP, the stub as a separate process ------------------------------------

@pytest.fixture
def process_url() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "stubs", "dexhunter", "--port", str(port),
                                "--fixtures", str(fixtures())],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        assert b"listening" in process.stdout.readline()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_faults_are_queued_and_reset_over_http(process_url: str) -> None:
    api = DexHunterApi(process_url, Secret(PARTNER), policy=FAST)
    queued = requests.post(f"{process_url}/_stub/fail", timeout=2, json={
        "path": "/swap/build", "times": 2, "status": 400, "body": "pool_out_of_sync_x"})
    assert queued.json() == {"queued": 2}
    for _ in range(2):
        with pytest.raises(DexHunterRefused) as caught:
            api.build(BUYER, ADA, STRIKE, 20_000_000, HALF)
        assert caught.value.code == "pool_out_of_sync_x"
    assert api.build(BUYER, ADA, STRIKE, 20_000_000, HALF).quote.total_output > 0
    calls = requests.get(f"{process_url}/_stub/calls", timeout=2).json()["calls"]
    assert calls["/swap/build"] == 1  # faults answer before the handler counts
    requests.post(f"{process_url}/_stub/fail", timeout=2,
                  json={"path": "/swap/build", "times": 3, "status": 500, "body": {}})
    assert requests.post(f"{process_url}/_stub/reset", timeout=2).json() == {"reset": True}
    assert requests.get(f"{process_url}/_stub/calls", timeout=2).json() == {"calls": {}}
    assert api.build(BUYER, ADA, STRIKE, 20_000_000, HALF).quote.total_output > 0
    bad = requests.post(f"{process_url}/_stub/fail", timeout=2, json={"path": "swap", "times": 0})
    assert bad.status_code == 400
