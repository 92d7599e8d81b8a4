"""execution/receipt_loan.py: what each leg of a position at a venue that locks receipt
tokens (Liqwid) asks of its one loan, and the loan after it; execution/paper_wallet.py:
the made-up UTxOs a paper wallet hands such a venue."""
from __future__ import annotations

import cbor2
import pytest

from core.settings import Settings
from core.units import ADA, Asset
from execution.expectation import wallet_utxos
from execution.paper_wallet import PAPER_FLOAT_LOVELACE, PAPER_TOKEN_LOVELACE, paper_utxos
from execution.receipt_loan import LoanState, ReceiptLoanError, after, ask
from protocols.model import Wallet
from trading.legs import Leg, LegKind

TOK = Asset("ab" * 28, "544f4b")
QTOK = Asset("cd" * 28, "")
WALLET = Settings().paper_wallet_address


def leg(kind: LegKind, asset_in: str | None = None, amount_in: int = 0,
        asset_out: str | None = None, amount_out: int = 0) -> Leg:
    step = f"open-00-{kind.value.replace('_', '-')}"
    return Leg(f"{step}-a1", kind, "liqwid", step, 1, asset_in, amount_in, asset_out,
               amount_out)


def test_a_long_loan_from_first_supply_to_the_repay_that_ends_it() -> None:
    state = LoanState()
    # Supply 100 TOK: the receipts come to the wallet, free.
    supply = ask(leg(LegKind.DEPOSIT_COLLATERAL, TOK.unit, 100), state, QTOK, 0)
    assert (supply.call, dict(supply.spends)) == ("lend", {TOK: 100})
    assert (supply.expect.kind, supply.expect.sent_asset, supply.expect.sent) == ("lend", TOK, 100)
    state = after(state, supply, minted=5_000)
    assert state == LoanState(None, 0, 0, 5_000)
    # The first borrow opens the loan, locking every free receipt.
    first = ask(leg(LegKind.BORROW, asset_out=ADA.unit, amount_out=60), state, QTOK, 100)
    assert (first.call, dict(first.spends), first.debt, first.locked) == \
        ("borrow", {QTOK: 5_000}, 60, 5_000)
    assert (first.expect.received_asset, first.expect.received) == (ADA, 60)
    state = after(state, first, ref="aa" * 32 + "#1")
    assert state == LoanState("aa" * 32 + "#1", 60, 5_000, 0)
    # A later supply and borrow grow it to a target: asked twice, the same target.
    state = after(state, ask(leg(LegKind.DEPOSIT_COLLATERAL, TOK.unit, 60), state, QTOK, 100),
                  minted=3_000)
    more = ask(leg(LegKind.BORROW, asset_out=ADA.unit, amount_out=36), state, QTOK, 160)
    assert more == ask(leg(LegKind.BORROW, asset_out=ADA.unit, amount_out=36), state, QTOK, 160)
    assert (more.call, more.debt, more.locked, dict(more.spends)) == \
        ("modify", 96, 8_000, {QTOK: 3_000})
    state = after(state, more)
    assert state == LoanState("aa" * 32 + "#1", 96, 8_000, 0)
    # A withdrawal of a quarter of the collateral frees a quarter of the receipts,
    # redeemed; the debt stays.
    out = ask(leg(LegKind.WITHDRAW_COLLATERAL, asset_out=TOK.unit, amount_out=40), state, QTOK,
              160)
    assert (out.call, out.debt, out.locked, out.redeem, dict(out.spends)) == \
        ("modify", 96, 6_000, True, {})
    assert (out.expect.kind, out.expect.received_asset, out.expect.received) == \
        ("withdraw_collateral", TOK, 40)
    state = after(state, out)
    # A partial repay lowers the debt and keeps the collateral.
    part = ask(leg(LegKind.REPAY, ADA.unit, 50), state, QTOK, 120)
    assert (part.debt, part.locked, part.expect.sent) == (46, 6_000, 50)
    assert part.spends[ADA] >= 50
    state = after(state, part)
    # The repay that ends the loan releases (redeemed) what it still locks.
    end = ask(leg(LegKind.REPAY, ADA.unit, 46, TOK.unit, 120), state, QTOK, 120)
    assert (end.debt, end.locked, end.redeem) == (0, 0, True)
    assert (end.expect.kind, end.expect.sent, end.expect.received_asset) == ("repay", 46, TOK)
    assert 119 <= end.expect.received <= 120
    assert after(state, end) == LoanState(None, 0, 0, 0)


