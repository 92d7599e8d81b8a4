"""Liqwid's GraphQL client and source over real HTTP against the stub (stubs/liqwid.py),
which answers from the recorded captures: the recorded bodies parse, every page is read,
loans (the CAN_BE_LIQUIDATED edge rows too), HTTP errors, timeouts, malformed JSON and
GraphQL errors each as a typed error, a retry only where it is safe, nothing returned or
kept half-way."""
from __future__ import annotations

import json
from contextlib import ExitStack
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.settings import settings_from_mapping
from core.units import ADA, UnitError
from protocols.errors import (MalformedResponse, Unsupported, VenueDisabled, VenueRefused,
                              VenueUnavailable)
from protocols.model import Wallet
from protocols.venues.liqwid import make_source as factory
from protocols.venues.liqwid.api import LiqwidApi
from protocols.venues.liqwid.ids import (BorrowCollateralId, LiqwidInputError, LoanId,
                                         MarketCollateralId)
from stubs.liqwid import LOANS_FILE, MARKETS_FILE, LiqwidStub
from stubs.server import Fault, Reply, StubServer
from tests.venues.cases import liqwid as case

PATH = "/graphql"


@pytest.fixture(scope="module")
def root() -> Path:
    return case.fixtures()


@pytest.fixture(scope="module")
def owner() -> case.CaseWallet:
    return case.make_wallet()


@pytest.fixture
def stub(root: Path, owner: case.CaseWallet) -> Iterator[StubServer]:
    with ExitStack() as stack:
        yield case.start_stub(stack, root, case.case_loan(owner.key_hash),
                              case.liquidatable_edge_row(owner.key_hash))


def source_for(stub: StubServer, root: Path, **options: Any):  # type: ignore[no-untyped-def]
    return case.make_source(stub.url + PATH, case.mainnet_tokens(), **options)


def api_for(stub: StubServer, **options: Any) -> LiqwidApi:
    source = case.make_source(stub.url + PATH, None, **options)
    assert source.api is not None
    return source.api


def recorded(root: Path, name: Path) -> Any:
    return json.loads((root / name).read_text(), parse_float=Decimal)


def graphql_posts(stub: StubServer, operation: str | None = None) -> list[Any]:
    return [r for r in stub.requests_to(PATH)
            if operation is None or (r.body or {}).get("operationName") == operation]


# --- markets ----------------------------------------------------------------------------------

def test_recorded_markets_parse_on_every_page(stub: StubServer, root: Path) -> None:
    api = api_for(stub)
    answer = api.markets(per_page=5)
    rows = recorded(root, MARKETS_FILE)["payload"]["liqwid"]["data"]["markets"]["results"]
    assert len(answer.rows) == len(rows) == 26
    pages = [r.body["variables"]["page"] for r in graphql_posts(stub, "Markets")]
    assert pages == [0, 1, 2, 3, 4, 5]  # ceil(26 / 5) pages, each once

    source = source_for(stub, root)
    markets = {m.market_id: m for m in source.fetch_markets()}
    assert set(markets) == {r["id"] for r in rows}
    for row in rows:
        market = markets[row["id"]]
        assert market.borrow_apr == row["borrowAPR"] and isinstance(market.borrow_apr, Decimal)
        assert market.supply_apy == row["supplyAPY"]
        assert market.utilisation == row["utilization"]
        assert market.borrow.decimals == row["asset"]["decimals"]
        assert market.borrow.asset.policy == row["asset"]["currencySymbol"]
        assert market.status.delisting == row["delisting"]
        assert market.status.private == row["private"]
        assert market.fees.origination == 0
        assert market.provenance.source == "api"
        # Liquidity: the recorded USD figure over the recorded price, in base units, down.
        whole = Decimal(row["liquidity"]) / Decimal(row["asset"]["price"])
        assert market.available_liquidity == int(
            whole.scaleb(row["asset"]["decimals"]).to_integral_value(ROUND_FLOOR))
    assert markets["AGIX"].status.delisting and not markets["AGIX"].status.usable
    assert markets["POL"].status.private
    # Only Ada has (crafted) parameters and a qToken; the recording has none for the others.
    ada = markets["Ada"]
    (option,) = ada.collaterals
    assert (option.max_ltv, option.liquidation_threshold, option.liquidation_penalty) == \
        (Decimal("0.704"), Decimal("0.81"), Decimal("0.10"))
    assert option.token.asset == ADA and option.held_as == case.QADA_ASSET
    assert MarketCollateralId.parse(option.venue_id) == MarketCollateralId("Ada", case.QADA)
    assert ada.receipt == case.QADA_ASSET
    assert ada.receipt_rate is not None and ada.receipt_rate.source == "api"
    assert ada.receipt_rate.underlying(10**12) == int(
        (case.ada_exchange_rate(root) * 10**12).to_integral_value(ROUND_FLOOR))
    assert all(m.collaterals == () and m.receipt is None and m.receipt_rate is None
               and m.min_size is None for k, m in markets.items() if k != "Ada")


