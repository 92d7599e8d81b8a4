"""Levvy's datums and redeemers: every real one in the fixtures decodes to the values
their SOURCES.md and preview_fixtures_decoded.json give, writes back byte for byte, and a
changed layout raises DatumLayoutError instead of a wrong number."""
from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.ledger.tx import tx_out
from core.settings import Network, load_settings
from protocols.errors import DatumLayoutError
from protocols.venues.levvy import datums as d
from protocols.venues.levvy.config import parse_config
from protocols.plutus import Constr, PlutusDataError, dumps, loads
from protocols.venues.levvy.redeemers import (
    TOKEN_ACTIONS,
    read_token_action,
    read_v1_withdraw_redeemer,
    read_void,
    token_action_redeemer,
)
from protocols.venues.levvy.source import LevvySource
from tests.support.fixtures import require

ANGELS_POLICY = "285b65ae63d4fad36321384ec61edfd5187b8194fff89b5abe9876da"
MAINNET_CANDIDATE = "343f54d6adfb256b1e9041a72a8b519670086570d5611df499c797aa"


def levvy_dir() -> Path:
    return require(load_settings().fixtures_dir / "protocols" / "levvy", "Levvy fixtures")


def hex_file(name: str) -> bytes:
    return bytes.fromhex((levvy_dir() / name).read_text().strip())


def decoded_json() -> dict:
    return json.loads((levvy_dir() / "preview_fixtures_decoded.json").read_text())


# --- every real datum -------------------------------------------------------------------

def test_preview_borrow_datum_is_a_v1_loan_with_the_decoded_values() -> None:
    raw = hex_file("preview_borrow_datum.hex")
    loan = d.read_datum(raw)
    expected = decoded_json()["preview_borrow_datum.hex"]["fields"][0]["fields"]
    assert isinstance(loan, d.Loan)
    assert (loan.version, loan.form, loan.levvy_type) == ("v1", "nested", "tokens")
    assert loan.lender.payment == d.Credential(
        "key", bytes.fromhex(expected["lender"]["paymentCredential"]["keyHash"]))
    assert loan.lender.stake is None and loan.borrower.stake is None
    assert loan.borrower.payment.hash.hex() == expected["borrower"]["paymentCredential"]["keyHash"]
    collateral = expected["collateralDetails"]
    assert loan.policy_id.hex() == collateral["policyId"]
    assert loan.asset_name.hex() == collateral["assetName"]
    assert loan.token_amount == collateral["collateralAmount"] == 2000
    assert loan.loan_amount == expected["loanAmount"] == 5_000_000
    assert loan.interest_amount == expected["interestAmount"] == 3_000_000
    assert loan.loan_end_ms == expected["loanEndTime"]
    assert loan.tag is not None and loan.tag.hex() == expected["tag"]
    assert loan.debt == 8_000_000
    assert d.encode_datum(loan) == raw


def test_the_payment_tag_fixture_is_the_borrow_datums_tag() -> None:
    tag = d.read_payment_tag(hex_file("preview_datum_tag.hex"))
    loan = d.read_datum(hex_file("preview_borrow_datum.hex"))
    assert isinstance(loan, d.Loan) and tag == loan.tag and len(tag) == 32


@pytest.mark.parametrize("name, tokens", [
    ("datums/mainnet_lend_token_datum_angels_19m.hex", 19_000_000),
    ("datums/chrysalis_lend_token_datum_angels_18m.hex", 18_000_000),
])
def test_mainnet_lend_token_datums_are_nested_v2_offers(name: str, tokens: int) -> None:
    raw = hex_file(name)
    offer = d.read_datum(raw)
    assert isinstance(offer, d.Offer)
    assert (offer.version, offer.form, offer.levvy_type) == ("v2", "nested", "tokens")
    assert offer.lender.payment == d.Credential(
        "key", bytes.fromhex("e63022b0f461602484968bb10fd8f872787b862ace2d7e943292a370"))
    assert offer.lender.stake == d.Credential(
        "key", bytes.fromhex("03ec6a12860ef8c07d4c1a8de7df06acb0f0330a6087ecbe972082a7"))
    assert offer.policy_id.hex() == ANGELS_POLICY and offer.asset_name == b"ANGELS"
    assert offer.token_amount == tokens
    assert offer.loan_amount == 200_000_000
    assert offer.interest_amount == 12_000_000
    assert offer.loan_duration_ms == 1_209_600_000 == 14 * 86_400_000
    assert offer.output_reference == d.OutRef(b"\x00", 0, wrapped=True)  # the placeholder
    assert d.encode_datum(offer) == raw


