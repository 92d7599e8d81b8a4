"""DexHunter's client over real HTTP against the loopback stub serving the recorded bodies
(fixtures/dexhunter): each recorded answer read into typed results in base units, the
bare-string errors typed, transient failures retried (slippage widened only after
pool_out_of_sync, up to its cap), sign and cancel sent once, timeouts, malformed answers,
and the partner id never in a log line, an error or a repr."""
from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import cbor2
import pytest
import requests

from chain.ledger import decode_transaction
from core.secrets import Secret
from core.units import ADA, Asset
from execution.dexhunter.api import PARTNER_HEADER, DexHunterApi, PartnerAuth, PartnerSession
from execution.dexhunter.answers import parse_signed
from execution.dexhunter.slippage import SlippageError, Widening
from execution.errors import DexHunterRefused, NotEnoughLiquidity, NoRoute, PoolOutOfSync
from protocols.errors import MalformedResponse, VenueUnavailable
from protocols.http import HttpPolicy
from stubs.dexhunter import DexHunterStub
from stubs.server import Fault, StubServer
from tests.support.fixtures import load_settings, require

PARTNER = "pk_live_partner_7f3a9c1e5b"
USDCX = Asset.from_unit("1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e345553444378")
SNEK = Asset.from_unit("279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f534e454b")
DRIP = Asset.from_unit("af2e27f580f7f08e93190a81f72462f153026d06450924726645891b44524950")
BUYER = ("addr1q8008tnk6x22qh7xl38znc5p6c52hp8wtfrxaq0yrer9az8fahsvrvjs2nte6d95crak93gphy32u868"
         "qqtx3s4r5dxqxpj8mk")
FAST = HttpPolicy(timeout_s=0.3, attempts=3, backoff_s=0.01, min_interval_s=0)
HALF = Decimal("0.5")


def folder() -> Path:
    return require(load_settings().fixtures_dir / "dexhunter", "DexHunter recordings")


def recorded(name: str) -> Any:
    return json.loads((folder() / name).read_text())


@pytest.fixture
def stub() -> DexHunterStub:
    return DexHunterStub(folder().parent)


@pytest.fixture
def server(stub: DexHunterStub) -> Iterator[StubServer]:
    with StubServer(stub) as running:
        yield running


@pytest.fixture
def api(server: StubServer) -> DexHunterApi:
    return DexHunterApi(server.url, Secret(PARTNER), policy=FAST)


def sent(server: StubServer, path: str) -> list[Any]:
    return [r.body for r in server.requests_to(path)]


# --- tokens and amounts ------------------------------------------------------------------------

def test_token_decimals_come_from_the_token_endpoint_once(api: DexHunterApi,
                                                          server: StubServer) -> None:
    token = api.token(USDCX)
    assert (token.decimals, token.ticker) == (6, "USDCx")
    assert api.token(USDCX) is token and api.token(ADA).decimals == 6
    assert len(server.requests_to(f"/swap/token/{USDCX.unit}")) == 1  # cached; ADA never asked


def test_unknown_decimals_refuse_before_any_quote(api: DexHunterApi, server: StubServer) -> None:
    stranger = Asset("ab" * 28, "00")
    with pytest.raises(DexHunterRefused) as caught:
        api.estimate(ADA, stranger, 20_000_000, HALF)
    assert caught.value.code == "token_not_found"
    assert server.requests_to("/swap/estimate") == []


# --- estimates: every recorded body, in base units -------------------------------------------

def test_ada_to_usdcx_estimate(api: DexHunterApi, server: StubServer) -> None:
    quote = api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert sent(server, "/swap/estimate") == [recorded("swap-estimate.request.json")]
    assert (quote.amount_in, quote.total_output, quote.total_output_without_slippage) == \
        (20_000_000, 5_262_313, 5_315_468)
    assert quote.fees.batcher == 690_000 and quote.fees.deposits == 2_000_000
    assert quote.fees.partner == 2_000_000 and quote.fees.dexhunter == 0
    assert quote.fees.paid == 2_690_000
    [split] = quote.splits
    assert (split.dex, split.amount_in, split.expected_output, split.fee) == \
        ("CSWAP", 20_000_000, 5_262_313, 2_690_000)
    assert split.price_impact_pct == Decimal("0.6528438524118545")
    assert quote.partner_code == "ChainLens" and quote.slippage_pct == HALF
    # 0.5 % asked, the server's floor is 1 % below: what counts is the floor it quotes
    assert Decimal("0.99") < quote.effective_slippage_pct < Decimal("1.01")


