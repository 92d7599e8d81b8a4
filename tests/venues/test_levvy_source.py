"""LevvySource: outputs into records, transactions into events (from transactions the
builders made), markets from the open offers, loan fates."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest

from chain.ledger import Tx, TxOut, decode_transaction
from core.units import Asset, Token
from protocols.errors import DatumLayoutError
from protocols.model import VenueRecord
from protocols.venues.levvy.datums import (
    Loan,
    Offer,
    OutRef,
    encode_datum,
    read_datum,
    v1_payment_tag,
)
from protocols.venues.levvy.markets import NO_PRICE_LIQUIDATION, CollateralPrice
from protocols.venues.levvy.source import LevvySource
from tests.venues.cases.levvy import (
    ANGELS,
    BORROWER,
    LENDER,
    MARKET,
    NOW_MS,
    MemoryChain,
    chain_for,
    datum_address,
    make_source,
    offer_records,
    record_of,
    wallet,
    with_chain,
)


@pytest.fixture
def source() -> LevvySource:
    return with_chain(make_source())


def chain_and_refs(source: LevvySource) -> tuple[MemoryChain, dict[str, str]]:
    assert source.chain is not None
    return source.chain, chain_for(source)[1]  # type: ignore[return-value]


def spent_records(source: LevvySource, *refs: str) -> dict[str, VenueRecord]:
    chain, _ = chain_and_refs(source)
    found = {}
    for ref in refs:
        record = record_of(source, chain.utxos[ref])
        assert record is not None
        found[ref] = record
    return found


def kinds(events: list) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(e.kind, e.market, e.refs) for e in events]


# --- records ------------------------------------------------------------------------------

def test_records_of_each_kind(source: LevvySource) -> None:
    chain, refs = chain_and_refs(source)
    offer = record_of(source, chain.utxos[refs["offer"]])
    loan = record_of(source, chain.utxos[refs["open_loan"]])
    repayment = record_of(source, chain.utxos[refs["claimable"]])
    assert offer is not None and loan is not None and repayment is not None
    assert (offer.kind, offer.market) == ("offer", MARKET)
    assert offer.fields["lender"].startswith("addr_test1")
    assert (loan.kind, loan.market, loan.fields["utxo_collateral"]) == ("loan", MARKET, 19_000_000)
    assert loan.fields["borrower"] == wallet(BORROWER).address
    assert (repayment.kind, repayment.market) == ("repayment", None)
    assert repayment.fields["loan_amount"] == 200_000_000


def test_outputs_elsewhere_or_without_datum_are_not_levvys(source: LevvySource) -> None:
    chain, refs = chain_and_refs(source)
    utxo = chain.utxos[refs["offer"]]
    assert record_of(source, replace(utxo, inline_datum=None)) is None
    assert record_of(source, replace(utxo, address=wallet(LENDER).address)) is None


def test_an_unknown_datum_at_the_validator_raises(source: LevvySource) -> None:
    chain, refs = chain_and_refs(source)
    with pytest.raises(DatumLayoutError):
        record_of(source, replace(chain.utxos[refs["offer"]], inline_datum=b"\xd8\x7d\x80"))


# --- events from the builders' own transactions ---------------------------------------------

def test_a_lend_places_an_offer(source: LevvySource) -> None:
    tx = decode_transaction(source.build_lend(MARKET, 150_000_000, wallet(LENDER),
                                              token_amount=1, interest_amount=2).cbor)
    assert kinds(source.read_tx(tx, {})) == [("offer_placed", MARKET, (f"{tx.id.hex()}#0",))]


def test_a_borrow_opens_a_loan_and_takes_the_offer(source: LevvySource) -> None:
    _, refs = chain_and_refs(source)
    tx = decode_transaction(source.build_borrow(MARKET, 200_000_000, ANGELS, 20_000_000,
                                                wallet(BORROWER, tokens=25_000_000)).cbor)
    events = source.read_tx(tx, spent_records(source, refs["offer"]))
    assert kinds(events) == [("loan_opened", MARKET, (refs["offer"], f"{tx.id.hex()}#0"))]
    assert events[0].details["loan_amount"] == 200_000_000


def test_a_cancel_cancels_the_offer(source: LevvySource) -> None:
    _, refs = chain_and_refs(source)
    tx = decode_transaction(source.build_cancel(refs["offer"], wallet(LENDER)).cbor)
    assert kinds(source.read_tx(tx, spent_records(source, refs["offer"]))) == \
        [("offer_cancelled", MARKET, (refs["offer"],))]


def test_a_repay_repays_and_a_foreclosure_liquidates(source: LevvySource) -> None:
    _, refs = chain_and_refs(source)
    repay = decode_transaction(source.build_repay(refs["open_loan"], None, wallet(BORROWER)).cbor)
    assert kinds(source.read_tx(repay, spent_records(source, refs["open_loan"]))) == \
        [("loan_repaid", MARKET, (refs["open_loan"], f"{repay.id.hex()}#0"))]
    foreclose = decode_transaction(source.build_foreclose(refs["ended_loan"],
                                                          wallet(LENDER)).cbor)
    events = source.read_tx(foreclose, spent_records(source, refs["ended_loan"]))
    assert kinds(events) == [("loan_liquidated", MARKET, (refs["ended_loan"],))]
    assert events[0].details == {"how": "foreclosed"}


def test_a_claim_is_the_lenders_withdrawal(source: LevvySource) -> None:
    _, refs = chain_and_refs(source)
    tx = decode_transaction(source.build_claim(refs["claimable"], wallet(LENDER)).cbor)
    events = source.read_tx(tx, spent_records(source, refs["claimable"]))
    assert kinds(events) == [("withdraw", None, (refs["claimable"],))]


def _tx(outputs: list[TxOut]) -> Tx:
    return Tx(id=b"\x0b" * 32, index=0, valid=True, fee=0, inputs=[], reference_inputs=[],
              collateral=[], outputs=outputs, mint={}, withdrawals={}, required_signers=[],
              validity_start=None, ttl=None, redeemers=1, datums={}, metadata=False,
              body_raw=b"")


def test_v1_loans_are_linked_by_their_tags(source: LevvySource) -> None:
    """v1 names the taken offer and the repaid loan by blake2b-256 of their references."""
    chain, refs = chain_and_refs(source)
    offer_ref = refs["offer"]
    offer_out = record_of(source, chain.utxos[offer_ref])
    assert offer_out is not None
    loan = Loan("v1", "nested", datum_address(LENDER), datum_address(BORROWER),
                bytes.fromhex(ANGELS.policy), b"ANGELS", 1, 2, 3, 4,
                tag=v1_payment_tag(OutRef.from_text(offer_ref, wrapped=False)))
    validator = chain.utxos[refs["open_loan"]].address
    from pycardano import Address

    raw = bytes(Address.from_primitive(validator).to_primitive())
    opened = _tx([TxOut(validator, raw, 2_000_000, {}, inline_datum=encode_datum(loan))])
    events = source.read_tx(opened, {offer_ref: offer_out})
    assert kinds(events) == [("loan_opened", MARKET, (offer_ref, "0b" * 32 + "#0"))]
    # A v1 repayment pays the lender with the loan's tag as datum.
    loan_ref = "0b" * 32 + "#0"
    loan_record = VenueRecord("levvy", "loan", MARKET, loan_ref, {})
    tag = v1_payment_tag(OutRef.from_text(loan_ref))
    lender = wallet(LENDER).address
    paid = _tx([TxOut(lender, bytes(Address.from_primitive(lender).to_primitive()), 5_000_000,
                      {}, inline_datum=bytes([0x58, 0x20]) + tag)])
    assert kinds(source.read_tx(paid, {loan_ref: loan_record})) == \
        [("loan_repaid", MARKET, (loan_ref,))]
    assert kinds(source.read_tx(_tx([]), {loan_ref: loan_record})) == \
        [("loan_liquidated", MARKET, (loan_ref,))]


# --- markets -----------------------------------------------------------------------------

def test_markets_from_the_open_offers(source: LevvySource) -> None:
    chain, _ = chain_and_refs(source)
    (market,) = source.markets_from_chain(offer_records(source, chain), [])
    assert market.market_id == MARKET and market.borrow.asset.is_ada
    (option,) = market.collaterals
    # Best offer: 200 ADA against 19M units at 15 lovelace = 285 ADA -> LTV 200/285.
    assert option.max_ltv == Decimal(200) / Decimal(285)
    assert option.liquidation_threshold == 1 and option.liquidation_penalty is None
    assert NO_PRICE_LIQUIDATION in market.fees.other
    # 12 ADA per 200 ADA per 14 days.
    assert market.borrow_apr == Decimal(12) / Decimal(200) * 365 / 14
    assert market.fees.origination == Decimal("0.0075")  # 12.5 % of 6 % of the loan
    lender_rate = Decimal("0.06") * Decimal("0.875")
    expected_apy = (1 + lender_rate) ** (Decimal(365) / 14) - 1
    assert abs(market.supply_apy - expected_apy) < Decimal("1e-20")
    assert market.available_liquidity == 300_000_000  # both offers
    assert market.min_size == 100_000_000
    assert market.utilisation == Decimal(400) / Decimal(700)  # two unspent loans of 200
    assert not market.partial_repay and market.rate_fixed_at_open
    assert market.provenance.source == "chain" and market.provenance.as_of_ms == NOW_MS - 60_000


def test_no_price_no_market_and_an_underpriced_collateral_caps_at_one(source: LevvySource) -> None:
    chain, _ = chain_and_refs(source)
    records = offer_records(source, chain)
    source.set_prices({})
    assert source.markets_from_chain(records, []) == []
    source.set_prices({ANGELS: CollateralPrice(Token(ANGELS, 0, "ANGELS"), Fraction(1, 100))})
    (market,) = source.markets_from_chain(records, [])
    assert market.collaterals[0].max_ltv == 1
    assert any("times the collateral's value" in note for note in market.fees.other)


def test_an_unfunded_offer_is_no_liquidity(source: LevvySource) -> None:
    chain, refs = chain_and_refs(source)
    records = [(r, t) if r.ref != refs["offer"] else
               (replace(r, fields={**r.fields, "utxo_lovelace": 1_000_000}), t)
               for r, t in offer_records(source, chain)]
    (market,) = source.markets_from_chain(records, [])
    assert market.available_liquidity == 100_000_000


# --- fates ---------------------------------------------------------------------------------

def test_fates(source: LevvySource) -> None:
    chain, refs = chain_and_refs(source)
    assert source.loan_fate("ff" * 32 + "#0", chain).state == "unknown"
    with pytest.raises(DatumLayoutError, match="not a loan"):
        source.loan_fate(refs["offer"], chain)
    # A loan spent by our own transaction with no repayment datum seen (v1): repaid.
    foreclosed = chain.utxos[refs["foreclosed_loan"]]
    ours = MemoryChain(chain.utxos.values(), ours=[foreclosed.spent_tx or ""])
    fate = source.loan_fate(refs["foreclosed_loan"], ours)
    assert fate.state == "repaid" and fate.spent_by == foreclosed.spent_tx
    fate = source.loan_fate(refs["foreclosed_loan"], chain)
    assert fate.state == "liquidated" and "foreclosed" in fate.reason
    open_fate = source.loan_fate(refs["open_loan"], chain)
    loan = read_datum(chain.utxos[refs["open_loan"]].inline_datum)  # type: ignore[arg-type]
    assert isinstance(loan, Loan) and open_fate.debt == loan.debt
    assert open_fate.collateral == {Asset(ANGELS.policy, ANGELS.name): 19_000_000}
    assert isinstance(read_datum(chain.utxos[refs["offer"]].inline_datum), Offer)  # type: ignore[arg-type]