def test_the_mainnet_offer_output_reads_as_an_offer_at_the_candidate_validator() -> None:
    raw = hex_file("datums/mainnet_lend_token_offer_output_angels_19m.hex")
    out = tx_out(cbor2.loads(raw), "fixture")
    assert out.address_bytes[0] == 0x11  # mainnet, script payment, key stake
    assert out.inline_datum == hex_file("datums/mainnet_lend_token_datum_angels_19m.hex")
    config = parse_config(json.dumps({"mainnet": {
        "validator_script_hashes": [MAINNET_CANDIDATE], "loan_asset": "lovelace",
        "fees": {"token_borrower_percent": 12.5, "token_lender_percent": 12.5}}}), "mainnet")
    source = LevvySource(Network("mainnet", 764824073), config)
    assert source.enabled and source.watch.credentials == {bytes.fromhex(MAINNET_CANDIDATE)}
    record = source.read_output("00" * 32 + "#0", out, out.inline_datum)
    assert record is not None
    assert (record.venue, record.kind) == ("levvy", "offer")
    assert record.market == f"{ANGELS_POLICY}.414e47454c53"
    f = record.fields
    assert f["lender"] == ("addr1q8nrqg4s73skqfyyj69mzr7clpe8s7ux9t8z6l55x2f2xuqra34p9pswlrq86"
                           "nq63hna7p4vkrcrxznqslkta9eqs2nscfavlf")
    assert (f["loan_amount"], f["interest_amount"], f["collateral_amount"]) == \
        (200_000_000, 12_000_000, 19_000_000)
    assert f["utxo_lovelace"] == 200_000_000 == out.lovelace
    stored = source.describe("00" * 32 + "#0", out, out.inline_datum)
    assert stored is not None and stored["fields"]["loan_amount"] == "200000000"
    # The lender's own stake key: the offer's address carries it.
    assert out.address_bytes[29:] == d.read_datum(out.inline_datum).lender.stake.hash  # type: ignore[union-attr]


# --- redeemers -----------------------------------------------------------------------------

def test_preview_redeemers_decode_as_documented() -> None:
    read_void(hex_file("preview_redeemer.hex"))
    (step,) = read_v1_withdraw_redeemer(hex_file("preview_withdraw_redeemer.hex"))
    expected = decoded_json()["preview_withdraw_redeemer.hex"]["list_of_Action"][0]
    assert step.input_index == expected["inputIndex"] == 1
    assert step.self_output_index == expected["outputIndexes"]["selfOutputIndex"] == 0
    assert step.fee_output_index == 1 and step.change_index is None
    assert (step.action, step.levvy_type) == ("borrow", "tokens")


def test_v2_token_actions_round_trip_and_refuse_others() -> None:
    for index, action in enumerate(TOKEN_ACTIONS):
        assert token_action_redeemer(action) == dumps(Constr(index, ()))
        assert read_token_action(token_action_redeemer(action)) == action
    with pytest.raises(DatumLayoutError):
        read_token_action(dumps(Constr(5, ())))
    with pytest.raises(DatumLayoutError):
        read_void(dumps(Constr(1, ())))


# --- the other known forms ------------------------------------------------------------------

def _address() -> d.DatumAddress:
    return d.DatumAddress(d.Credential("key", b"\x01" * 28), stake=d.Credential("key", b"\x02" * 28))


@pytest.mark.parametrize("form", ["nested", "flat"])
def test_v2_forms_round_trip(form: str) -> None:
    ref = d.OutRef(b"\x07" * 32, 3, wrapped=False)
    items: list[d.LevvyDatum] = [
        d.Offer("v2", form, _address(), b"\x03" * 28, b"T", 5, 6, 7, 8,  # type: ignore[arg-type]
                output_reference=d.OutRef(b"\x00", 0)),
        d.Loan("v2", form, _address(), _address(), b"\x03" * 28, b"T", 5, 6, 7, 9,  # type: ignore[arg-type]
               offer_ref=ref),
        d.Repayment("v2", form, _address(), 5, 6, 7, ref),  # type: ignore[arg-type]
    ]
    for datum in items:
        raw = d.encode_datum(datum)
        assert d.read_datum(raw) == datum
        outer = loads(raw)
        assert isinstance(outer, Constr)
        assert len(outer.fields) == (1 if form == "nested" else {0: 8, 1: 9, 2: 5}[outer.index])