def test_collateral_added_is_supplied_then_locked() -> None:
    state = LoanState("cc" * 32 + "#0", 100, 8_000, 0)
    state = after(state, ask(leg(LegKind.DEPOSIT_COLLATERAL, TOK.unit, 20), state, QTOK, 160),
                  minted=1_000)
    assert state.free == 1_000
    lock = ask(leg(LegKind.LOCK_COLLATERAL, QTOK.unit, 999), state, QTOK, 180)
    assert (lock.call, lock.debt, lock.locked, dict(lock.spends)) == \
        ("modify", 100, 9_000, {QTOK: 1_000})  # what the supply brought, not the estimate
    assert (lock.expect.kind, lock.expect.sent) == ("add_collateral", 1_000)
    assert after(state, lock) == LoanState("cc" * 32 + "#0", 100, 9_000, 0)
    with pytest.raises(ReceiptLoanError, match="nothing supplied"):
        ask(leg(LegKind.LOCK_COLLATERAL, QTOK.unit, 1), LoanState("cc" * 32 + "#0", 1, 1, 0),
            QTOK, 1)


def test_what_cannot_be_asked_of_the_loan() -> None:
    with pytest.raises(ReceiptLoanError, match="nothing is"):
        ask(leg(LegKind.BORROW, asset_out=ADA.unit, amount_out=1), LoanState(), QTOK, 0)
    with pytest.raises(ReceiptLoanError, match="none is open"):
        ask(leg(LegKind.REPAY, ADA.unit, 1), LoanState(free=5), QTOK, 0)
    # Supplied receipts a failed borrow never locked, beside an open loan: refused.
    with pytest.raises(ReceiptLoanError, match="never locked"):
        ask(leg(LegKind.REPAY, ADA.unit, 1), LoanState("bb" * 32 + "#0", 10, 700, 50), QTOK, 0)
    # No loan (the open failed before it): a plain withdrawal of what was supplied, one
    # unit less than all of it, burning at most the receipts held.
    plain = ask(leg(LegKind.WITHDRAW_COLLATERAL, asset_out=TOK.unit, amount_out=100),
                LoanState(free=5_000), QTOK, 100)
    assert (plain.call, plain.amount, dict(plain.spends)) == ("withdraw", 99, {QTOK: 5_000})
    assert (plain.expect.kind, plain.expect.sent, plain.expect.received_asset) == \
        ("withdraw", 5_000, TOK)
    assert after(LoanState(free=5_000), plain, burned=4_950) == LoanState(free=50)
    with pytest.raises(ReceiptLoanError, match="nothing supplied"):
        ask(leg(LegKind.WITHDRAW_COLLATERAL, asset_out=TOK.unit, amount_out=100), LoanState(),
            QTOK, 100)
    # A repay in full without a release gives the receipts back to the wallet, unredeemed.
    state = LoanState("bb" * 32 + "#0", 10, 700, 0)
    whole = ask(leg(LegKind.REPAY, ADA.unit, 10), state, QTOK, 14)
    assert (whole.debt, whole.redeem) == (0, False)
    assert after(state, whole) == LoanState(None, 0, 0, 700)


def test_a_paper_wallet_holds_what_the_leg_spends_and_a_small_float() -> None:
    pairs = paper_utxos(WALLET, {TOK: 100, ADA: 5}, "leg-1")
    assert pairs == paper_utxos(WALLET, {TOK: 100, ADA: 5}, "leg-1")  # the same leg, the same
    assert pairs != paper_utxos(WALLET, {TOK: 100, ADA: 5}, "leg-2")
    values = list(wallet_utxos(Wallet(WALLET, pairs)).values())
    assert values[0] == {ADA: PAPER_FLOAT_LOVELACE}  # ADA only: the script collateral
    assert values[1] == {ADA: 5 + PAPER_TOKEN_LOVELACE, TOK: 100}
    ref, out = cbor2.loads(bytes.fromhex(pairs[1]))
    assert ref[1] == 1 and out[0][0] & 0x0F == 1  # a mainnet address
    assert len(paper_utxos(WALLET, {}, "leg-3")) == 1
