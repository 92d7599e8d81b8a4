"""The pre-signing check on DexHunter's real recorded build (ADA -> USDCx through a CSWAP
order) and on tampered copies of it: each tampering is refused with a reason naming it."""
from __future__ import annotations

import json
from hashlib import blake2b
from collections import Counter
from typing import Any

import cbor2
import pytest

from chain.ledger import TxOut
from chain.ledger.address import address_text
from core.units import ADA, Asset
from execution.addresses import address_bytes, key_hashes, payment_script
from execution.check import CheckResult, check_cost, check_transaction
from execution.expectation import Expectation, ExpectedOrder
from execution.order_reader import DexOrder, blacklisted_dexes
from protocols.errors import DatumLayoutError
from protocols.model import Intent, Transfer, Wallet
from tests.support.crafted import output
from tests.support.fixtures import fixtures_dir, require

OURS = ("addr1q8008tnk6x22qh7xl38znc5p6c52hp8wtfrxaq0yrer9az8fahsvrvjs2nte6d95crak93gphy32"
        "u868qqtx3s4r5dxqxpj8mk")
PARTNER = ("addr1q8l7hny7x96fadvq8cukyqkcfca5xmkrvfrrkt7hp76v3qvssm7fz9ajmtd58ksljgkyvqu6gl23"
           "hlcfgv7um5v0rn8qtnzlfk")
ORDER = ("addr1z8d9k3aw6w24eyfjacy809h68dv2rwnpw0arrfau98jk6nhv88awp8sgxk65d6kry0mar3rd0dlkf"
         "ljz7dv64eu39vfs38yd9p")
STRANGER = address_text(b"\x01" + bytes(range(100, 156)))  # not in the build
CSWAP_SCRIPT = payment_script(address_bytes(ORDER)) or ""
USDCX = Asset("1f3aec8bfe7ea4fe14c5f121e2a92e301afe414147860d557cac7e34", "5553444378")
FLOOR = 5_262_313  # total_output 5.262313 USDCx, 6 decimals
NOW = 199_657_300  # just after the build's validity start (199657255), before its TTL


class FakeCswapReader:
    """A test stand-in for execution/dex/'s CSWAP decoder: reads just what this build's
    datum holds (owner address, [[policy, name, amount]...] with the bought token last)."""

    dex_ids = ("CSWAP",)
    order_scripts = frozenset({CSWAP_SCRIPT})

    def read(self, out: TxOut, datum: bytes | None) -> DexOrder | None:
        if payment_script(out.address_bytes) not in self.order_scripts:
            return None
        try:
            fields = cbor2.loads(datum or b"").value
            pay = fields[0].value[0].value[0]
            stake = fields[0].value[1].value[0].value[0].value[0]
            policy, name, minimum = fields[1][-1]
        except Exception as exc:
            raise DatumLayoutError(f"CSWAP order datum: {exc}") from exc
        return DexOrder(dex="CSWAP", receiver=address_text(b"\x01" + pay + stake),
                        want=Asset(policy.hex(), name.hex()), min_receive=minimum,
                        batcher_fee=690_000, deposit=2_000_000)


READERS = [FakeCswapReader()]


def build() -> tuple[bytes, dict[str, Any]]:
    path = require(fixtures_dir() / "dexhunter" / "swap-build.response.json",
                   "DexHunter's recorded swap build")
    response = json.loads(path.read_text())
    return bytes.fromhex(response["cbor"]), response


def tampered(edit: Any) -> bytes:
    tx = cbor2.loads(build()[0])
    edit(tx[0])
    return cbor2.dumps(tx)