def test_v1_offer_round_trips_with_nfts_and_script_and_pointer_addresses() -> None:
    lender = d.DatumAddress(d.Credential("script", b"\x04" * 28), stake_pointer=(1, 2, 300))
    offer = d.Offer("v1", "nested", lender, b"\x05" * 28, b"", 1, 2, 3, 4, levvy_type="nfts")
    assert d.read_datum(d.encode_datum(offer)) == offer
    assert lender.bech32(mainnet=False).startswith("addr_test1")
    assert lender.address_bytes(True)[0] == 0x51  # pointer address, script payment, mainnet


# --- a changed layout raises ------------------------------------------------------------------

def _mutated(raw: bytes, path: tuple[int, ...], value: object) -> bytes:
    data = loads(raw)

    def change(node: object, rest: tuple[int, ...]) -> object:
        assert isinstance(node, Constr)
        fields = list(node.fields)
        if len(rest) == 1:
            if value is _DROP:
                del fields[rest[0]]
            else:
                fields[rest[0]] = value  # type: ignore[assignment]
        else:
            fields[rest[0]] = change(fields[rest[0]], rest[1:])  # type: ignore[assignment]
        return Constr(node.index, tuple(fields))

    return dumps(change(data, path))  # type: ignore[arg-type]


_DROP = object()
MAINNET_DATUM = "datums/mainnet_lend_token_datum_angels_19m.hex"


@pytest.mark.parametrize("path, value, message", [
    ((0, 4), b"\x00", "LendToken.loanAmount"),  # bytes where an integer belongs
    ((0, 4), -1, "LendToken.loanAmount"),  # a negative amount
    ((0, 1), b"\x00" * 27, "LendToken.policyId"),  # a hash of the wrong length
    ((0, 2), b"x" * 33, "LendToken.assetName"),
    ((0, 0, 0), Constr(2, (b"\x00" * 28,)), "paymentCredential"),
    ((0, 7), Constr(0, (b"\x00" * 32,)), "outputReference"),
    ((0, 7), _DROP, "record of 7 fields"),  # a field fewer
])
def test_a_changed_mainnet_datum_raises_naming_the_field(path: tuple[int, ...], value: object,
                                                          message: str) -> None:
    with pytest.raises(DatumLayoutError, match=message):
        d.read_datum(_mutated(hex_file(MAINNET_DATUM), path, value))


def test_unknown_constructors_nfts_and_junk_raise() -> None:
    raw = hex_file(MAINNET_DATUM)
    outer = loads(raw)
    assert isinstance(outer, Constr)
    cases = {
        "constructor 3": dumps(Constr(3, outer.fields)),
        "wraps constructor 1": dumps(Constr(0, (Constr(1, outer.fields[0].fields),))),  # type: ignore[union-attr]
        # v2 NFT LendNft {adaOwner, policyId, loanAmount, interestAmount, loanDuration}
        "v2 NFT datums are not read": dumps(Constr(0, (Constr(0, (
            _address().to_data(), b"\x03" * 28, 1, 2, 3)),))),
        "trailing bytes": raw + b"\x00",
        "not Plutus data": b"\xff\xff",
        "not a constructor": dumps(42),
    }
    for message, data in cases.items():
        with pytest.raises(DatumLayoutError, match=message):
            d.read_datum(data)


def test_the_v1_borrow_datum_with_a_short_tag_raises() -> None:
    with pytest.raises(DatumLayoutError, match="BorrowDetails.tag"):
        d.read_datum(_mutated(hex_file("preview_borrow_datum.hex"), (0, 7), b"\x01" * 31))


# --- Plutus data -----------------------------------------------------------------------------

plutus = st.recursive(
    st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.binary(max_size=100),
    lambda children: st.lists(children, max_size=4)
    | st.builds(lambda i, f: Constr(i, tuple(f)), st.integers(0, 200),
                st.lists(children, max_size=4)),
    max_leaves=20)


@given(plutus)
def test_plutus_data_round_trips(value: object) -> None:
    assert loads(dumps(value)) == value  # type: ignore[arg-type]


def test_plutus_writes_like_plutus_tooling() -> None:
    assert dumps(Constr(0, ())) == bytes.fromhex("d87980")
    assert dumps(Constr(1, (5,))) == bytes.fromhex("d87a9f05ff")
    assert dumps(Constr(7, ())) == bytes.fromhex("d9050080")
    assert dumps(Constr(200, ())) == bytes.fromhex("d8668218c880")
    long = dumps(b"\x01" * 65)
    assert long[:2] == bytes.fromhex("5f58") and long[-1] == 0xFF  # 64-byte chunks
    with pytest.raises(PlutusDataError):
        loads(cbor2.dumps(1.5))
    with pytest.raises(PlutusDataError):
        loads(cbor2.dumps("text"))
