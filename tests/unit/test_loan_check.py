"""execution/loan_check.py: a venue's loan intent held to the leg the engine planned."""
from __future__ import annotations

from core.units import ADA, Asset
from execution.loan_check import MAX_LOAN_LOVELACE, LoanLeg, loan_intent_problems
from protocols.model import Intent, Transfer

TOKEN = Asset("51" * 28, "535452494b45")
ME = "addr1me"


def intent(action: str, leaves: dict[Asset, int], back: dict[Asset, int]) -> Intent:
    return Intent(action=action, venue="surf", market="m", wallet=ME,
                  leaves=tuple(Transfer(ME, a, q) for a, q in leaves.items()),
                  comes_back=tuple(Transfer(ME, a, q) for a, q in back.items()),
                  settles="batched")


BORROW = LoanLeg("borrow", TOKEN, 200_000_000, ADA, 50_000_000)
REPAY = LoanLeg("repay", ADA, 50_100_000, TOKEN, 200_000_000)


def test_a_borrow_as_planned_passes() -> None:
    ok = intent("borrow", {TOKEN: 200_000_000, ADA: 4_000_000}, {ADA: 50_000_000})
    assert loan_intent_problems(ok, BORROW) == []


def test_a_borrow_that_locks_more_or_other_tokens_or_brings_less_is_refused() -> None:
    more = intent("borrow", {TOKEN: 400_000_000, ADA: 4_000_000}, {ADA: 50_000_000})
    assert "400000000 of" in loan_intent_problems(more, BORROW)[0]
    other = Asset("77" * 28, "")
    extra = intent("borrow", {TOKEN: 200_000_000, other: 5, ADA: 4_000_000}, {ADA: 50_000_000})
    assert "tokens the leg does not move" in loan_intent_problems(extra, BORROW)[0]
    short = intent("borrow", {TOKEN: 200_000_000, ADA: 4_000_000}, {ADA: 40_000_000})
    assert "comes back" in loan_intent_problems(short, BORROW)[0]
    fees = intent("borrow", {TOKEN: 200_000_000, ADA: MAX_LOAN_LOVELACE + 1}, {ADA: 50_000_000})
    assert "fees and deposits" in loan_intent_problems(fees, BORROW)[0]
    wrong = intent("repay", {TOKEN: 200_000_000}, {ADA: 50_000_000})
    assert "built a repay" in loan_intent_problems(wrong, BORROW)[0]


def test_a_repay_may_differ_by_the_interest_the_venue_computes_not_more() -> None:
    for paid in (50_100_000, 50_100_000 + 500_000, 50_100_000 - 500_000):
        fine = intent("repay", {ADA: paid + 4_000_000}, {TOKEN: 200_000_000})
        assert loan_intent_problems(fine, REPAY) == [], paid
    too_much = intent("repay", {ADA: 50_100_000 + 502_000 + MAX_LOAN_LOVELACE},
                      {TOKEN: 200_000_000})
    assert "leaves the wallet" in loan_intent_problems(too_much, REPAY)[0]
    too_little = intent("repay", {ADA: 49_000_000}, {TOKEN: 200_000_000})
    assert "less than" in loan_intent_problems(too_little, REPAY)[0]
    released_less = intent("repay", {ADA: 54_100_000}, {TOKEN: 100_000_000})
    assert "comes back" in loan_intent_problems(released_less, REPAY)[0]
    token_debt = LoanLeg("repay", TOKEN, 1_000_000, ADA, 100_000_000)
    over = intent("repay", {TOKEN: 1_020_000, ADA: 4_000_000}, {ADA: 100_000_000})
    assert "between 990000 and 1010000" in loan_intent_problems(over, token_debt)[0]


def test_a_plain_withdrawal_burns_at_most_the_receipts_held() -> None:
    """A withdrawal of supplied receipts burns what its amount needs, never more than the
    wallet holds, and must bring the underlying back."""
    receipt = Asset("cd" * 28, "")
    leg = LoanLeg("withdraw", receipt, 5_000, TOKEN, 99)
    ok = intent("withdraw", {receipt: 4_950}, {TOKEN: 99})
    assert loan_intent_problems(ok, leg) == []
    greedy = intent("withdraw", {receipt: 5_001}, {TOKEN: 99})
    assert "5001 of" in loan_intent_problems(greedy, leg)[0]
    short = intent("withdraw", {receipt: 4_950}, {TOKEN: 90})
    assert "90 of" in loan_intent_problems(short, leg)[0]
