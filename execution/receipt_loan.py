"""A position's loan at a venue that locks collateral as receipt tokens (Liqwid), and what
each of the position's legs asks of the venue. Pure.

The engine keeps one loan per position there:
- a deposit supplies the collateral: its receipts (qTokens) come to the wallet, free;
- a borrow locks every free receipt: the first opens the loan, later ones raise its debt
  and its collateral in one modifyBorrow;
- a withdrawal frees receipts from the loan and redeems them (the underlying comes back);
- a repay lowers the debt; the one that ends the loan frees and redeems all it locks.
Every change is asked as a target (the debt and the receipts the loan should hold after
it), so building a leg twice asks for the same loan.

`LoanState` is what the engine knows of the loan after its last confirmed leg; it is
stored on the position with that leg's confirmation (one compare-and-set).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from core.units import ADA, Asset
from execution.loan_check import REPAY_DRIFT, LoanLeg
from trading.legs import Leg, LegKind

#: A redemption may give back this much less than planned (a fraction): the receipts
#: freed are the planned share of those locked, rounded, at the venue's rate now.
REDEEM_SHORTFALL = (1, 1000)


@dataclass(frozen=True)
class LoanState:
    ref: str | None = None  # the loan, once opened
    debt: int = 0  # what the last change asked the loan to owe (base units)
    locked: int = 0  # receipt units in the loan
    free: int = 0  # receipt units supplied, in the wallet

    def to_doc(self) -> dict[str, Any]:
        return {"ref": self.ref, "debt": str(self.debt), "locked": str(self.locked),
                "free": str(self.free)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> "LoanState":
        if not doc:
            return cls()
        return cls(doc.get("ref"), int(doc["debt"]), int(doc["locked"]), int(doc["free"]))


@dataclass(frozen=True)
class Ask:
    """One venue call: `call` is lend, borrow, modify or withdraw; `locked` the receipts
    the loan should hold after it, `debt` its debt; `amount` the underlying a plain
    withdrawal asks for; `spends` what the wallet gives."""

    call: str
    spends: Mapping[Asset, int]
    expect: LoanLeg
    debt: int = 0
    locked: int = 0
    redeem: bool = False
    amount: int = 0


class ReceiptLoanError(ValueError):
    """The leg cannot be asked of the loan as the engine knows it."""


def ask(leg: Leg, state: LoanState, receipt: Asset, collateral: int) -> Ask:
    """What `leg` asks of the venue, given the loan now and the position's `collateral`
    (underlying base units at the venue, from its confirmed legs)."""
    kind = leg.kind
    if kind is LegKind.DEPOSIT_COLLATERAL:
        asset = Asset.from_unit(leg.asset_in or "")
        return Ask("lend", {asset: leg.amount_in},
                   LoanLeg("lend", asset, leg.amount_in, receipt, 1))
    if kind is LegKind.BORROW:
        asset = Asset.from_unit(leg.asset_out or "")
        if state.free <= 0:
            raise ReceiptLoanError("a borrow locks what was supplied before it: nothing is")
        return Ask("borrow" if state.ref is None else "modify", {receipt: state.free},
                   LoanLeg("borrow", receipt, state.free, asset, leg.amount_out),
                   debt=state.debt + leg.amount_out, locked=state.locked + state.free)
    if kind is LegKind.WITHDRAW_COLLATERAL and state.ref is None:
        # No loan (an open that failed before its first borrow): the supplied receipts are
        # in the wallet; a plain withdrawal redeems them. All of them: one unit less is
        # asked, as Liqwid's own app does, so the receipts burned (rounded up) are there.
        asset = Asset.from_unit(leg.asset_out or "")
        amount = leg.amount_out - 1 if leg.amount_out >= collateral else leg.amount_out
        if state.free <= 0 or amount <= 0:
            raise ReceiptLoanError("nothing supplied is left to withdraw")
        return Ask("withdraw", {receipt: state.free},
                   LoanLeg("withdraw", receipt, state.free, asset, _least(amount)),
                   amount=amount)
    if state.ref is None:
        raise ReceiptLoanError(f"a {kind.value} needs the loan, and none is open")
    if kind is LegKind.LOCK_COLLATERAL:
        if state.free <= 0:
            raise ReceiptLoanError("nothing supplied is waiting to be locked")
        return Ask("modify", {receipt: state.free},
                   LoanLeg("add_collateral", receipt, state.free, receipt, 0),
                   debt=state.debt, locked=state.locked + state.free)
    if state.free and kind is not LegKind.DEPOSIT_COLLATERAL:
        raise ReceiptLoanError(f"{state.free} receipt units were supplied but never locked "
                               f"(a borrow after them failed): unwinding them beside the "
                               f"loan is not done yet")
    if kind is LegKind.WITHDRAW_COLLATERAL:
        asset = Asset.from_unit(leg.asset_out or "")
        freed = state.locked if leg.amount_out >= collateral else \
            -(-leg.amount_out * state.locked // max(collateral, 1))
        return Ask("modify", {}, LoanLeg("withdraw_collateral", ADA, 0, asset,
                                         _least(leg.amount_out)),
                   debt=state.debt, locked=state.locked - freed, redeem=True)
    if kind is LegKind.REPAY:
        asset = Asset.from_unit(leg.asset_in or "")
        if leg.asset_out is not None or leg.amount_in >= state.debt:  # ends the loan
            back = Asset.from_unit(leg.asset_out) if leg.asset_out else receipt
            released = _least(leg.amount_out) if leg.asset_out else 0
            return Ask("modify", {asset: _with_room(max(leg.amount_in, state.debt))},
                       LoanLeg("repay", asset, state.debt, back, released),
                       debt=0, locked=0, redeem=leg.asset_out is not None)
        return Ask("modify", {asset: _with_room(leg.amount_in)},
                   LoanLeg("repay", asset, leg.amount_in, asset, 0),
                   debt=state.debt - leg.amount_in, locked=state.locked)
    raise ReceiptLoanError(f"no venue call for a {kind.value} leg")


def after(state: LoanState, asked: Ask, *, minted: int = 0, burned: int = 0,
          ref: str | None = None) -> LoanState:
    """The loan once `asked` is done: `minted` receipts a supply brought, `burned` those
    a plain withdrawal took, `ref` the loan a first borrow opened."""
    if asked.call == "lend":
        return replace(state, free=state.free + minted)
    if asked.call == "withdraw":  # `burned`: the receipts the withdrawal took
        return replace(state, free=state.free - burned)
    if asked.call == "borrow":
        return LoanState(ref, asked.debt, asked.locked, 0)
    if asked.debt == 0:  # the loan ended: what it locked is redeemed, or back as receipts
        return LoanState(None, 0, 0, state.free + (0 if asked.redeem else state.locked))
    locks = asked.expect.kind in ("borrow", "add_collateral")  # every free receipt
    return replace(state, debt=asked.debt, locked=asked.locked,
                   free=0 if locks else state.free)


def _with_room(amount: int) -> int:
    """What a paper wallet holds to repay `amount`: the venue counts the debt, which
    may have grown since (loan_check.REPAY_DRIFT)."""
    return amount + -(-amount * REPAY_DRIFT[0] // REPAY_DRIFT[1])


def _least(planned: int) -> int:
    return planned - planned * REDEEM_SHORTFALL[0] // REDEEM_SHORTFALL[1]
