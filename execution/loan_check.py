"""What a venue's loan transaction says it does, against the leg it was built for. Pure.

The pre-signing check (execution/check.py) compares a transaction with an `Intent`: its
outputs go only to the intent's parties and what leaves our wallets is what the intent
says. A venue's builder hands back its own intent, partly read off the transaction it
built (Surf's, where the pool's datum is not indexed), so that comparison alone cannot
see an order that locks more collateral than asked. This compares the venue's intent
with the position's leg, which the engine planned itself: the tokens leaving are the
leg's and no others, what comes back is what the leg expects, and the ADA that leaves
beside them (batcher fee, envelope, min-ADA) stays under a cap.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from core.units import ADA, Asset
from protocols.model import Intent

#: ADA a loan's transaction may send beyond the leg's own amounts (batcher fee, the
#: order's envelope and min-ADA; the network fee is the check's own cap), in lovelace.
MAX_LOAN_LOVELACE = 10_000_000
#: How far a repay in full may be from the planned amount, either way, as a fraction:
#: the venue computes the debt (interest accrued since the plan; Surf's repay order holds
#: it as of a moment ahead), the engine only estimated it.
REPAY_DRIFT = (1, 100)


@dataclass(frozen=True)
class LoanLeg:
    """A borrow (locking `sent` of `sent_asset`, receiving `received` of
    `received_asset`), a repay (paying `sent`, releasing `received`), a supply ("lend":
    `sent` of the underlying, receipts back), a withdrawal of supplied receipts
    ("withdraw": burning at most `sent`), a collateral withdrawal from a loan."""

    kind: str  # borrow, repay, lend, withdraw, withdraw_collateral
    sent_asset: Asset
    sent: int
    received_asset: Asset
    received: int


def loan_intent_problems(intent: Intent, leg: LoanLeg) -> list[str]:
    """Each way the venue's intent departs from the leg; empty when it matches."""
    problems: list[str] = []
    if intent.action != leg.kind:
        problems.append(f"the venue built a {intent.action}, the leg is a {leg.kind}")
    leaves: Counter[Asset] = Counter()
    for transfer in intent.leaves:
        leaves[transfer.asset] += transfer.amount
    back: Counter[Asset] = Counter()
    for transfer in intent.comes_back:
        back[transfer.asset] += transfer.amount
    sent = leaves[leg.sent_asset]
    least = most = leg.sent
    if leg.kind == "withdraw":  # burns the receipts its amount needs, of those held
        least = 1
    if leg.kind == "repay":
        drift = -(-leg.sent * REPAY_DRIFT[0] // REPAY_DRIFT[1])
        least, most = leg.sent - drift, leg.sent + drift
    if leg.sent_asset != ADA and not least <= sent <= most:
        problems.append(f"{sent} of {leg.sent_asset.unit} leaves the wallet, the leg "
                        f"{'pays' if leg.kind == 'repay' else 'locks'} {leg.sent}"
                        + (f" (between {least} and {most})" if most != leg.sent else ""))
    if leg.sent_asset == ADA and leaves[ADA] > most + MAX_LOAN_LOVELACE:
        problems.append(f"{leaves[ADA]} lovelace leaves the wallet, the leg pays {leg.sent} "
                        f"(+ at most {MAX_LOAN_LOVELACE} of fees and deposits)")
    if leg.sent_asset == ADA and leaves[ADA] < least:
        problems.append(f"{leaves[ADA]} lovelace leaves the wallet, less than the "
                        f"{least} the leg pays at least")
    if leg.sent_asset != ADA and leaves[ADA] > MAX_LOAN_LOVELACE:
        problems.append(f"{leaves[ADA]} lovelace leaves the wallet beside the "
                        f"{leg.sent_asset.unit}, more than {MAX_LOAN_LOVELACE} of fees and "
                        f"deposits")
    others = sorted(a.unit for a in leaves if a not in (ADA, leg.sent_asset) and leaves[a])
    if others:
        problems.append(f"tokens the leg does not move leave the wallet: {', '.join(others)}")
    if back[leg.received_asset] < leg.received:
        problems.append(f"{back[leg.received_asset]} of {leg.received_asset.unit} comes "
                        f"back, the leg expects {leg.received}")
    return problems
