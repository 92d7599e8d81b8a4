"""Liqwid in paper mode: the stub's paper markets (Ada and DJED with their qTokens, rates and
collateral options) and a looped loan's whole life through LiqwidSource — supply, borrow,
borrow more locking more, withdraw with redemption, repay in full with redemption — each
build from made-up wallet UTxOs and each passing the pre-signing check."""
from __future__ import annotations

import time
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import pytest

from chain.ledger import decode_transaction
from chain.slots import ms_to_slot
from core.units import ADA, Asset
from execution.check import check_transaction
from execution.expectation import Expectation
from execution.paper_wallet import paper_utxos
from protocols.model import Intent, UnsignedTx, Wallet
from protocols.venues.liqwid.source import LiqwidSource
from stubs.liqwid import LiqwidStub
from stubs.liqwid_paper import QADA, QDJED
from stubs.server import StubServer
from tests.venues.cases import liqwid as case

DJED = Asset("8db269c3ec630e06ae29f74bc39edd1f87c819f1056206e879a1cd61", "446a65644d6963726f555344")
QDJED_ASSET, QADA_ASSET = Asset(QDJED, ""), Asset(QADA, "")


@pytest.fixture(scope="module")
def root() -> Path:
    return case.fixtures()


@pytest.fixture()
def source(root: Path) -> Iterator[LiqwidSource]:
    with ExitStack() as stack:
        stub = StubServer(LiqwidStub(root, paper_loans=True, paper_markets=True))
        stack.enter_context(stub)
        yield case.make_source(stub.url + "/graphql", case.mainnet_tokens())


ADDRESS = case.make_wallet("liqwid paper wallet").wallet.address


def wallet(spends: dict[Asset, int], label: str) -> Wallet:
    return Wallet(ADDRESS, utxos_cbor=paper_utxos(ADDRESS, spends, label))


def now_slot() -> int:
    return ms_to_slot("mainnet", int(time.time() * 1000))


def checked(built: UnsignedTx, used: Wallet) -> Intent:
    result = check_transaction(built.cbor, Expectation.for_wallet(built.intent, used,
                                                                  fee_cap=1_000_000),
                               readers=(), now_slot=now_slot(), network="mainnet")
    assert result.ok, result.reasons
    return built.intent


def amounts(transfers: tuple) -> dict[Asset, int]:  # type: ignore[type-arg]
    found: dict[Asset, int] = {}
    for t in transfers:
        found[t.asset] = found.get(t.asset, 0) + t.amount
    return found


def test_paper_markets_offer_qdjed_on_ada_and_qada_on_djed(source: LiqwidSource) -> None:
    markets = {m.market_id: m for m in source.fetch_markets()}
    ada, djed = markets["Ada"], markets["DJED"]
    [on_ada] = ada.collaterals
    [on_djed] = djed.collaterals
    assert (on_ada.token.asset, on_ada.held_as) == (DJED, QDJED_ASSET)
    assert (on_djed.token.asset, on_djed.held_as) == (ADA, QADA_ASSET)
    assert on_ada.max_ltv == Decimal("0.704") and on_ada.liquidation_threshold == Decimal("0.81")
    assert ada.receipt == QADA_ASSET and djed.receipt == QDJED_ASSET
    assert djed.receipt_rate is not None and djed.receipt_rate.receipts_for_deposit(10**6) == 50 * 10**6
    assert ada.receipt_rate is not None and ada.receipt_rate.receipts_for_deposit(10**6) > 40 * 10**6
    # Other markets stay as recorded: nothing invented for them.
    assert markets["SNEK"].collaterals == () and markets["SNEK"].receipt is None


def test_a_looped_long_djed_loan_from_supply_to_full_repay(source: LiqwidSource) -> None:
    source.fetch_markets()
    # Supply 100 DJED: 5,000 qDJED come back at the rate 0.02.
    used = wallet({DJED: 100_000_000}, "supply 1")
    supply = checked(source.build_lend("DJED", 100_000_000, used), used)
    assert amounts(supply.comes_back) == {QDJED_ASSET: 5_000_000_000}
    # Borrow 300 ADA locking them.
    used = wallet({QDJED_ASSET: 5_000_000_000}, "borrow")
    built = source.build_borrow("Ada", 300_000_000, QDJED_ASSET, 5_000_000_000, used)
    checked(built, used)
    [loan] = source.loans(ADDRESS)
    assert loan.loan_id is not None and loan.debt == Decimal(300)
    ref = f"{loan.loan_id.tx_hash}#{loan.loan_id.index}"
    # Borrow 50 more, locking 2,500 more qDJED (targets: 350 ADA owed, 7,500 qDJED locked).
    used = wallet({QDJED_ASSET: 2_500_000_000}, "more")
    more = source.build_modify_loan(ref, 350_000_000, [(QDJED_ASSET, 7_500_000_000)], used)
    intent = checked(more, used)
    assert intent.action == "borrow"
    assert amounts(intent.leaves) == {QDJED_ASSET: 2_500_000_000}
    assert amounts(intent.comes_back) == {ADA: 50_000_000}
    [loan] = source.loans(ADDRESS)
    assert loan.debt == Decimal(350) and [c.qtokens for c in loan.collaterals] == [Decimal(7500)]
    # Withdraw 1,000 qDJED of collateral, redeemed: 20 DJED come back, the debt stays.
    used = wallet({}, "withdraw")
    out = source.build_modify_loan(ref, 350_000_000, [(QDJED_ASSET, 6_500_000_000)], used,
                                   redeem=True)
    intent = checked(out, used)
    assert intent.action == "withdraw_collateral"
    assert amounts(intent.leaves) == {} and amounts(intent.comes_back) == {DJED: 20_000_000}
    tx = decode_transaction(out.cbor)
    assert tx.mint.get((bytes.fromhex(QDJED), b"")) == -1_000_000_000
    # Repay in full, redeemed: the rest of the collateral comes back as DJED.
    used = wallet({ADA: 350_000_000}, "repay")
    end = source.build_modify_loan(ref, 0, [], used, redeem=True)
    intent = checked(end, used)
    assert intent.action == "repay"
    assert amounts(intent.leaves) == {ADA: 350_000_000}
    assert amounts(intent.comes_back) == {DJED: 130_000_000}
    assert source.loans(ADDRESS) == []


def test_the_check_sees_a_paper_wallet_pay_what_the_intent_does_not_say(
        source: LiqwidSource) -> None:
    """The made-up UTxOs are the wallet's whole balance: an intent that understates what
    leaves is refused."""
    source.fetch_markets()
    used = wallet({DJED: 100_000_000}, "supply understated")
    built = source.build_lend("DJED", 100_000_000, used)
    from dataclasses import replace

    lying = replace(built, intent=replace(built.intent, leaves=()))
    result = check_transaction(built.cbor, Expectation.for_wallet(lying.intent, used,
                                                                  fee_cap=1_000_000),
                               readers=(), now_slot=now_slot(), network="mainnet")
    assert not result.ok
    assert any("leaves our wallets" in r for r in result.reasons), result.reasons