def expectation(**changes: Any) -> Expectation:
    tx = cbor2.loads(build()[0])
    ref = tuple(tx[0][0][0])
    # the spent UTxO's value (not in the fixture): every output plus the network fee
    spent = sum(o[1] for o in tx[0][1]) + tx[0][2]
    intent = Intent(
        action="swap", venue="dexhunter", market="ADA/USDCx", wallet=OURS,
        leaves=(Transfer("order", ADA, 22_690_000), Transfer(PARTNER, ADA, 2_000_000)),
        comes_back=(Transfer(OURS, USDCX, FLOOR),), fees=(Transfer(PARTNER, ADA, 2_000_000),),
        settles="batched")
    fields: dict[str, Any] = dict(
        intent=intent, ours=frozenset({OURS}), fee_cap=500_000,
        order=ExpectedOrder(want=USDCX, min_receive=FLOOR, max_batcher_fee=690_000),
        our_utxos={ref: Counter({ADA: spent})}, signers=key_hashes({OURS}),
        dex_scripts={CSWAP_SCRIPT: "CSWAP"})
    fields.update(changes)
    return Expectation(**fields)


def check(data: bytes, expected: Expectation | None = None, now: int = NOW) -> CheckResult:
    return check_transaction(data, expected or expectation(), readers=READERS,
                             now_slot=now, network="mainnet")


def refused(result: Any, *words: str) -> None:
    assert not result.ok
    assert any(all(w in r for w in words) for r in result.reasons), result.reasons


def test_the_real_build_passes_with_its_facts() -> None:
    result = check(build()[0])
    assert result.ok, result.reasons
    assert result.fee_lovelace == 196_477
    assert result.min_out == FLOOR and result.receivers == [OURS]
    assert [o.role for o in result.outputs] == ["dex-order", "fee", "ours", "ours"]
    summary = json.loads(json.dumps(result.summary()))
    assert summary["ok"] is True and summary["reasons"] == []
    assert summary["min_out"] == FLOOR and summary["receiver"] == OURS
    assert summary["fee_lovelace"] == 196_477
    assert summary["outputs"][1] == {"index": 1, "address": PARTNER, "lovelace": 2_000_000,
                                     "assets": {}, "role": "fee"}
    assert summary["orders"][0]["want"] == USDCX.unit


def test_an_output_to_a_stranger_is_refused() -> None:
    data = tampered(lambda body: body[1].append(output(address_bytes(STRANGER), 1_500_000)))
    refused(check(data), "1500000 lovelace", STRANGER, "not an expected party")


def test_change_redirected_to_a_stranger_is_refused() -> None:
    def edit(body: dict[int, Any]) -> None:
        body[1][3][0] = address_bytes(STRANGER)
    refused(check(tampered(edit)), STRANGER)


def test_an_inflated_fee_to_the_fee_recipient_is_refused() -> None:
    def edit(body: dict[int, Any]) -> None:
        body[1][1][1] = 5_000_000
        body[1][3][1] -= 3_000_000
    result = check(tampered(edit))
    refused(result, "fee to", PARTNER, "5000000 lovelace", "quoted 2000000")


