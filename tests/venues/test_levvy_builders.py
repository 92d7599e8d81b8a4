"""Levvy's builders: what each transaction carries (datums, redeemers, fee, signers,
validity, collateral, script data hash) and what they refuse."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from pycardano import Address, PaymentVerificationKey, Transaction, VerificationKeyWitness

from chain.ledger import decode_transaction
from core.units import ADA, Asset
from protocols.errors import Unsupported, VenueDisabled, VenueRefused
from protocols.model import Wallet
from protocols.venues.levvy import builders as b
from protocols.venues.levvy.config import parse_config
from protocols.venues.levvy.datums import Loan, Offer, OutRef, Repayment, encode_datum, read_datum
from protocols.plutus import Constr, dumps, loads
from protocols.venues.levvy.slots import CLOCKS
from protocols.venues.levvy.source import LevvySource
from tests.support.intent import check_pays_what_it_says
from tests.venues.cases.levvy import (
    ANGELS,
    BORROWER,
    LENDER,
    MARKET,
    NOW_MS,
    TEST_BUILDER,
    base_address,
    chain_for,
    datum_address,
    h28,
    make_source,
    config_text,
    wallet,
    wallet_pair,
    with_chain,
)


@pytest.fixture
def source() -> LevvySource:
    return with_chain(make_source())


@pytest.fixture
def refs(source: LevvySource) -> dict[str, str]:
    return chain_for(source)[1]


def body(cbor: bytes) -> dict[int, Any]:
    return cbor2.loads(cbor)[0]


def redeemers(cbor: bytes) -> dict[Any, Any]:
    return cbor2.loads(cbor)[1][5]


def test_lend_locks_the_loan_under_the_lenders_stake_key(source: LevvySource) -> None:
    lender = wallet(LENDER)
    built = source.build_lend(MARKET, 150_000_000, lender, token_amount=15_000_000,
                              interest_amount=9_000_000)
    tx = decode_transaction(built.cbor)
    offer_out = tx.outputs[0]
    assert offer_out.lovelace == 150_000_000 and not offer_out.assets
    raw = offer_out.address_bytes
    assert raw[0] == 0x10 and raw[1:29] == source.config.validator_hash  # type: ignore[union-attr]
    assert raw[29:] == h28(LENDER + "/stake")
    offer = read_datum(offer_out.inline_datum)  # type: ignore[arg-type]
    assert isinstance(offer, Offer)
    assert (offer.version, offer.form) == ("v2", "nested")
    assert offer.lender == datum_address(LENDER)
    assert (offer.collateral, offer.token_amount, offer.loan_amount, offer.interest_amount,
            offer.loan_duration_ms) == (ANGELS, 15_000_000, 150_000_000, 9_000_000,
                                        14 * 86_400_000)
    assert tx.redeemers == 0 and not tx.collateral and not tx.reference_inputs
    assert built.built_by == "project" and built.intent.action == "lend"
    assert any("UNVERIFIED" in note for note in built.intent.notes)
    assert check_pays_what_it_says(tx, built.intent, lender) == []


def test_borrow_takes_the_offer_locks_collateral_and_pays_the_fee(source: LevvySource,
                                                                 refs: dict[str, str]) -> None:
    borrower = wallet(BORROWER, tokens=25_000_000)
    built = source.build_borrow(MARKET, 200_000_000, ANGELS, 20_000_000, borrower)
    tx = decode_transaction(built.cbor)
    offer_key = (bytes.fromhex(refs["offer"].split("#")[0]), 0)
    assert offer_key in tx.inputs
    locked, fee = tx.outputs[0], tx.outputs[1]
    assert locked.assets == {(bytes.fromhex(ANGELS.policy), b"ANGELS"): 19_000_000}
    assert locked.address_bytes[29:] == h28(BORROWER + "/stake")
    loan = read_datum(locked.inline_datum)  # type: ignore[arg-type]
    assert isinstance(loan, Loan) and loan.offer_ref == OutRef.from_text(refs["offer"])
    assert loan.lender == datum_address(LENDER) and loan.borrower == datum_address(BORROWER)
    clock = CLOCKS["preview"]
    assert tx.validity_start == clock.slot_at(NOW_MS)
    assert loan.loan_end_ms == clock.time_ms(tx.validity_start) + 14 * 86_400_000
    # 12.5 % of 12 ADA interest = 1.5 ADA to the main address, with PaymentDatum(offer).
    assert fee.address == source.config.main_address  # type: ignore[union-attr]
    assert fee.lovelace == 1_500_000
    assert loads(fee.inline_datum) == Constr(0, (OutRef.from_text(refs["offer"]).to_data(),))  # type: ignore[arg-type]
    # The redeemer Borrow (0) sits on the offer input's index in the sorted inputs.
    (key, value), = redeemers(built.cbor).items()
    assert key == (0, sorted(tx.inputs).index(offer_key))
    assert dumps(Constr(0, ())) == cbor2.dumps(value[0])
    assert value[1] == [1_400_000, 1_000_000_000]  # the fixed, documented default budget
    assert check_pays_what_it_says(tx, built.intent, borrower) == []
    comes_back = {(t.asset, t.amount) for t in built.intent.comes_back}
    assert comes_back == {(ADA, 200_000_000)}


def test_borrow_picks_the_offer_asking_the_least_collateral(source: LevvySource,
                                                          refs: dict[str, str]) -> None:
    chain, _ = chain_for(source)
    better = replace(chain.utxos[refs["offer"]], ref="cd" * 32 + "#4")
    offer = read_datum(better.inline_datum)  # type: ignore[arg-type]
    assert isinstance(offer, Offer)
    better = replace(better, inline_datum=encode_datum(replace(offer,
                                                                          token_amount=18_000_000)))
    unfunded = replace(better, ref="ef" * 32 + "#0", lovelace=5_000_000,
                       inline_datum=encode_datum(replace(offer, token_amount=1)))
    chain.utxos[better.ref] = better
    chain.utxos[unfunded.ref] = unfunded  # a datum promising a loan its UTxO does not hold
    source.use_chain(chain)
    built = source.build_borrow(MARKET, 200_000_000, ANGELS, 20_000_000,
                                wallet(BORROWER, tokens=25_000_000))
    tx = decode_transaction(built.cbor)
    assert (bytes.fromhex("cd" * 32), 4) in tx.inputs
    assert (bytes.fromhex("ef" * 32), 0) not in tx.inputs
    with pytest.raises(VenueRefused, match="no open offer"):
        source.build_borrow(MARKET, 200_000_000, ANGELS, 17_000_000,
                            wallet(BORROWER, tokens=25_000_000))
    with pytest.raises(VenueRefused, match="no open offer"):
        source.build_borrow(MARKET, 123_000_000, ANGELS, 20_000_000,
                            wallet(BORROWER, tokens=25_000_000))


def test_repay_pays_debt_to_the_validator_with_a_repay_datum(source: LevvySource,
                                                            refs: dict[str, str]) -> None:
    borrower = wallet(BORROWER)
    built = source.build_repay(refs["open_loan"], 212_000_000, borrower)  # in full, named
    tx = decode_transaction(built.cbor)
    paid = tx.outputs[0]
    assert paid.lovelace == 212_000_000 and paid.address_bytes[29:] == h28(LENDER + "/stake")
    repayment = read_datum(paid.inline_datum)  # type: ignore[arg-type]
    assert isinstance(repayment, Repayment)
    assert repayment.loan_ref == OutRef.from_text(refs["open_loan"])
    assert tx.required_signers == [h28(BORROWER + "/pay")]
    (key, value), = redeemers(built.cbor).items()
    assert cbor2.dumps(value[0]) == dumps(Constr(1, ()))  # Repay
    change = tx.outputs[-1]
    assert change.address == borrower.address
    assert change.assets == {(bytes.fromhex(ANGELS.policy), b"ANGELS"): 19_000_000}
    assert check_pays_what_it_says(tx, built.intent, borrower) == []


def test_cancel_foreclose_and_claim_are_signed_by_the_lender(source: LevvySource,
                                                            refs: dict[str, str]) -> None:
    lender = wallet(LENDER)
    clock = CLOCKS["preview"]
    for name, call, action in (
            ("cancel", lambda: source.build_cancel(refs["offer"], lender), 4),
            ("foreclose", lambda: source.build_foreclose(refs["ended_loan"], lender), 3),
            ("claim", lambda: source.build_claim(refs["claimable"], lender), 2)):
        built = call()
        tx = decode_transaction(built.cbor)
        assert tx.required_signers == [h28(LENDER + "/pay")], name
        (_, value), = redeemers(built.cbor).items()
        assert cbor2.dumps(value[0]) == dumps(Constr(action, ())), name
        assert check_pays_what_it_says(tx, built.intent, lender) == [], name
        if name == "foreclose":
            loan = read_datum(source.chain.utxo(refs["ended_loan"]).inline_datum)  # type: ignore[union-attr,arg-type]
            assert isinstance(loan, Loan)
            assert clock.time_ms(tx.validity_start) > loan.loan_end_ms  # type: ignore[arg-type]
            assert clock.time_ms(tx.validity_start - 1) <= loan.loan_end_ms  # type: ignore[operator]
        if name != "cancel":
            assert tx.outputs[0].lovelace == 1_500_000  # the lender's 12.5 % of 12 ADA


def test_script_spends_carry_collateral_reference_script_and_data_hash(
        source: LevvySource, refs: dict[str, str]) -> None:
    built = source.build_cancel(refs["offer"], wallet(LENDER))
    tx_body = body(built.cbor)
    assert tx_body[18] == [[bytes.fromhex("ab" * 32), 0]]  # the configured reference UTxO
    assert tx_body[17] == -(-tx_body[2] * 150 // 100)  # total collateral = 150 % of the fee
    # The script data hash: redeemers bytes + the V3 cost model's language view.
    tx = Transaction.from_cbor(built.cbor)
    redeemer_bytes = cbor2.dumps(cbor2.loads(built.cbor)[1][5])
    view = cbor2.dumps({2: TEST_BUILDER["cost_model"]})
    assert tx_body[11] == hashlib.blake2b(redeemer_bytes + view, digest_size=32).digest()
    assert tx.transaction_witness_set.vkey_witnesses is None  # never signed here


def test_the_fee_covers_size_scripts_and_reference_script(source: LevvySource,
                                                         refs: dict[str, str]) -> None:
    built = source.build_cancel(refs["offer"], wallet(LENDER))
    fee = body(built.cbor)[2]
    tx = Transaction.from_cbor(built.cbor)
    assert tx.to_cbor() == built.cbor
    # Signed by the wallet's one key: the size the fee is paid on.
    tx.transaction_witness_set.vkey_witnesses = [VerificationKeyWitness(
        PaymentVerificationKey.from_primitive(b"\x09" * 32), b"\x07" * 64)]
    signed_size = len(tx.to_cbor())
    p = source.params
    least = (p.min_fee_a * signed_size + p.min_fee_b + p.script_fee(1_400_000, 1_000_000_000)
             + p.reference_scripts_fee(4_000))
    assert least <= fee <= least + p.min_fee_a * 16


# --- refusals ---------------------------------------------------------------------------

def test_only_the_owner_may_cancel_repay_or_foreclose(source: LevvySource,
                                                      refs: dict[str, str]) -> None:
    stranger = wallet("stranger")
    for call in (lambda: source.build_cancel(refs["offer"], stranger),
                 lambda: source.build_repay(refs["open_loan"], None, stranger),
                 lambda: source.build_foreclose(refs["ended_loan"], stranger),
                 lambda: source.build_claim(refs["claimable"], stranger)):
        with pytest.raises(b.BuildRefused, match="not this wallet's key"):
            call()


def test_no_foreclosure_before_the_loan_ends(source: LevvySource, refs: dict[str, str]) -> None:
    with pytest.raises(b.BuildRefused, match="only after"):
        source.build_foreclose(refs["open_loan"], wallet(LENDER))


def test_a_wallet_that_cannot_pay_is_refused(source: LevvySource, refs: dict[str, str]) -> None:
    address = base_address(BORROWER)
    poor = Wallet(address, (wallet_pair("poor", 0, address, 3_000_000),))
    with pytest.raises(b.BuildRefused, match="lovelace short"):
        source.build_repay(refs["open_loan"], None, poor)
    with pytest.raises(b.BuildRefused, match="the wallet holds 0 of"):
        source.build_borrow(MARKET, 200_000_000, ANGELS, 20_000_000, poor)
    with pytest.raises(b.BuildRefused, match="no key-controlled UTxOs"):
        source.build_repay(refs["open_loan"], None, Wallet(address))


def test_what_the_configuration_lacks_is_unsupported(refs: dict[str, str]) -> None:
    document = json.loads(config_text(builder=False))
    read_only = LevvySource(make_source().network, parse_config(json.dumps(document), "preview"),
                            now_ms=lambda: NOW_MS)
    with_chain(read_only)
    with pytest.raises(Unsupported, match="builder"):
        read_only.build_cancel(refs["offer"], wallet(LENDER))
    # Lending runs no script: it needs no builder section.
    read_only.build_lend(MARKET, 150_000_000, wallet(LENDER), token_amount=1, interest_amount=1)
    del document["preview"]["main_address"]
    document["preview"]["builder"] = TEST_BUILDER
    no_main = LevvySource(read_only.network, parse_config(json.dumps(document), "preview"),
                          now_ms=lambda: NOW_MS)
    with_chain(no_main)
    with pytest.raises(Unsupported, match="main_address"):
        no_main.build_borrow(MARKET, 200_000_000, ANGELS, 20_000_000,
                             wallet(BORROWER, tokens=25_000_000))
    with pytest.raises(Unsupported, match="token_amount and interest_amount"):
        no_main.build_lend(MARKET, 150_000_000, wallet(LENDER))
    unwired = make_source()
    with pytest.raises(Unsupported, match="use_chain"):
        unwired.build_repay(refs["open_loan"], None, wallet(BORROWER))


def test_a_disabled_source_builds_nothing(refs: dict[str, str]) -> None:
    off = LevvySource(make_source().network, None)
    with pytest.raises(VenueDisabled, match="LEVVY_CONFIG_FILE"):
        off.build_lend(MARKET, 1, wallet(LENDER), token_amount=1, interest_amount=1)


def test_v1_datums_are_read_but_not_built(source: LevvySource) -> None:
    lender = datum_address(LENDER)
    v1 = Loan("v1", "nested", lender, datum_address(BORROWER), bytes.fromhex(ANGELS.policy),
              b"ANGELS", 1, 2, 3, 4, tag=b"\x00" * 32)
    utxo = b.ScriptUtxo("aa" * 32 + "#0", str(Address.from_primitive(base_address(BORROWER))),
                        2_000_000, {ANGELS: 1}, encode_datum(v1))
    ctx = source._context()
    with pytest.raises(Unsupported, match="only v2"):
        b.build_repay(ctx, wallet(BORROWER), utxo)
    with pytest.raises(b.BuildRefused, match="not the offer"):
        b.build_cancel(ctx, wallet(LENDER), utxo)


def test_levvy_collateral_is_a_token() -> None:
    source = make_source()
    with pytest.raises(b.BuildRefused, match="cannot be ADA"):
        b.build_offer(source._context(), wallet(LENDER), Asset(), 1, 2_000_000, 1)


def test_a_utxo_that_does_not_hold_what_its_datum_says_is_refused(
        source: LevvySource, refs: dict[str, str]) -> None:
    """Anyone can lock any datum at a script address: a fake loan or offer is refused."""
    ctx = source._context()
    chain = source.chain
    assert chain is not None
    fake_loan = b.ScriptUtxo.from_stored(replace(chain.utxo(refs["open_loan"]), assets={}))  # type: ignore[type-var]
    with pytest.raises(b.BuildRefused, match="not a real Levvy UTxO"):
        b.build_repay(ctx, wallet(BORROWER), fake_loan)
    fake_offer = b.ScriptUtxo.from_stored(replace(chain.utxo(refs["offer"]), lovelace=2_000_000))  # type: ignore[type-var]
    with pytest.raises(b.BuildRefused, match="not a real Levvy UTxO"):
        b.build_borrow(ctx, wallet(BORROWER, tokens=25_000_000), fake_offer)