def test_markets_without_recorded_extras_have_no_made_up_figures(root: Path) -> None:
    with StubServer(LiqwidStub(root)) as bare:
        markets = source_for(bare, root).fetch_markets()
    assert len(markets) == 26
    assert all(m.collaterals == () and m.receipt_rate is None for m in markets)


def test_a_failure_mid_pagination_gives_no_markets(stub: StubServer, root: Path) -> None:
    handler = stub.handler
    assert isinstance(handler, LiqwidStub)
    source = source_for(stub, root, attempts=2)
    source.markets_per_page = 3
    before = source.fetch_markets()
    handler.page_faults[("markets", 2)] = Reply(503, {"error": "down"})
    with pytest.raises(VenueUnavailable):
        source.fetch_markets()
    # Page 2 was asked twice (a safe read is retried); pages 0 and 1 were not kept.
    pages = [r.body["variables"]["page"] for r in graphql_posts(stub, "Markets")]
    assert pages[-4:] == [0, 1, 2, 2]
    assert source._known_markets().markets == tuple(before)
    handler.page_faults[("markets", 2)] = Reply(200, {"data": {"liqwid": {"data": {"markets": {
        "page": 2, "perPage": 3, "pagesCount": 9, "totalCount": 26, "results": "oops"}}}}})
    with pytest.raises(MalformedResponse, match="results: expected a list"):
        source.fetch_markets()
    assert source._known_markets().markets == tuple(before)


def test_a_source_keeps_its_markets_when_a_refresh_fails(stub: StubServer, root: Path) -> None:
    source = source_for(stub, root, attempts=1)
    before = source.fetch_markets()
    stub.fail_next(PATH, Fault(malformed=True))
    with pytest.raises(MalformedResponse):
        source.fetch_markets()
    assert source._known_markets().markets == tuple(before)


def test_a_list_that_changes_between_pages_is_refused(stub: StubServer, root: Path) -> None:
    handler = stub.handler
    assert isinstance(handler, LiqwidStub)
    page1 = {"data": {"liqwid": {"data": {"markets": {
        "page": 1, "perPage": 20, "pagesCount": 2, "totalCount": 27, "results": []}}}}}
    handler.page_faults[("markets", 1)] = Reply(200, page1)
    with pytest.raises(MalformedResponse, match="changed while it was read"):
        api_for(stub).markets(per_page=20)


# --- loans ------------------------------------------------------------------------------------

def test_recorded_loans_by_payment_key_and_filter(stub: StubServer, root: Path) -> None:
    api = api_for(stub)
    rows = recorded(root, LOANS_FILE)["payload"]["results"]
    owner = "ab4016e775734957466338ed9e48d682b75e7391e3890a52f5a645d0"  # three recorded loans
    loans = api.loans(payment_keys=[owner])
    assert [loan.owner for loan in loans] == [owner] * 3
    assert [loan.collaterals[0].qtoken_name for loan in loans] == ["qMIN", "qMIN", "qSNEK"]
    assert all(loan.health.known and loan.loan_id is None for loan in loans)

    every = api.loans(filters=["HAS_DEBT"], per_page=10)  # 25 recorded + 2 crafted rows
    assert len(every) == len(rows) + 2
    assert [r.body["variables"]["input"]["page"] for r in graphql_posts(stub, "Loans")][-3:] \
        == [0, 1, 2]
    first = every[0]
    assert first.collaterals[0].qtokens == Decimal("24993.609217")
    assert first.health.health_factor == Decimal("1.8377302862468479")