def test_usdcx_to_ada_and_usdcx_to_snek_estimates(api: DexHunterApi, server: StubServer) -> None:
    to_ada = api.estimate(USDCX, ADA, 2_000_000, HALF)
    assert sent(server, "/swap/estimate")[-1] == recorded(
        "swap-estimate-token-to-ada.request.json")
    assert (to_ada.total_output, to_ada.fees.deposits, to_ada.splits[0].dex) == \
        (7_139_313, 4_000_000, "SHADOWBOOK")
    to_snek = api.estimate(USDCX, SNEK, 2_000_000, HALF)
    assert sent(server, "/swap/estimate")[-1] == recorded(
        "swap-estimate-token-to-token.request.json")
    assert api.token(SNEK).decimals == 0
    assert (to_snek.total_output, to_snek.total_output_without_slippage) == (2534, 2560)
    assert to_snek.splits[0].amount_in == 2_000_000  # USDCx base units


def test_blacklisted_dexes_are_sent_and_the_route_avoids_them(api: DexHunterApi,
                                                              server: StubServer) -> None:
    request = recorded("swap-estimate-blacklist.request.json")
    quote = api.estimate(ADA, USDCX, 100_000_000, HALF,
                         blacklisted_dexes=request["blacklisted_dexes"])
    assert sent(server, "/swap/estimate") == [request]
    assert quote.dexes == ("MINSWAPV2",) and quote.total_output == 25_760_215
    with pytest.raises(NoRoute):
        api.estimate(ADA, USDCX, 100_000_000, HALF,
                     blacklisted_dexes=[*request["blacklisted_dexes"], "MINSWAPV2"])


def test_reverse_estimate_rounds_what_we_pay_up(api: DexHunterApi, server: StubServer) -> None:
    with pytest.raises(SlippageError, match="outside"):  # above the default 3 % cap
        api.reverse_estimate(ADA, DRIP, 38_000_000, Decimal(5))
    assert server.requests_to("/swap/reverseEstimate") == []
    api = DexHunterApi(server.url, Secret(PARTNER), policy=FAST,
                       widening=Widening(cap_pct=Decimal(5)))
    quote = api.reverse_estimate(ADA, DRIP, 38_000_000, Decimal(5),
                                 blacklisted_dexes=["WINGRIDER"])
    body = sent(server, "/swap/reverseEstimate")[0]
    assert body["amount_out"] == 38 and body["slippage"] == 5 and body["token_in"] == ""
    assert quote.wanted == 38_000_000
    assert quote.total_input == 4_560  # 0.0045599187… ADA, rounded up to a lovelace
    assert quote.total_output == 35_288_684 and quote.fees.dexhunter == 1_000_004


# --- build ----------------------------------------------------------------------------------

def test_build_exposes_the_unsigned_tx_and_the_quoted_floor(api: DexHunterApi,
                                                            server: StubServer,
                                                            stub: DexHunterStub) -> None:
    built = api.build(BUYER, ADA, USDCX, 20_000_000, HALF)
    assert sent(server, "/swap/build") == [recorded("swap-build.request.json")]
    answer = recorded("swap-build.response.json")
    assert built.tx_cbor == bytes.fromhex(answer["cbor"])
    assert built.tx_id == decode_transaction(built.tx_cbor).id.hex()
    assert built.quote.total_output == 5_262_313
    assert (built.quote.fees.partner, built.quote.fees.total_fee) == (2_000_000, 2_000_000)
    assert stub.count("/swap/build") == 1
    calls = requests.get(f"{server.url}/_stub/calls", timeout=2).json()["calls"]
    assert calls["/swap/build"] == 1


def test_a_build_the_stub_cannot_make_is_refused_once(api: DexHunterApi,
                                                      stub: DexHunterStub) -> None:
    # USDCx→SNEK routes through MINSWAPV2 (recorded): the stub writes only CSWAP orders
    with pytest.raises(DexHunterRefused) as caught:
        api.build(BUYER, USDCX, SNEK, 3_000_000, HALF)
    assert caught.value.code == "stub_no_recorded_build"
    assert stub.count("/swap/build") == 1  # a refusal is not retried


def test_estimate_of_another_amount_is_scaled(api: DexHunterApi) -> None:
    quote = api.estimate(ADA, USDCX, 40_000_000, HALF)
    assert quote.total_output == 10_524_626 and quote.fees.batcher == 690_000


# --- errors ---------------------------------------------------------------------------------

def test_not_enough_liquidity_is_typed_and_not_retried(api: DexHunterApi,
                                                       server: StubServer) -> None:
    with pytest.raises(NotEnoughLiquidity) as caught:
        api.estimate(ADA, USDCX, 20_000_000 * 51, HALF)
    assert caught.value.code == "not_enough_liquidity"
    assert len(server.requests_to("/swap/estimate")) == 1
    # the recorded body itself, whatever the status
    server.fail_next("/swap/estimate",
                     Fault(status=500, body=recorded("error-not-enough-liquidity.response.json")))
    with pytest.raises(NotEnoughLiquidity):
        api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert len(server.requests_to("/swap/estimate")) == 2


