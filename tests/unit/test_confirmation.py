"""execution/confirmation.py: a submitted leg is confirmed from blocks with its depth, fails
only once its window has passed and the chain shows it absent, and is resubmitted while
still valid after a rollback took it away."""
from __future__ import annotations

from execution.confirmation import Sighting, judge


def test_seen_in_a_block_confirms_with_its_depth() -> None:
    seen = Sighting(height=100)
    assert judge(seen, tip_height=100, tip_slot=5, ttl=10, inputs={}).move == "confirm"
    deep = judge(seen, tip_height=104, tip_slot=50, ttl=10, inputs={})
    assert (deep.move, deep.confirmations) == ("confirm", 5)  # the window no longer matters
    shallow = judge(seen, tip_height=101, tip_slot=5, ttl=10, inputs={}, needed=3)
    assert (shallow.move, shallow.confirmations) == ("wait", 2)
    failed = judge(Sighting(100, script_failed=True), tip_height=100, tip_slot=5, ttl=10,
                   inputs={})
    assert failed.move == "fail" and "collateral" in failed.why


def test_absent_fails_only_once_the_window_has_passed() -> None:
    unspent = {"a#0": "unspent"}
    assert judge(Sighting(None), tip_height=9, tip_slot=9, ttl=10,
                 inputs=unspent).move == "resubmit"
    expired = judge(Sighting(None), tip_height=10, tip_slot=10, ttl=10, inputs=unspent)
    assert expired.move == "fail" and "expired" in expired.why
    conflict = judge(Sighting(None), tip_height=11, tip_slot=11, ttl=10,
                     inputs={"a#0": "spent", "b#1": "unspent"})
    assert conflict.move == "fail" and "another transaction" in conflict.why
    # Spent by another while the window is open: wait (a rollback could undo it).
    assert judge(Sighting(None), tip_height=9, tip_slot=9, ttl=10,
                 inputs={"a#0": "spent"}).move == "wait"
    # The chain cannot tell yet: wait, never fail on a guess.
    assert judge(Sighting(None), tip_height=11, tip_slot=11, ttl=10,
                 inputs={"a#0": "unknown"}).move == "wait"
    assert judge(Sighting(None), tip_height=11, tip_slot=11, ttl=10, inputs={}).move == "wait"
    # One input known unspent is enough (a transaction spends all of them at once): the
    # others may be script or stranger inputs nobody indexes.
    mixed = judge(Sighting(None), tip_height=11, tip_slot=11, ttl=10,
                  inputs={"a#0": "unknown", "b#1": "unspent"})
    assert mixed.move == "fail" and "expired" in mixed.why


def test_a_rolled_back_leg_is_in_flight_again() -> None:
    # Seen, then a rollback removed its block: not on chain, still valid → resubmit.
    assert judge(Sighting(None), tip_height=98, tip_slot=8, ttl=10,
                 inputs={"a#0": "unspent"}).move == "resubmit"
    # Its own spend of the inputs (the store still shows it) is not a conflict.
    assert judge(Sighting(None), tip_height=98, tip_slot=8, ttl=10, inputs={"a#0": "spent"},
                 spent_by_us=True).move == "resubmit"
    # No TTL: never expires; absent means resubmit.
    assert judge(Sighting(None), tip_height=98, tip_slot=10**9, ttl=None,
                 inputs={"a#0": "unspent"}).move == "resubmit"