def test_can_be_liquidated_edge_rows_have_unknown_health(stub: StubServer, root: Path,
                                                          owner: case.CaseWallet) -> None:
    api = api_for(stub)
    loans = api.loans(filters=["CAN_BE_LIQUIDATED"])
    (edge,) = [loan for loan in loans if not loan.collaterals]
    assert not edge.health.known
    assert edge.health.health_factor is None and edge.health.ltv is None
    assert "no collateral" in edge.health.reason
    assert edge.loan_id is not None and edge.loan_id.index == 1

    lines = source_for(stub, root).fetch_loans(owner.wallet.address)
    by_id = {line["id"]: line for line in lines}
    edge_line = by_id[str(edge.loan_id)]
    assert edge_line["health"] == "unknown" and edge_line["health_factor"] is None
    assert edge_line["ltv"] is None and edge_line["collaterals"] == []
    assert edge_line["debt"] == 12_500_000  # 12.5 ADA in lovelace
    loan_line = by_id[f"{case.LOAN_TX}-0"]
    assert loan_line["ref"] == case.LOAN_REF and loan_line["health"] == "known"
    assert loan_line["collaterals"][0]["qtokens"] == 24_993_609_217
    json.dumps(lines)  # one JSON line each: nothing that JSON cannot say


def test_unknown_loan_filters_are_ours_to_refuse(stub: StubServer) -> None:
    with pytest.raises(LiqwidInputError):
        api_for(stub).loans(filters=["NOT_A_FILTER"])
    assert graphql_posts(stub) == []


# --- marketParamsHistory ---------------------------------------------------------------------

def test_market_params_history(stub: StubServer) -> None:
    api = api_for(stub)
    rows = api.market_params_history("Ada", start_date="2020-01-01", end_date="2026-07-16")
    assert len(rows) == 31
    assert all(r.income_ratio_sum == 10 and r.kink <= 1 for r in rows)
    assert rows[0].supply_cap is None and rows[0].borrow_cap == Decimal("0.8")
    assert any(r.tx_hash.startswith("1c280d01") for r in rows)
    assert len(api.market_params_history("Ada", start_date="2026-01-01")) < 31
    with pytest.raises(VenueRefused, match="no marketParamsHistory recorded"):
        api.market_params_history("DJED")


# --- HTTP failures ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried_then_unavailable(stub: StubServer, status: int) -> None:
    api = api_for(stub, attempts=3)
    stub.fail_next(PATH, Fault(status=status, body={"error": "boom"}), times=2)
    assert len(api.markets().rows) == 26  # two failures, then the answer
    assert len(graphql_posts(stub)) == 3
    stub.fail_next(PATH, Fault(status=status), times=3)
    with pytest.raises(VenueUnavailable, match=f"HTTP {status}"):
        api.markets()
    assert len(graphql_posts(stub)) == 6


def test_a_timeout_is_unavailable(stub: StubServer) -> None:
    api = api_for(stub, timeout_s=0.3, attempts=2)
    stub.fail_next(PATH, Fault(delay_s=1.0), times=2)
    with pytest.raises(VenueUnavailable, match="no answer within 0.3s"):
        api.markets()


def test_malformed_json_is_malformed_and_not_retried(stub: StubServer) -> None:
    api = api_for(stub, attempts=3)
    stub.fail_next(PATH, Fault(malformed=True))
    with pytest.raises(MalformedResponse):
        api.markets()
    assert len(graphql_posts(stub)) == 1


def test_fields_of_the_wrong_type_are_malformed(stub: StubServer) -> None:
    bad = {"data": {"liqwid": {"data": {"markets": {
        "page": 0, "perPage": 100, "pagesCount": 1, "totalCount": 1,
        "results": [{"id": "Ada", "asset": {"currencySymbol": "", "name": "", "decimals": None},
                     "liquidity": 1}]}}}}}
    stub.fail_next(PATH, Fault(status=200, body=bad))
    source = case.make_source(stub.url + PATH, None)
    with pytest.raises(MalformedResponse, match="decimals.*refusing to guess"):
        source.fetch_markets()


def test_graphql_errors_are_refusals(stub: StubServer) -> None:
    api = api_for(stub, attempts=3)
    stub.fail_next(PATH, Fault(status=200, body={"errors": [{"message": "rate limited, sorry"}],
                                                 "data": None}))
    with pytest.raises(VenueRefused, match="rate limited, sorry"):
        api.markets()
    assert len(graphql_posts(stub)) == 1  # a refusal is not retried


# --- builders: the id forms, the venue's own refusals -------------------------------------------