def test_pool_out_of_sync_is_retried_with_the_slippage_widened(server: StubServer) -> None:
    api = DexHunterApi(server.url, Secret(PARTNER), policy=FAST,
                       widening=Widening(step_pct=Decimal(1), cap_pct=Decimal(2)))
    server.fail_next("/swap/build", Fault(status=400, body="pool_out_of_sync"), times=2)
    built = api.build(BUYER, ADA, USDCX, 20_000_000, HALF)
    assert [b["slippage"] for b in sent(server, "/swap/build")] == [0.5, 1.5, 2]  # capped
    assert built.quote.slippage_pct == Decimal(2)
    server.fail_next("/swap/estimate", Fault(status=400, body="pool_out_of_sync"), times=3)
    with pytest.raises(PoolOutOfSync):
        api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert len(server.requests_to("/swap/estimate")) == 3


def test_server_errors_and_timeouts_are_retried_without_widening(api: DexHunterApi,
                                                                 server: StubServer) -> None:
    server.fail_next("/swap/estimate", Fault(status=503))
    server.fail_next("/swap/estimate", Fault(delay_s=0.6))
    quote = api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert quote.total_output == 5_262_313
    assert [b["slippage"] for b in sent(server, "/swap/estimate")] == [0.5, 0.5, 0.5]
    server.fail_next("/swap/estimate", Fault(delay_s=0.6), times=3)
    started = time.monotonic()
    with pytest.raises(VenueUnavailable, match="no answer within 0.3s"):
        api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert time.monotonic() - started < 2.5


def test_malformed_answers(api: DexHunterApi, server: StubServer) -> None:
    server.fail_next("/swap/estimate", Fault(malformed=True))
    with pytest.raises(MalformedResponse, match="not JSON"):
        api.estimate(ADA, USDCX, 20_000_000, HALF)
    body = recorded("swap-estimate.response.json")
    for broken in ({k: v for k, v in body.items() if k != "total_output"},
                   {**body, "total_output": "5.26"}, {**body, "total_output": 6},
                   {**body, "splits": []}, "a bare string with 200"):
        server.fail_next("/swap/estimate", Fault(status=200, body=broken))
        with pytest.raises(MalformedResponse):
            api.estimate(ADA, USDCX, 20_000_000, HALF)
    server.fail_next("/swap/build", Fault(status=200, body={
        **recorded("swap-build.response.json"), "cbor": "DEADBEEF"}))
    with pytest.raises(MalformedResponse, match="not a transaction"):
        api.build(BUYER, ADA, USDCX, 20_000_000, HALF)
    assert len(server.requests_to("/swap/estimate")) == 6  # none retried


# --- sign, cancel, orders: sent once ------------------------------------------------------

def test_sign_merges_the_witness_set_and_is_sent_once(api: DexHunterApi,
                                                      server: StubServer) -> None:
    unsigned = bytes.fromhex(recorded("swap-build.response.json")["cbor"])
    witness_set = cbor2.dumps({0: [[b"\x01" * 32, b"\x02" * 64]]})
    signed = api.sign(unsigned, witness_set)
    assert sent(server, "/swap/sign") == [{"txCbor": unsigned.hex(),
                                           "signatures": witness_set.hex()}]
    assert decode_transaction(signed.tx_cbor).id == decode_transaction(unsigned).id
    assert cbor2.loads(signed.tx_cbor)[1] == {0: [[b"\x01" * 32, b"\x02" * 64]]}
    server.fail_next("/swap/sign", Fault(status=503))
    with pytest.raises(VenueUnavailable):
        api.sign(unsigned, witness_set)
    server.fail_next("/swap/sign", Fault(delay_s=0.6))
    with pytest.raises(VenueUnavailable):
        api.sign(unsigned, witness_set)
    assert len(server.requests_to("/swap/sign")) == 3


