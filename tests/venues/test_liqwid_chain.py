"""Liqwid on chain (protocols/venues/liqwid/chain.py): the real MarketParams update tx read
into records and events; venue UTxOs recognised by their tokens; supply, withdraw, batch
and loan events; markets from chain state beside the API's; the fate of a loan over an
in-memory chain view.

No real Loan UTxO is in the fixtures: loans here carry crafted datums per the published
layout (lending.md §6.1)."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Mapping

import pytest

from chain.ledger import Tx, TxOut, decode_transaction
from chain.ledger.address import address_text
from core.units import ADA_TOKEN, Asset, ReceiptRate, Token
from protocols.errors import DatumLayoutError
from protocols.model import (
    CollateralOption,
    Fees,
    Market,
    MarketStatus,
    Provenance,
    VenueRecord,
)
from protocols.render import event_json, record_json, stored_record
from protocols.venues.liqwid import rates
from protocols.venues.liqwid.chain import (
    Bounds,
    loan_fate,
    markets_from_chain,
    merge_markets,
    output_datum,
    read_output,
    read_tx,
)
from protocols.venues.liqwid.datums import decode_market_params, decode_market_state
from protocols.venues.liqwid.tokens import LiqwidTokens, load_tokens
from tests.support.chain_view import MemoryChainView
from tests.venues.fixtures_liqwid import (
    ACTION_AFTER,
    ACTION_BEFORE,
    OWNER,
    MARKETPARAMS_ADA,
    MARKETSTATE_ADA,
    MARKETSTATE_UNIDENTIFIED,
    MARKETSTATE_USDA,
    MARKETS_PAGE0,
    PARAMS_HISTORY_ADA,
    TX_1C280D01,
    TX_MARKETPARAMS,
    indefinite,
    liqwid_api_recorded,
    liqwid_hex,
    loan_datum,
)

# Facts (mainnet.json and the fixtures' SOURCES.md).
ADA_STATE = "5a3cb4f52fb3a00ab5abe62080618623811ccafab9c760d0b686e44c"
ADA_STATE_VALIDATOR = "8d258b9d08dcab73f3165a11751d464b46056264091c1789da588726"
USDA_STATE = "9330ff6f3d301a9abc1979cffd1465cd27f7563837a7d635f59f1aa2"
UNIDENTIFIED_STATE = "d959ec7ee9b45b293ec2494304a5a5603bd9a7d46794d736f79813ce"
ADA_ACTION = "7807209cec9f79c9f6cf5bea2ab7826e6e46b6a7583a337b7e20fb36"
ADA_ACTION_VALIDATOR = "31415bb210164cf6b84d1b12537f0792d2912d156e0f1ed1d91c83ce"
ADA_BATCH = "15706915432bf92ea3585aa468b507b90e427dc4effeae31ee5cf40e"
ADA_LOAN = "ee944b56bab503197bdfb929509a177c3ef9e5083ca7e65ffa1469c8"
ADA_LOAN_VALIDATOR = "71391f18fb131f28a230fa7f3b6c6099e447602b2bd2df5d046c5e99"
ADA_LIQUIDATION = "3c9ee71d8f14b386df802f4121d82746df5508e29198744bea7552ef"
SHEN_LOAN_VALIDATOR = "359ae06da4dbdd92c63743803f6be1bf1d24477645cddea07a5efb1b"
QADA = "a04ce7a52545e5e33c2867e148898d9e667a69602285f6a1298f9d68"
QDJED = "6df63e2fdde8b2c3b3396265b0cc824aa4fb999396b1c154280f6b0c"
SHEN_LOAN = "98cccc642a74eeb1fe7a22f43a814068b54f9f9afa583a73b74e36ba"
USDA_LOAN_VALIDATOR = "dd4657091fdb7e8fa8680b5a87ebb914c95056ba0523913a7cd2b081"
ADA_STATE_BLOCK_MS = 1_790_757_300_000  # block time of MarketState 07ad1a23#1

OTHER = bytes.fromhex("cd" * 28)
WALLET = address_text(bytes.fromhex("61" + "ab" * 28))


@pytest.fixture(scope="module")
def tokens() -> LiqwidTokens:
    loaded = load_tokens("mainnet")
    assert loaded is not None
    return loaded


def script(hash_hex: str) -> bytes:
    return bytes.fromhex("71" + hash_hex)  # mainnet enterprise script address


def txout(assets: Mapping[str, int], datum: bytes | None = None, *,
          validator: str = ADA_STATE_VALIDATOR, lovelace: int = 3_000_000) -> TxOut:
    """An output at `validator` holding {policy hex (empty asset name): quantity}."""
    address = script(validator)
    return TxOut(address=address_text(address), address_bytes=address, lovelace=lovelace,
                 assets={(bytes.fromhex(p), b""): q for p, q in assets.items()},
                 inline_datum=datum)


def make_tx(tx_id: str, outputs: list[TxOut], *, inputs: tuple[str, ...] = (),
            mint: Mapping[str, int] | None = None, signers: tuple[bytes, ...] = (),
            valid: bool = True) -> Tx:
    return Tx(id=bytes.fromhex(tx_id), index=0, valid=valid, fee=200_000,
              inputs=[(bytes.fromhex(r.split("#")[0]), int(r.split("#")[1])) for r in inputs],
              reference_inputs=[], collateral=[], outputs=outputs,
              mint={(bytes.fromhex(p), b""): q for p, q in (mint or {}).items()},
              withdrawals={}, required_signers=list(signers), validity_start=None, ttl=None,
              redeemers=1, datums={}, metadata=False, body_raw=b"")


def records_of(tokens: LiqwidTokens, tx: Tx) -> list[VenueRecord | None]:
    return [read_output(tokens, f"{tx.id.hex()}#{i}", out, output_datum(tx, out))
            for i, out in enumerate(tx.outputs)]


def ref(n: int, index: int = 0) -> str:
    return f"{n:064x}#{index}"


def txid(n: int) -> str:
    return f"{n:064x}"


# --- the real MarketParams update, tx 1c280d01 ---------------------------------------------

def test_the_real_tx_gives_two_market_params_records_ada_and_djed(tokens: LiqwidTokens) -> None:
    tx = decode_transaction(liqwid_hex(TX_MARKETPARAMS))
    assert tx.id.hex() == TX_1C280D01
    ada, djed, change = records_of(tokens, tx)
    assert change is None  # change to a key address
    assert ada is not None and djed is not None
    assert (ada.kind, ada.market, ada.ref) == ("market_params", "Ada", f"{TX_1C280D01}#0")
    assert (djed.kind, djed.market, djed.ref) == ("market_params", "DJED", f"{TX_1C280D01}#1")
    assert ada.fields["kink"] == Fraction(9, 10) and ada.fields["borrow_cap"] == Fraction(19, 20)
    assert djed.fields["borrow_cap"] is None


def test_a_market_params_line_prints_as_the_issue_says(tokens: LiqwidTokens) -> None:
    tx = decode_transaction(liqwid_hex(TX_MARKETPARAMS))
    ada = records_of(tokens, tx)[0]
    assert ada is not None
    line = json.loads(json.dumps(record_json(ada)))
    assert (line["venue"], line["kind"], line["market"]) == ("liqwid", "market_params", "Ada")
    assert line["datum"]["base_rate"] == [5836823963, 2500000000000000]
    assert line["datum"]["loan_validator"] == ADA_LOAN_VALIDATOR
    assert line["datum"]["income_ratio"] == {"sum": 10, "suppliers": 8, "dividends": 0,
                                             "treasury": 0}
    assert line["rate_model"] == {"base_rate": "0.0000023347295852",
                                  "util_multiplier": "0.0000021817265503",
                                  "jump_multiplier": "0.000304193298598", "kink": "0.9",
                                  "borrow_cap": "0.95", "supply_cap": None}
    [row] = [r for r in liqwid_api_recorded(PARAMS_HISTORY_ADA)["payload"]["rows"]
             if r["txHash"] == TX_1C280D01]
    for ours, theirs in (("base_borrow_apr", "baseBorrowerAPR"),
                         ("optimal_borrow_apr", "optimalBorrowerAPR"),
                         ("max_borrow_apr", "maxBorrowerAPR")):
        assert isinstance(line[ours], str)
        assert abs(Decimal(line[ours]) - row[theirs]) < Decimal("1e-9"), ours
    stored = stored_record(ada)  # the stored form follows store/'s rules
    assert stored["fields"]["base_rate"] == "5836823963/2500000000000000"


def test_the_real_tx_reads_as_two_market_params_updates(tokens: LiqwidTokens) -> None:
    tx = decode_transaction(liqwid_hex(TX_MARKETPARAMS))
    events = read_tx(tokens, tx, {})
    assert [(e.kind, e.market) for e in events] == [("market_params_updated", "Ada"),
                                                    ("market_params_updated", "DJED")]
    assert events[0].refs == (f"{TX_1C280D01}#0",)
    assert events[0].details["rate_model"]["kink"] == "0.9"
    # With the spent MarketParams UTxOs known, the events name them too.
    old_ada, old_djed = (f"{t.hex()}#{i}" for t, i in tx.inputs[:2])
    previous = records_of(tokens, tx)
    assert previous[0] is not None and previous[1] is not None
    spent = {old_ada: replace(previous[0], ref=old_ada), old_djed: replace(previous[1], ref=old_djed)}
    events = read_tx(tokens, tx, spent)
    assert {e.refs for e in events} == {(old_ada, f"{TX_1C280D01}#0"),
                                        (old_djed, f"{TX_1C280D01}#1")}
    json.dumps([event_json(e) for e in events])


# --- outputs recognised by their tokens ------------------------------------------------------

def test_real_market_states_are_recognised_by_their_token(tokens: LiqwidTokens) -> None:
    record = read_output(tokens, "07ad1a23#1", txout({ADA_STATE: 1}, liqwid_hex(MARKETSTATE_ADA)),
                         liqwid_hex(MARKETSTATE_ADA))
    assert record is not None
    assert (record.kind, record.market) == ("market_state", "Ada")
    assert record.fields["reserve"] == -6_725_365_719
    line = record_json(record)
    assert line["datum"]["qtoken_rate"] == [6_016_800_425_855, 284_309_851_738_654]
    usda = read_output(tokens, "a90bd7a4#1", txout({USDA_STATE: 1}), liqwid_hex(MARKETSTATE_USDA))
    assert usda is not None and (usda.kind, usda.market) == ("market_state", "USDA")
    # The third real MarketState belongs to a market this project has no tokens for.
    assert read_output(tokens, "83816ba8#1", txout({UNIDENTIFIED_STATE: 1}),
                       liqwid_hex(MARKETSTATE_UNIDENTIFIED)) is None


def test_an_address_alone_does_not_make_a_venue_utxo(tokens: LiqwidTokens) -> None:
    # The Ada MarketState validator, but no token: anyone can pay there.
    assert read_output(tokens, "x#0", txout({}), liqwid_hex(MARKETSTATE_ADA)) is None
    # A user's qADA is a receipt, not venue state.
    assert read_output(tokens, "x#1", txout({QADA: 5}), None) is None


def test_a_bad_venue_output_is_a_layout_error(tokens: LiqwidTokens) -> None:
    with pytest.raises(DatumLayoutError, match="has no datum"):
        read_output(tokens, "x#0", txout({ADA_STATE: 1}), None)
    with pytest.raises(DatumLayoutError, match="market_state, action"):
        read_output(tokens, "x#0", txout({ADA_STATE: 1, ADA_ACTION: 1}),
                    liqwid_hex(MARKETSTATE_ADA))
    with pytest.raises(DatumLayoutError, match="MarketState"):
        read_output(tokens, "x#0", txout({ADA_STATE: 1}), liqwid_hex(ACTION_AFTER))
    with pytest.raises(DatumLayoutError, match="Loan"):
        read_output(tokens, "x#0", txout({ADA_LOAN: 1}), liqwid_hex(ACTION_AFTER))


def test_batch_and_liquidation_outputs_are_recorded_without_invented_fields(
        tokens: LiqwidTokens) -> None:
    batch = read_output(tokens, "b#0", txout({ADA_BATCH: 1}), b"\xd8\x79\x80")
    assert batch is not None
    assert (batch.kind, batch.market, batch.fields) == ("batch", "Ada", {})
    assert read_output(tokens, "b#1", txout({ADA_BATCH: 1}), None) is not None  # no datum: fine
    marker = read_output(tokens, "l#0", txout({ADA_LIQUIDATION: 1}), None)
    assert marker is not None and (marker.kind, marker.fields) == ("liquidation", {})
    # A marker beside a datum-bearing role: the datum's role wins, the marker is noted.
    both = read_output(tokens, "a#0", txout({ADA_ACTION: 1, ADA_BATCH: 1}),
                       liqwid_hex(ACTION_AFTER))
    assert both is not None and both.kind == "action" and both.extra["also_holds"] == ["batch"]


def test_a_loan_output_carries_its_debt_and_collateral(tokens: LiqwidTokens) -> None:
    out = txout({ADA_LOAN: 1, QADA: 500_000, QDJED: 7}, loan_datum(),
                validator=ADA_LOAN_VALIDATOR)
    record = read_output(tokens, "l#0", out, loan_datum())
    assert record is not None
    assert (record.kind, record.market) == ("loan", "Ada")
    assert record.fields["owner"] == OWNER
    assert record.extra == {"debt": 1_000_006_234, "collateral": {QADA: 500_000, QDJED: 7}}
    assert record_json(record)["datum"]["owner"] == OWNER.hex()


def test_loans_of_markets_without_a_loan_token_are_found_by_their_validator(
        tokens: LiqwidTokens) -> None:
    out = txout({QADA: 10}, loan_datum(), validator=USDA_LOAN_VALIDATOR)
    record = read_output(tokens, "u#0", out, loan_datum())
    assert record is not None and (record.kind, record.market) == ("loan", "USDA")
    assert record.extra["identified_by"] == "loan_validator"
    # Not authenticated by a token: junk paid there is skipped, never a poison block.
    assert read_output(tokens, "u#1", out, liqwid_hex(ACTION_AFTER)) is None
    assert read_output(tokens, "u#2", out, None) is None
    # The Ada Loan validator is not a fallback: Ada loans are found by their token.
    assert read_output(tokens, "a#0", txout({}, validator=ADA_LOAN_VALIDATOR),
                       loan_datum()) is None


# --- events from crafted transactions -------------------------------------------------------

def _action_record(tokens: LiqwidTokens, at: str, datum: bytes) -> VenueRecord:
    record = read_output(tokens, at, txout({ADA_ACTION: 1}, datum,
                                           validator=ADA_ACTION_VALIDATOR), datum)
    assert record is not None
    return record


def test_a_supply_is_a_qtoken_mint_at_an_action_utxo(tokens: LiqwidTokens) -> None:
    before, after = liqwid_hex(ACTION_BEFORE), liqwid_hex(ACTION_AFTER)
    spent = {ref(1): _action_record(tokens, ref(1), before)}
    tx = make_tx(txid(2), [txout({ADA_ACTION: 1}, after, validator=ADA_ACTION_VALIDATOR)],
                 inputs=(ref(1),), mint={QADA: 1_935_750_709_614}, signers=(OWNER,))
    [event] = read_tx(tokens, tx, spent)
    assert (event.kind, event.market) == ("supply", "Ada")
    assert event.details == {"qtokens": 1_935_750_709_614, "underlying": 40_875_220_504}
    assert event.refs == (ref(1), ref(2))
    # The mirror: a withdrawal burns qTokens; the spent Action unknown, the amount too.
    back = make_tx(txid(3), [txout({ADA_ACTION: 1}, before, validator=ADA_ACTION_VALIDATOR)],
                   inputs=(ref(2),), mint={QADA: -1_935_750_709_614})
    [event] = read_tx(tokens, back, {})
    assert (event.kind, event.details) == ("withdraw", {"qtokens": 1_935_750_709_614,
                                                        "underlying": None})
    # A qToken mint that touches no Action UTxO is not read as a supply.
    assert read_tx(tokens, make_tx(txid(4), [], mint={QADA: 5}), {}) == []


def test_a_batch_updates_the_market_state(tokens: LiqwidTokens) -> None:
    spent = {ref(1): _action_record(tokens, ref(1), liqwid_hex(ACTION_AFTER))}
    tx = make_tx(txid(5), [txout({ADA_STATE: 1}, liqwid_hex(MARKETSTATE_ADA)),
                           txout({ADA_BATCH: 1}),
                           txout({ADA_ACTION: 1}, liqwid_hex(ACTION_BEFORE),
                                 validator=ADA_ACTION_VALIDATOR)],
                 inputs=(ref(1),))
    events = read_tx(tokens, tx, spent)
    assert [(e.kind, e.market) for e in events] == [("market_state_updated", "Ada"),
                                                    ("order_batched", "Ada")]
    state = decode_market_state(liqwid_hex(MARKETSTATE_ADA))
    assert events[0].details["utilisation"] == rates.decimal_text(rates.state_utilisation(state))
    assert events[1].details == {"actions": 1}


def _loan_record(tokens: LiqwidTokens, at: str, owner: bytes = OWNER,
                 principal: int = 1_000_000_000) -> VenueRecord:
    datum = loan_datum(owner=owner, principal=principal)
    record = read_output(tokens, at, txout({ADA_LOAN: 1, QADA: 100}, datum,
                                           validator=ADA_LOAN_VALIDATOR), datum)
    assert record is not None
    return record


def _loan_out(owner: bytes = OWNER, principal: int = 1_000_000_000) -> TxOut:
    return txout({ADA_LOAN: 1, QADA: 100}, loan_datum(owner=owner, principal=principal),
                 validator=ADA_LOAN_VALIDATOR)


def test_loan_events(tokens: LiqwidTokens) -> None:
    spent = {ref(1): _loan_record(tokens, ref(1))}
    opened = read_tx(tokens, make_tx(txid(2), [_loan_out()], signers=(OWNER,)), {})
    assert [(e.kind, e.details["owner"], e.details["principal"]) for e in opened] == \
        [("loan_opened", OWNER, 1_000_000_000)]
    updated = read_tx(tokens, make_tx(txid(2), [_loan_out(principal=600_000_000)],
                                      inputs=(ref(1),), signers=(OWNER,)), spent)
    assert [(e.kind, e.refs) for e in updated] == [("loan_updated", (ref(1), ref(2)))]
    assert updated[0].details["debt_after"] == 600_006_234
    repaid = read_tx(tokens, make_tx(txid(2), [], inputs=(ref(1),), signers=(OWNER,)), spent)
    assert [(e.kind, e.details["debt"]) for e in repaid] == [("loan_repaid", 1_000_006_234)]
    minted = read_tx(tokens, make_tx(txid(2), [txout({ADA_LIQUIDATION: 1})], inputs=(ref(1),),
                                     mint={ADA_LIQUIDATION: 1}, signers=(OWNER,)), spent)
    assert [(e.kind, e.details["rule"], e.details["partial"]) for e in minted] == \
        [("loan_liquidated", "liquidation_minted", False)]
    unsigned = read_tx(tokens, make_tx(txid(2), [], inputs=(ref(1),), signers=(OTHER,)), spent)
    assert [(e.kind, e.details["rule"]) for e in unsigned] == \
        [("loan_liquidated", "owner_did_not_sign")]
    partial = read_tx(tokens, make_tx(txid(2), [_loan_out(principal=400_000_000),
                                                txout({ADA_LIQUIDATION: 1})],
                                      inputs=(ref(1),), mint={ADA_LIQUIDATION: 1}), spent)
    assert [(e.kind, e.details["partial"]) for e in partial] == [("loan_liquidated", True)]
    # Another owner's new loan in the same tx is not a successor.
    two = read_tx(tokens, make_tx(txid(2), [_loan_out(owner=OTHER)], inputs=(ref(1),),
                                  signers=(OWNER,)), spent)
    assert sorted(e.kind for e in two) == ["loan_opened", "loan_repaid"]
    # A transaction that failed phase 2 moved only its collateral.
    assert read_tx(tokens, make_tx(txid(2), [_loan_out()], valid=False), {}) == []


# --- markets from chain state ----------------------------------------------------------------

def _chain_records(tokens: LiqwidTokens) -> list[tuple[VenueRecord, int]]:
    state = read_output(tokens, "07ad1a23#1", txout({ADA_STATE: 1}), liqwid_hex(MARKETSTATE_ADA))
    tx = decode_transaction(liqwid_hex(TX_MARKETPARAMS))
    params = records_of(tokens, tx)[0]
    assert state is not None and params is not None
    return [(params, 1_760_973_766_000), (state, ADA_STATE_BLOCK_MS)]


def _api_market(market_id: str = "Ada", *, borrow_apr: str = "0.0378532431",
                supply_apy: str = "0.02228618908786488",
                utilisation: str = "0.009895455846824788",
                fetched_ms: int = 1_784_793_566_394) -> Market:
    """An API market with the figures of the recorded markets capture (2026-07-23)."""
    qada = Token(Asset(QADA, ""), 6, "qADA")
    return Market(
        venue="liqwid", market_id=market_id, borrow=ADA_TOKEN,
        collaterals=(CollateralOption(qada, Decimal("0.704"), Decimal("0.81"),
                                      Decimal("0.10"), held_as=qada.asset, venue_id="qAda"),),
        borrow_apr=Decimal(borrow_apr), supply_apy=Decimal(supply_apy),
        utilisation=Decimal(utilisation), available_liquidity=6_304_967_608_010,
        min_size=None, fees=Fees(), status=MarketStatus(),
        provenance=Provenance("api", fetched_ms, "GraphQL markets"),
        receipt=qada.asset, receipt_rate=ReceiptRate(Fraction(2, 100), "api"))


def test_the_recorded_api_figures_are_what_the_api_market_holds() -> None:
    [ada] = [m for m in liqwid_api_recorded(MARKETS_PAGE0)["payload"]["liqwid"]["data"]
             ["markets"]["results"] if m["id"] == "Ada"]
    market = _api_market()
    assert market.borrow_apr == ada["borrowAPR"] and market.utilisation == ada["utilization"]


def test_chain_figures_replace_the_apis(tokens: LiqwidTokens) -> None:
    records = _chain_records(tokens)
    api = _api_market()
    [market] = markets_from_chain(records, [api], now_ms=ADA_STATE_BLOCK_MS + 60_000)
    state = decode_market_state(liqwid_hex(MARKETSTATE_ADA))
    params = decode_market_params(liqwid_hex(MARKETPARAMS_ADA))
    u = rates.state_utilisation(state)
    assert market.utilisation == Decimal(u.numerator) / Decimal(u.denominator)
    assert market.borrow_apr == rates.borrow_apr(params.rate_model, u)
    assert market.borrow_apr == rates.yearly(state.interest_rate)  # the state's own rate
    assert Decimal("0.04") < market.borrow_apr < Decimal("0.06")
    assert market.supply_apy == rates.supplier_apy(market.borrow_apr, u, params.income)
    assert market.available_liquidity == rates.available_to_borrow(state, params.rate_model)
    assert market.receipt_rate == ReceiptRate(state.qtoken_rate, "chain")
    assert market.provenance.source == "chain"
    assert market.provenance.as_of_ms == ADA_STATE_BLOCK_MS
    assert "07ad1a23#1" in market.provenance.detail
    # The collateral parameters stay the API's, and say so.
    assert market.collaterals == api.collaterals
    assert market.other_provenance["collaterals"] == api.provenance
    assert market.status == api.status and market.fees == api.fees


def test_a_disagreement_with_the_api_is_logged_and_returned(
        tokens: LiqwidTokens, caplog: pytest.LogCaptureFixture) -> None:
    records = _chain_records(tokens)
    with caplog.at_level(logging.WARNING, logger="protocols.venues.liqwid.chain"):
        merged = merge_markets(records, [_api_market()], now_ms=ADA_STATE_BLOCK_MS)
    assert {d.figure for d in merged.disagreements} == {"borrow_apr", "utilisation"}
    borrow = [d for d in merged.disagreements if d.figure == "borrow_apr"][0]
    assert (borrow.market, borrow.api) == ("Ada", Decimal("0.0378532431"))
    assert borrow.chain == merged.markets[0].borrow_apr
    assert borrow.chain_as_of_ms == ADA_STATE_BLOCK_MS
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("liqwid Ada" in w for w in warnings)

    # Within the bounds: nothing to say.
    chain = merged.markets[0]
    close = _api_market(borrow_apr=str(chain.borrow_apr + Decimal("0.002")),
                        utilisation=str(chain.utilisation - Decimal("0.01")))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="protocols.venues.liqwid.chain"):
        assert merge_markets(records, [close], now_ms=ADA_STATE_BLOCK_MS).disagreements == []
    assert not caplog.records
    # A disagreement exceeds both bounds: 0.2 pp off a 5 % rate is 4 %, within 5 % relative.
    assert merge_markets(records, [close], now_ms=0,
                         bounds=Bounds(borrow_apr_abs=Decimal("0.001"))).disagreements == []
    tight = Bounds(borrow_apr_abs=Decimal("0.001"), borrow_apr_rel=Decimal("0.01"))
    [found] = merge_markets(records, [close], now_ms=0, bounds=tight).disagreements
    assert found.figure == "borrow_apr"


def test_markets_without_chain_state_stay_the_apis(tokens: LiqwidTokens) -> None:
    records = _chain_records(tokens)
    djed = _api_market("DJED")
    markets = markets_from_chain(records, [_api_market(), djed], now_ms=0)
    assert markets[1] is djed
    assert markets_from_chain([], [djed], now_ms=0) == [djed]


def test_without_market_params_the_state_rate_is_used_and_supply_apy_stays_the_apis(
        tokens: LiqwidTokens) -> None:
    state_only = [r for r in _chain_records(tokens) if r[0].kind == "market_state"]
    api = _api_market()
    [market] = markets_from_chain(state_only, [api], now_ms=0)
    state = decode_market_state(liqwid_hex(MARKETSTATE_ADA))
    assert market.borrow_apr == rates.yearly(state.interest_rate)
    assert market.supply_apy == api.supply_apy
    assert market.other_provenance["supply_apy"] == api.provenance
    assert market.available_liquidity == state.supply  # no cap known


def test_the_latest_market_state_wins_and_staking_adds_to_suppliers(tokens: LiqwidTokens) -> None:
    records = _chain_records(tokens)
    state, when = records[1]
    older = replace(state, ref="older#0", fields={**state.fields, "principal": 0, "interest": 0})
    [market] = markets_from_chain([(older, when - 1), *records], [_api_market()], now_ms=when)
    assert market.provenance.as_of_ms == when and market.utilisation > 0
    [staked] = markets_from_chain(records, [_api_market()], now_ms=when,
                                  staking_apy={"Ada": Decimal("0.02")})
    assert staked.supply_apy > market.supply_apy


# --- the fate of a loan ----------------------------------------------------------------------

def _view(*, market_loan: str = ADA_LOAN, validator: str = ADA_LOAN_VALIDATOR,
          datum: bytes | None = None) -> MemoryChainView:
    view = MemoryChainView()
    view.add(ref(10), address=address_text(script(validator)),
             assets={(market_loan, "01"): 1, (QADA, ""): 5_000_000},
             datum=datum or loan_datum(), slot=100)
    return view


def test_an_unspent_loan_is_open_with_its_debt_and_collateral(tokens: LiqwidTokens) -> None:
    fate = loan_fate(tokens, ref(10), _view())
    assert (fate.state, fate.current_ref, fate.debt) == ("open", ref(10), 1_000_006_234)
    assert fate.collateral == {Asset(QADA, ""): 5_000_000}
    assert fate.as_of_slot == 100


def test_a_loan_modified_by_its_successors_is_still_open(tokens: LiqwidTokens) -> None:
    view = _view()
    view.spend(ref(10), txid(11), slot=200, ours=True)
    view.add(ref(11, 1), address=address_text(script(ADA_LOAN_VALIDATOR)),
             assets={(ADA_LOAN, "01"): 1, (QADA, ""): 4_000_000},
             datum=loan_datum(principal=700_000_000), slot=200)
    view.add(ref(11, 0), address=WALLET, assets={}, slot=200)  # change: no loan
    view.spend(ref(11, 1), txid(12), slot=300)  # someone else's tx, e.g. a partial liquidation
    view.add(ref(12, 0), address=address_text(script(ADA_LOAN_VALIDATOR)),
             assets={(ADA_LOAN, "01"): 1, (QADA, ""): 3_000_000},
             datum=loan_datum(principal=500_000_000), slot=300)
    view.add(ref(12, 1), address=WALLET, assets={(ADA_LIQUIDATION, ""): 1}, slot=300)
    fate = loan_fate(tokens, ref(10), view)
    assert (fate.state, fate.current_ref, fate.debt) == ("open", ref(12, 0), 500_006_234)
    assert fate.collateral == {Asset(QADA, ""): 3_000_000}
    assert txid(12) in fate.reason and "partly liquidated" in fate.reason


def test_a_loan_spent_by_our_tx_is_repaid(tokens: LiqwidTokens) -> None:
    view = _view()
    view.spend(ref(10), txid(20), slot=500, ours=True)
    fate = loan_fate(tokens, ref(10), view)
    assert (fate.state, fate.spent_by, fate.debt, fate.collateral) == ("repaid", txid(20), 0, {})
    assert fate.as_of_slot == 500


def test_a_loan_spent_by_another_tx_without_liquidation_is_repaid(tokens: LiqwidTokens) -> None:
    view = _view()
    view.spend(ref(10), txid(21), slot=500)
    view.add(ref(21, 0), address=WALLET, assets={(QADA, ""): 5_000_000})  # not watched: no sign
    fate = loan_fate(tokens, ref(10), view)
    assert fate.state == "repaid" and "did not send" in fate.reason


def test_a_loan_spent_by_a_liquidation_we_did_not_send_is_liquidated(tokens: LiqwidTokens) -> None:
    view = _view()
    view.spend(ref(10), txid(22), slot=500)
    view.add(ref(22, 2), address=WALLET, assets={(ADA_LIQUIDATION, ""): 1}, slot=500)
    fate = loan_fate(tokens, ref(10), view)
    assert (fate.state, fate.spent_by, fate.debt, fate.collateral) == \
        ("liquidated", txid(22), 0, {})
    assert "Liquidation token" in fate.reason


def test_without_a_known_liquidation_policy_any_foreign_spend_is_a_liquidation(
        tokens: LiqwidTokens) -> None:
    view = _view(market_loan=SHEN_LOAN, validator=SHEN_LOAN_VALIDATOR)
    view.spend(ref(10), txid(23), slot=500)
    fate = loan_fate(tokens, ref(10), view)
    assert fate.state == "liquidated" and "policy is unknown" in fate.reason
    view.ours.add(txid(23))
    assert loan_fate(tokens, ref(10), view).state == "repaid"


def test_a_fallback_market_loan_has_a_fate_too(tokens: LiqwidTokens) -> None:
    view = MemoryChainView()
    view.add(ref(30), address=address_text(script(USDA_LOAN_VALIDATOR)),
             assets={(QADA, ""): 9}, datum=loan_datum())
    assert loan_fate(tokens, ref(30), view).state == "open"
    view.add(ref(31), address=address_text(script(USDA_LOAN_VALIDATOR)), assets={},
             datum=liqwid_hex(ACTION_AFTER))  # junk at the validator: not a loan
    assert loan_fate(tokens, ref(31), view).state == "unknown"


def test_what_cannot_be_told_is_unknown_or_refused(tokens: LiqwidTokens) -> None:
    assert loan_fate(tokens, ref(99), MemoryChainView()).state == "unknown"
    view = _view()
    view.add(ref(40), address=WALLET, assets={(QADA, ""): 1})
    assert loan_fate(tokens, ref(40), view).state == "unknown"  # not a loan UTxO
    view.spend(ref(10), txid(41))
    for index in (0, 1):  # two successors for one owner: ambiguous
        view.add(ref(41, index), address=address_text(script(ADA_LOAN_VALIDATOR)),
                 assets={(ADA_LOAN, "01"): 1}, datum=loan_datum())
    assert loan_fate(tokens, ref(10), view).state == "unknown"
    broken = _view(datum=indefinite([OWNER, 1, 2]))
    with pytest.raises(DatumLayoutError, match="Loan"):
        loan_fate(tokens, ref(10), broken)


def test_the_memory_chain_view_answers_like_the_indexer(tokens: LiqwidTokens) -> None:
    view = _view()
    assert [u.ref for u in view.unspent_with_policy(ADA_LOAN)] == [ref(10)]
    view.spend(ref(10), txid(50), slot=7)
    assert view.unspent_with_policy(ADA_LOAN) == []
    spent = view.utxo(ref(10))
    assert spent is not None and spent.spent_tx == txid(50)
    assert view.slot_time_ms(4_492_800) == 1_596_059_091_000
    assert not view.is_ours(txid(50))

