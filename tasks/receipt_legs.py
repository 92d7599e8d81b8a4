"""Building a leg at a venue that locks collateral as receipt tokens (Liqwid) in paper mode:
the I/O around execution/receipt_loan.py.

Each deposit, borrow, withdrawal and repay is one transaction the venue builds (its API,
through the venue's source) for the position's wallet, handed made-up UTxOs holding just
what the leg spends (execution/paper_wallet.py), then checked as it would be before
signing: the pre-signing check (every output, the mint, the validity window, what leaves
the wallet to the unit) and the loan check (the venue's intent against the leg). The loan
as it will be once the leg is confirmed is kept with the built leg and becomes the
position's `loan` with the leg's confirmation.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Mapping

from chain.ledger import decode_transaction
from core.units import Asset
from execution.paper_wallet import paper_utxos
from execution.receipt_loan import Ask, LoanState, ReceiptLoanError, after, ask
from protocols.base import LeverageSource
from protocols.errors import MalformedResponse, VenueError, VenueUnavailable
from protocols.model import UnsignedTx, Wallet
from trading.legs import Leg, LegKind, LegState, advance as move
from trading.positions import Position

if TYPE_CHECKING:
    from tasks.position_flow import FlowContext, Recorded

log = logging.getLogger(__name__)


def build_receipt_leg(ctx: "FlowContext", doc: Mapping[str, Any], position: Position,
                      leg: Leg, now: int) -> "Recorded":
    from tasks.position_flow import (Blocked, Recorded, check_venue_build, leg_event,
                                     wallet_network)

    def failed(reason: str) -> Recorded:
        log.warning("position leg %s: %s", leg.leg_id, reason)
        return Recorded(leg_event(move(leg, LegState.FAILED), now, reason=reason[:2000]))

    owner = str(doc["order"]["owner"])
    network = wallet_network(owner, ctx.network)
    source = ctx.venue(leg.venue, network)
    if source is None:
        return failed(f"venue {leg.venue} is not configured here")
    state = LoanState.from_doc(doc.get("loan"))
    receipt = Asset.from_unit(str(doc["order"]["receipt"]))
    collateral = position.figures.collateral.get(position.collateral_asset, 0)
    try:
        asked = ask(leg, state, receipt, collateral)
    except ReceiptLoanError as error:
        return failed(str(error))
    wallet = Wallet(owner, utxos_cbor=paper_utxos(owner, asked.spends, leg.leg_id))
    try:
        built = _call(source, asked, str(doc["order"]["market_id"]), leg, state, receipt,
                      wallet)
    except (VenueUnavailable, MalformedResponse) as error:
        raise Blocked(f"{leg.venue} build: {error}") from None
    except (VenueError, ValueError) as error:
        return failed(f"{leg.venue} refused the build: {error}")
    result = check_venue_build(ctx, built, wallet, asked.expect, now)
    if isinstance(result, str):
        return failed(result)
    tx = decode_transaction(built.cbor)
    minted = sum(q for a, q in built.intent.mint if a == receipt and q > 0)
    burned = sum(t.amount for t in built.intent.leaves if t.asset == receipt) \
        if asked.call == "withdraw" else 0
    ref = None
    if asked.call == "borrow":
        ref = next((f"{tx.id.hex()}#{i}" for i, out in enumerate(tx.outputs)
                    if any(policy.hex() == receipt.policy for policy, _ in out.assets)), None)
        if ref is None:
            return failed("the borrow's transaction locks no receipt in a loan output")
    work: dict[str, Any] = {"network_fee": str(result.fee_lovelace or 0),
                            "loan_after": after(state, asked, minted=minted, burned=burned,
                                                 ref=ref).to_doc()}
    if leg.kind is LegKind.REPAY:  # the venue counts the debt: what it takes is paid
        work["paid"] = str(sum(t.amount for t in built.intent.leaves
                               if t.asset.unit == leg.asset_in))
    return Recorded(leg_event(move(leg, LegState.BUILT, tx_id=tx.id.hex()), now),
                    {f"work.{leg.leg_id}": work})


def _call(source: LeverageSource, asked: Ask, market_id: str, leg: Leg, state: LoanState,
          receipt: Asset, wallet: Wallet) -> UnsignedTx:
    if asked.call == "lend":
        return source.build_lend(source.supply_market(receipt), leg.amount_in, wallet)
    if asked.call == "borrow":
        return source.build_borrow(market_id, leg.amount_out, receipt, state.free, wallet)
    if asked.call == "withdraw":
        return source.build_withdraw(source.supply_market(receipt), asked.amount, wallet)
    assert state.ref is not None  # ask() refuses a change to a loan not opened
    return source.build_modify_loan(state.ref, asked.debt, [(receipt, asked.locked)], wallet,
                                    redeem=asked.redeem)