def test_each_collateral_id_form_is_refused_where_another_is_wanted(
        stub: StubServer, owner: case.CaseWallet) -> None:
    api = api_for(stub)
    wallet = owner.wallet
    with pytest.raises(LiqwidInputError):
        api.build_borrow("Ada", 1, [(MarketCollateralId("Ada", case.QADA), 1)],  # type: ignore[list-item]
                         wallet)
    with pytest.raises(LiqwidInputError):
        api.build_modify_borrow(LoanId.parse(f"{case.LOAN_TX}-0"), 0,
                                [(BorrowCollateralId("Ada"), 1)], wallet)  # type: ignore[list-item]
    with pytest.raises(LiqwidInputError, match="needs <txHash>-<index>"):
        api.build_modify_borrow(LoanId.parse(case.LOAN_TX), 0, [], wallet)
    with pytest.raises(LiqwidInputError, match="at least one collateral"):
        api.build_borrow("Ada", 1, [], wallet)
    assert graphql_posts(stub) == []  # all refused before any request


def test_the_stub_answers_wrong_forms_with_liqwids_messages(
        stub: StubServer, owner: case.CaseWallet) -> None:
    api = api_for(stub)
    common = {"address": owner.wallet.address, "changeAddress": owner.wallet.address,
              "otherAddresses": [], "utxos": list(owner.wallet.utxos_cbor)}
    from protocols.venues.liqwid.api import BORROW_QUERY, MODIFY_BORROW_QUERY

    with pytest.raises(VenueRefused, match="Valid collaterals: qAda,Ada"):
        api._call("Borrow", BORROW_QUERY, {"input": {
            **common, "marketId": "Ada", "amount": 5,
            "collaterals": [{"id": f"Ada.{case.QADA}", "amount": 5}]}})
    with pytest.raises(VenueRefused, match="Collateral not found"):
        api._call("ModifyBorrow", MODIFY_BORROW_QUERY, {"input": {
            **common, "txId": f"{case.LOAN_TX}-0", "amount": 0,
            "collaterals": [{"id": "qAda", "amount": 5}]}})
    with pytest.raises(VenueRefused, match="NaN cannot be converted to a BigInt"):
        api._call("ModifyBorrow", MODIFY_BORROW_QUERY, {"input": {
            **common, "txId": case.LOAN_TX, "amount": 0, "collaterals": []}})


def test_builds_are_refused_without_what_they_need(stub: StubServer, root: Path,
                                                  owner: case.CaseWallet) -> None:
    wallet = owner.wallet
    no_tokens = case.make_source(stub.url + PATH, None)
    with pytest.raises(Unsupported, match="no Liqwid token data"):
        no_tokens.build_lend("Ada", 100_000_000, wallet)
    source = source_for(stub, root)
    with pytest.raises(UnitError, match="qToken is unknown"):
        source.build_lend("DJED", 100_000_000, wallet)  # no receiptAsset recorded
    with pytest.raises(LiqwidInputError, match="delisting"):
        source.build_lend("AGIX", 100_000_000, wallet)
    with pytest.raises(LiqwidInputError, match="Liqwid locks qTokens"):
        source.build_borrow("Ada", 1_000_000, ADA, 10_000_000, wallet)
    with pytest.raises(LiqwidInputError, match="partial repay"):
        source.build_repay(case.LOAN_REF, 40_572_250, wallet)  # the whole debt: not partial
    with pytest.raises(LiqwidInputError, match="UTxOs are needed"):
        source.build_lend("Ada", 100_000_000, Wallet(address=wallet.address))
    with pytest.raises(Unsupported, match="no pending user orders"):
        source.build_cancel(case.LOAN_REF, wallet)


def test_a_built_supply_pays_the_action_utxo(stub: StubServer, root: Path,
                                             owner: case.CaseWallet) -> None:
    from chain.ledger import decode_transaction

    built = source_for(stub, root).build_lend("Ada", 100_000_000, owner.wallet)
    tx = decode_transaction(built.cbor)
    (to_action,) = built.intent.to_venue
    action_out = next(o for o in tx.outputs if o.address == to_action.party)
    assert action_out.address_bytes[0] >> 4 == 7  # a script address
    assert action_out.lovelace >= 100_000_000
    assert built.built_by == "venue-api" and built.intent.settles == "now"
    (minted,) = built.intent.comes_back
    assert tx.mint == {(bytes.fromhex(case.QADA), b""): minted.amount}
    sent = graphql_posts(stub, "Supply")[-1].body["variables"]["input"]
    assert sent["amount"] == 100_000_000 and sent["marketId"] == "Ada"
    assert sent["utxos"] == list(owner.wallet.utxos_cbor)


# --- submit -------------------------------------------------------------------------------------

