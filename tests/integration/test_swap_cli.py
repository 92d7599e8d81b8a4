"""`dhl swap --dry-run` through the CLI's entry in this process, against the DexHunter stub
over HTTP serving the recorded bodies: the recorded swap (20 ADA to USDCx for its recorded
buyer) is quoted, built and passes the pre-signing check with the real CSWAP decoder; a
build whose transaction pays a stranger or lowers the order's minimum is refused (exit 3);
bad input exits 2 with one line."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import cbor2
import pytest

from chain.ledger.address import address_text
from stubs.dexhunter import make_handler
from stubs.server import Fault, StubServer
from tests.support.cli import run_dhl
from tests.support.fixtures import fixtures_dir, require

pytestmark = pytest.mark.integration

BUYER = ("addr1q8008tnk6x22qh7xl38znc5p6c52hp8wtfrxaq0yrer9az8fahsvrvjs2nte6d95crak93gphy32u868"
         "qqtx3s4r5dxqxpj8mk")
PARTNER = ("addr1q8l7hny7x96fadvq8cukyqkcfca5xmkrvfrrkt7hp76v3qvssm7fz9ajmtd58ksljgkyvqu6gl23"
           "hlcfgv7um5v0rn8qtnzlfk")
STRANGER = address_text(b"\x01" + bytes(range(100, 156)))
USDCX = "1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e345553444378"
FLOOR = 5_262_313
NOW = 199_657_300  # inside the recorded build's validity window
NOT_INHERITED = ("MONGO_URL", "CARDANO_NETWORK", "VENUES", "VENUE_MODULES",
                 "DEXHUNTER_API_URL", "DEXHUNTER_PARTNER_ID")


def recorded_build() -> dict[str, Any]:
    path = require(fixtures_dir() / "dexhunter" / "swap-build.response.json",
                   "DexHunter's recorded swap build")
    body: dict[str, Any] = json.loads(path.read_text())
    return body


@pytest.fixture
def server() -> Iterator[StubServer]:
    require(fixtures_dir() / "dexhunter", "DexHunter recordings")
    with StubServer(make_handler(fixtures_dir())) as running:
        yield running


@pytest.fixture
def env(server: StubServer) -> dict[str, str]:
    return {"DEXHUNTER_API_URL": server.url, "DEXHUNTER_PARTNER_ID": "pk_test_swap",
            "CARDANO_NETWORK": "mainnet"}


def dhl(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = run_dhl(["swap", *args], env, NOT_INHERITED)
    return result.returncode, result.stdout, result.stderr


def swap(env: dict[str, str], *extra: str, address: str = BUYER,
         amount: str = "20") -> tuple[int, str, str]:
    return dhl(env, "--address", address, "--sell", "ADA", "--buy", USDCX, "--amount",
               amount, "--slippage", "0.5", "--fee-address", PARTNER, "--now-slot", str(NOW),
               "--dry-run", *extra)


def serve_build(server: StubServer, edit: Any) -> None:
    body = recorded_build()
    tx = cbor2.loads(bytes.fromhex(body["cbor"]))
    edit(tx[0])
    server.fail_next("/swap/build", Fault(status=200, body={**body, "cbor": cbor2.dumps(tx).hex()}))


def test_the_recorded_swap_passes(env: dict[str, str], server: StubServer) -> None:
    code, out, err = swap(env)
    assert code == 0, (json.loads(out)["reasons"] if out else err)
    summary = json.loads(out)
    assert summary["ok"] is True and summary["reasons"] == []
    assert summary["min_out"] == FLOOR == summary["quoted_floor"]
    assert summary["receiver"] == BUYER
    assert summary["fee_lovelace"] == 196_477
    assert [o["role"] for o in summary["outputs"]] == ["dex-order", "fee", "ours", "ours"]
    assert summary["orders"][0]["dex"] == "CSWAP"
    # DexHunter was told to route around what the check cannot read
    [build] = [r.body for r in server.requests_to("/swap/build")]
    assert "MINSWAPV2" in build["blacklisted_dexes"] and "CSWAP" not in build["blacklisted_dexes"]
    assert server.requests_to("/swap/sign") == []  # nothing signed


def test_without_the_fee_address_the_partner_output_is_a_stranger(
        env: dict[str, str]) -> None:
    code, out, _ = dhl(env, "--address", BUYER, "--sell", "ADA", "--buy", USDCX, "--amount",
                       "20", "--now-slot", str(NOW), "--dry-run")
    assert code == 3
    assert any(PARTNER in r for r in json.loads(out)["reasons"])


def test_a_build_paying_a_stranger_is_refused(env: dict[str, str],
                                              server: StubServer) -> None:
    def pay_stranger(body: Any) -> None:
        change = body[1][3]
        body[1][3] = [bytes.fromhex("01" + bytes(range(100, 156)).hex()), change[1]] \
            if isinstance(change, list) else {**change, 0: b"\x01" + bytes(range(100, 156))}

    serve_build(server, pay_stranger)
    code, out, _ = swap(env)
    assert code == 3
    summary = json.loads(out)
    assert summary["ok"] is False
    assert any(STRANGER in r and "not an expected party" in r for r in summary["reasons"])


def test_a_build_with_a_lowered_minimum_is_refused(env: dict[str, str],
                                                   server: StubServer) -> None:
    def lower_min(body: Any) -> None:
        order = body[1][0]
        tag = order[2][1]
        datum = cbor2.loads(tag.value)
        datum.value[1][-1][2] = FLOOR - 1_000_000
        order[2] = [1, cbor2.CBORTag(24, cbor2.dumps(datum))]

    serve_build(server, lower_min)
    code, out, _ = swap(env)
    assert code == 3
    summary = json.loads(out)
    assert summary["min_out"] == FLOOR - 1_000_000
    assert any("below the quote's floor" in r for r in summary["reasons"])


@pytest.mark.parametrize("args", [
    ("--address", "addr1notanaddress", "--sell", "ADA", "--buy", USDCX, "--amount", "20"),
    ("--address", BUYER, "--sell", "ADA", "--buy", USDCX[:56] + "." + USDCX[56:],
     "--amount", "20"),
    ("--address", BUYER, "--sell", "ADA", "--buy", USDCX, "--amount", "-1"),
    ("--address", BUYER, "--sell", "ADA", "--buy", USDCX, "--amount", "0.0000001"),
    ("--address", BUYER, "--sell", "ADA", "--buy", "ADA", "--amount", "20"),
])
def test_bad_input_exits_2_with_one_line(env: dict[str, str], server: StubServer,
                                         args: tuple[str, ...]) -> None:
    code, out, err = dhl(env, *args, "--now-slot", str(NOW), "--dry-run")
    assert code == 2, (out, err)
    assert out == "" and len(err.strip().splitlines()) == 1, err
    assert server.requests_to("/swap/build") == []


def test_dexhunter_refusing_the_build_exits_1_without_a_verdict(env: dict[str, str],
                                                                server: StubServer) -> None:
    # the stub builds any CSWAP quote now: the refusal is injected
    server.fail_next("/swap/build", Fault(status=400, body="stub_no_recorded_build"))
    code, out, err = swap(env, amount="21")
    assert code == 1 and out == ""
    assert "stub_no_recorded_build" in err