def test_a_lowered_min_receive_is_refused() -> None:
    lowered = tampered(lambda b: None).replace(
        b"\x1a" + FLOOR.to_bytes(4, "big"), b"\x1a" + (FLOOR // 2).to_bytes(4, "big"))
    assert lowered != build()[0]
    refused(check(lowered), str(FLOOR // 2), "below the quote's floor", str(FLOOR))


def test_a_receiver_not_ours_is_refused() -> None:
    ours_pay = bytes.fromhex(address_bytes(OURS)[1:29].hex())
    stranger_pay = address_bytes(STRANGER)[1:29]
    data = build()[0].replace(ours_pay, stranger_pay, 1)  # the datum's owner comes first
    result = check(data)
    refused(result, "receiver", "not our address")


def test_a_network_fee_over_the_cap_is_refused() -> None:
    refused(check(build()[0], expectation(fee_cap=100_000)), "network fee 196477",
            "cap of 100000")


def test_a_ttl_in_the_past_is_refused() -> None:
    refused(check(build()[0], now=199_660_855), "TTL slot 199660855", "in the past")


def test_a_ttl_too_far_and_a_start_in_the_future_are_refused() -> None:
    def edit(body: dict[int, Any]) -> None:
        body[3] = NOW + 10 * 86_400
        body[8] = NOW + 3_600
    result = check(tampered(edit))
    refused(result, "TTL slot", "slots ahead")
    refused(result, "validity starts at slot", "in the future")


def test_an_unreadable_order_datum_at_a_dex_script_is_refused() -> None:
    def edit(body: dict[int, Any]) -> None:
        body[1][0][2] = [1, cbor2.CBORTag(24, cbor2.dumps(cbor2.CBORTag(122, [])))]
    refused(check(tampered(edit)), "CSWAP order datum", "does not decode",
            "could pay its output to anyone")


def test_an_order_at_a_dex_nobody_reads_is_refused() -> None:
    expected = expectation(dex_scripts={CSWAP_SCRIPT: "CSWAP"})
    result = check_transaction(build()[0], expected, readers=[], now_slot=NOW,
                               network="mainnet")
    refused(result, "CSWAP order script", ORDER, "cannot read", "anyone")


def test_more_leaving_the_wallet_than_planned_is_refused() -> None:
    def edit(body: dict[int, Any]) -> None:
        body[1][0][1] += 3_000_000  # a bigger order, paid out of our change
        body[1][3][1] -= 3_000_000
    refused(check(tampered(edit)), "27690000 lovelace leaves our wallets", "24690000")


def test_tokens_leaving_the_wallet_must_match_the_plan() -> None:
    tx = cbor2.loads(build()[0])
    ref = tuple(tx[0][0][0])
    utxos = {ref: Counter({ADA: 37_275_904, USDCX: 7})}  # the input also held 7 USDCx
    refused(check(build()[0], expectation(our_utxos=utxos)), "7 of", USDCX.policy,
            "the plan says 0")


def test_unexpected_mint_signer_and_collateral_return_are_refused() -> None:
    policy = bytes(range(28))

    def edit(body: dict[int, Any]) -> None:
        body[9] = {policy: {b"X": 1}}
        body[14] = [*body[14], bytes(28)]
        body[13] = [body[0][0]]
        body[16] = output(address_bytes(STRANGER), 5_000_000)
    result = check(tampered(edit))
    refused(result, "mints 1 of", policy.hex())
    refused(result, "signature from key", bytes(28).hex())
    refused(result, "collateral return", STRANGER)
    refused(result, "37275904 lovelace of our collateral is at risk", "more than 5000000")


def test_collateral_returned_to_us_is_accepted() -> None:
    def edit(body: dict[int, Any]) -> None:
        body[13] = [body[0][0]]
        body[16] = output(address_bytes(OURS), 33_000_000)
    result = check(tampered(edit))
    assert result.ok, result.reasons
    assert result.balance_checked
    assert not check(build()[0], expectation(our_utxos=None)).balance_checked


def test_an_unexpected_order_and_a_missing_order_are_refused() -> None:
    refused(check(build()[0], expectation(order=None)), "CSWAP order", "not expected")
    data = tampered(lambda body: body[1].pop(0))
    refused(check(data), "no DEX order buying", USDCX.unit)


def test_an_order_buying_another_token_or_at_another_dex_is_refused() -> None:
    other = Asset("00" * 28, "4142")
    refused(check(build()[0], expectation(order=ExpectedOrder(want=other, min_receive=1))),
            "buys", USDCX.unit)
    refused(check(build()[0], expectation(order=ExpectedOrder(
        want=USDCX, min_receive=FLOOR, dexes=frozenset({"MINSWAPV2"})))), "order at CSWAP")


def test_a_transaction_that_does_not_decode_is_refused() -> None:
    refused(check(b"\x84\xa0"), "does not decode")


def test_an_output_on_the_wrong_network_is_refused() -> None:
    result = check_transaction(build()[0], expectation(), readers=READERS, now_slot=NOW,
                               network="preprod")
    refused(result, "wrong network")


def test_blacklisted_dexes_lists_what_the_check_cannot_read() -> None:
    assert blacklisted_dexes(["MINSWAPV2", "cswap", "SPLASH"], READERS) == ["MINSWAPV2",
                                                                           "SPLASH"]


@pytest.mark.parametrize("expected", [None, "real"])
def test_check_cost_runs(expected: str | None) -> None:
    data = build()[0]
    per_check, per_loads = check_cost(data, 5, expectation() if expected else None,
                                      readers=READERS, now_slot=NOW if expected else None)
    assert per_check > 0 and per_loads > 0


def test_certificates_withdrawals_votes_and_a_wrong_network_id_are_refused() -> None:
    reward = b"\xe1" + bytes(28)

    def edit(body: dict[int, Any]) -> None:
        body[4] = [[2, [0, bytes(28)], bytes(28)]]  # a stake delegation
        body[5] = {reward: 1_000_000}
        body[19] = {0: 1}
        body[15] = 0
    result = check(tampered(edit))
    refused(result, "1 certificate(s)", "0 expected")
    refused(result, "withdraws 1000000 lovelace", "stake1")
    refused(result, "carries votes")
    refused(result, "network id is 0")
    assert check(tampered(edit), expectation(certificates=1, withdrawals={reward: 1_000_000})
                 ).reasons == ["the body's network id is 0, not 1",
                               "carries votes, which nothing planned"]


def _order_datum(minimum: int) -> bytes:
    tx = cbor2.loads(build()[0])
    datum = cbor2.loads(tx[0][1][0][2][1].value)
    datum.value[1][-1][-1] = minimum
    return bytes(cbor2.dumps(datum))


def test_a_swap_split_over_two_orders_is_summed_and_a_witness_datum_is_read() -> None:
    data = cbor2.loads(build()[0])
    body = data[0]
    first, second = _order_datum(FLOOR - FLOOR // 2), _order_datum(FLOOR // 2)
    order = body[1][0]
    body[1][0] = {0: order[0], 1: 11_345_000, 2: [1, cbor2.CBORTag(24, first)]}
    body[1].insert(1, {0: order[0], 1: 11_345_000,
                       2: [0, blake2b(second, digest_size=32).digest()]})
    data[1] = {4: [cbor2.loads(second)]}
    assert "batcher fees 1380000 lovelace exceed the quoted 690000" in " ".join(
        check(cbor2.dumps(data)).reasons)  # two orders, two batcher fees
    split = expectation(order=ExpectedOrder(want=USDCX, min_receive=FLOOR,
                                            max_batcher_fee=1_380_000))
    result = check(cbor2.dumps(data), split)
    assert result.ok, result.reasons
    assert [o.min_receive for o in result.orders] == [FLOOR - FLOOR // 2, FLOOR // 2]
    body[1][1][2] = [0, bytes(32)]  # a datum hash whose datum is nowhere
    refused(check(cbor2.dumps(data), split), "output 1", "does not decode")


def test_the_expectation_from_a_cip30_wallet() -> None:
    tx = cbor2.loads(build()[0])
    ref = tx[0][0][0]
    spent = sum(o[1] for o in tx[0][1]) + tx[0][2]
    pair = cbor2.dumps([ref, output(address_bytes(OURS), spent)]).hex()
    base = expectation()
    expected = Expectation.for_wallet(base.intent, Wallet(OURS, (pair,)), fee_cap=500_000,
                                      order=base.order, dex_scripts=base.dex_scripts)
    assert expected.our_utxos == {tuple(ref): Counter({ADA: spent})}
    assert check(build()[0], expected).ok


def test_addresses_that_do_not_decode_are_refused_by_type():
    from execution.addresses import AddressError, address_bytes

    good = "addr1vxqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
    for bad in ("hello", "addr1qxyz", good):  # the last: a bad checksum
        with pytest.raises(AddressError):
            address_bytes(bad)