def test_submit_is_sent_once(stub: StubServer, root: Path, owner: case.CaseWallet) -> None:
    source = source_for(stub, root, attempts=3)
    built = source.build_lend("Ada", 100_000_000, owner.wallet)
    witnesses = bytes.fromhex("a0")
    tx_id = source.submit(built.cbor, witnesses)
    assert len(tx_id) == 64 and len(graphql_posts(stub, "SubmitTx")) == 1
    stub.fail_next(PATH, Fault(status=503))
    with pytest.raises(VenueUnavailable):
        source.submit(built.cbor, witnesses)
    assert len(graphql_posts(stub, "SubmitTx")) == 2  # one more, not three
    stub.fail_next(PATH, Fault(delay_s=1.0))
    quick = case.make_source(stub.url + PATH, case.mainnet_tokens(), timeout_s=0.3, attempts=3)
    with pytest.raises(VenueUnavailable):
        quick.submit(built.cbor, witnesses)
    assert len(graphql_posts(stub, "SubmitTx")) == 3
    with pytest.raises(VenueRefused, match="SubmitFail"):
        source.submit(b"\x00", witnesses)


# --- registration and state ---------------------------------------------------------------------

def test_the_registered_factory(stub: StubServer) -> None:
    off = factory(settings_from_mapping({"VENUES": "surf"}))
    assert not off.enabled and "not in VENUES" in (off.disabled_reason or "")
    assert off.watch.needles == []
    with pytest.raises(VenueDisabled):
        off.fetch_markets()
    on = factory(settings_from_mapping({"LIQWID_API_URL": stub.url + PATH,
                                        "CARDANO_NETWORK": "preprod"}))
    assert on.enabled and on.venue == "liqwid"
    assert on.watch.needles == [] and "no UTxO is watched" in (on.watch_note or "")
    assert len(on.fetch_markets()) == 26  # markets from the API all the same
    mainnet = factory(settings_from_mapping({"LIQWID_API_URL": stub.url + PATH}))
    assert mainnet.watch_note is None and mainnet.tokens is not None
    action = bytes.fromhex("7807209cec9f79c9f6cf5bea2ab7826e6e46b6a7583a337b7e20fb36")
    assert action in mainnet.watch.policies
    assert bytes.fromhex(case.QADA) not in mainnet.watch.policies  # users hold qTokens


def test_the_stubs_loan_token_is_one_the_token_data_knows() -> None:
    loans = case.mainnet_tokens().policies_of("loan", "Ada")  # type: ignore[attr-defined]
    assert bytes.fromhex(case.LOAN_TOKEN) in loans


def test_make_handler_is_what_python_m_stubs_serves(root: Path, tmp_path: Path) -> None:
    from stubs.liqwid import make_handler

    handler = make_handler(root)
    assert isinstance(handler, LiqwidStub)
    server = StubServer(handler, port=0).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert len(api_for(server).markets().rows) == 26
    finally:
        server.stop()
    with pytest.raises(OSError):
        make_handler(tmp_path)


@pytest.mark.parametrize("paper", [True, False])
def test_paper_loans_open_change_and_end_with_the_builds(root: Path, owner: case.CaseWallet,
                                                         paper: bool) -> None:
    """A paper stub: the borrow it builds is a loan at once, under its loan output's ref;
    a partial repay lowers its debt; a full repay ends it. A recording stub keeps no such
    loan (nothing was submitted)."""
    from chain.ledger import decode_transaction

    with ExitStack() as stack:
        stub = StubServer(LiqwidStub(root, market_extras=case.market_extras(root),
                                     paper_loans=paper))
        stack.enter_context(stub)
        source = source_for(stub, root)
        built = source.build_borrow("Ada", 10_000_000, case.QADA_ASSET, 5_000_000_000,
                                    owner.wallet)
        loans = source.loans(owner.wallet.address)
        if not paper:
            assert loans == []
            return
        [loan] = loans
        assert loan.loan_id is not None
        assert loan.loan_id.tx_hash == decode_transaction(built.cbor).id.hex()
        assert loan.debt == Decimal(10) and loan.market_id == "Ada"
        assert [c.qtokens for c in loan.collaterals] == [Decimal(5000)]
        ref = f"{loan.loan_id.tx_hash}#{loan.loan_id.index}"
        source.build_repay(ref, 4_000_000, owner.wallet)
        [loan] = source.loans(owner.wallet.address)
        assert loan.debt == Decimal(6)
        source.build_repay(ref, None, owner.wallet)
        assert source.loans(owner.wallet.address) == []