def test_orders_in_base_units_and_cancel(api: DexHunterApi, server: StubServer) -> None:
    address = recorded("swap-cancel.request.json")["address"]
    first, second = api.orders(address)
    assert (first.id, first.status, first.sell, first.buy) == \
        ("66cf043794579f05fc204f72", "COMPLETE", DRIP, ADA)
    assert (first.amount_in, first.expected_out, first.actual_out) == (1_000_000, 368, 379)
    assert (first.batcher_fee, first.deposit, first.output_index) == (2_500_000, 2_000_000, 0)
    assert second.status == "CANCELLED" and second.expected_out == 1_889_324  # WMT, 6 dp
    assert second.amount_in == -50_000  # as recorded: negative
    assert api.orders(BUYER) == []
    cancel = api.cancel(address, first.id)
    assert (cancel.tx_cbor, cancel.additional_cancellation_fee) == (b"\xde\xad\xbe\xef",
                                                                    2_000_000)
    with pytest.raises(DexHunterRefused) as caught:
        api.cancel(BUYER, first.id)
    assert caught.value.code == "order_not_found"
    server.fail_next("/swap/cancel", Fault(status=502))
    with pytest.raises(VenueUnavailable):
        api.cancel(address, first.id)
    assert len(server.requests_to("/swap/cancel")) == 3


def test_requests_are_paced(server: StubServer) -> None:
    polite = HttpPolicy(timeout_s=1, attempts=1, backoff_s=0, min_interval_s=0.15)
    api = DexHunterApi(server.url, Secret(PARTNER), policy=polite)
    started = time.monotonic()
    for _ in range(3):
        api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert time.monotonic() - started >= 0.3


# --- the partner id -----------------------------------------------------------------------

def test_the_partner_id_is_sent_and_never_leaks(server: StubServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    api = DexHunterApi(server.url, Secret(PARTNER), policy=FAST)
    texts = [repr(api), str(api), repr(api.http._session.auth), repr(vars(api))]
    api.estimate(ADA, USDCX, 20_000_000, HALF)
    assert {r.headers.get(PARTNER_HEADER) for r in server.requests} == {PARTNER}
    server.fail_next("/swap/build", Fault(status=400, body="pool_out_of_sync"), times=3)
    server.fail_next("/swap/estimate", Fault(delay_s=0.6), times=3)
    server.fail_next("/swap/sign", Fault(status=403, body=f"bad key {PARTNER[:4]}"))
    for call in (lambda: api.build(BUYER, ADA, USDCX, 20_000_000, HALF),
                 lambda: api.estimate(ADA, USDCX, 20_000_000, HALF),
                 lambda: api.estimate(ADA, USDCX, 10**12, HALF),
                 lambda: api.sign(b"\x84", b"\xa0"),
                 lambda: api.cancel(BUYER, "nope")):
        with pytest.raises(Exception) as caught:
            call()
        texts += [str(caught.value), repr(caught.value)]
    assert caplog.records  # the retries were logged
    everything = caplog.text + "\n".join(texts)
    assert "dexhunter" in everything
    assert PARTNER not in everything
    keyless = DexHunterApi(server.url, Secret(""), policy=FAST)
    keyless.estimate(ADA, USDCX, 20_000_000, HALF)
    assert PARTNER_HEADER not in server.requests[-1].headers


def test_a_redirect_to_another_host_drops_the_partner_id() -> None:
    session = PartnerSession()
    session.auth = PartnerAuth(Secret(PARTNER))
    first = session.prepare_request(requests.Request("GET", "http://127.0.0.1:1/swap/x"))
    assert first.headers[PARTNER_HEADER] == PARTNER
    response = requests.Response()
    response.request = first
    for url, kept in (("http://127.0.0.1:1/swap/y", True), ("http://elsewhere.test/x", False)):
        hop = first.copy()
        hop.prepare_url(url, None)
        session.rebuild_auth(hop, response)
        assert (PARTNER_HEADER in hop.headers) is kept


def test_reverse_estimate_of_a_pair_without_a_reverse_recording(api: DexHunterApi) -> None:
    # synthesised by the stub from the forward recording, scaled ×2 (5.315468 expected)
    quote = api.reverse_estimate(ADA, USDCX, 10_630_936, HALF)
    assert (quote.total_input, quote.total_output) == (40_000_000, 10_524_626)
    assert quote.amount_in == quote.total_input


def test_the_recorded_sign_answer_parses() -> None:
    signed = parse_signed(recorded("swap-sign.response.json"))
    assert signed.tx_cbor == bytes.fromhex("3045022100a3b1c2d3e4f5")
    assert signed.strat_id == "a1b2c3d4e5f6"
    with pytest.raises(MalformedResponse):
        parse_signed({"cbor": "zz"})


def test_python_m_stubs_dexhunter_serves_and_counts() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "stubs", "dexhunter", "--port", str(port),
                                "--fixtures", str(folder().parent)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        assert b"listening" in process.stdout.readline()
        api = DexHunterApi(f"http://127.0.0.1:{port}", Secret(PARTNER), policy=FAST)
        assert api.build(BUYER, ADA, USDCX, 20_000_000, HALF).quote.total_output == 5_262_313
        calls = requests.get(f"http://127.0.0.1:{port}/_stub/calls", timeout=2).json()
        assert calls["calls"]["/swap/build"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
