"""What the chain says of one of our submitted transactions, as a leg's next move. Pure.

The rules of the live path (issue 10, point 3):
- a leg is confirmed when its transaction is in a block the follower applied, with the
  number of confirmations (blocks on top of it, its own counted);
- it fails only when its validity window has passed *and* the chain shows it absent:
  its inputs still unspent (it expired) or spent by another transaction (a conflict,
  e.g. a retry's double spend that won);
- a transaction in a block that a rollback removed is in flight again: resubmitted if
  still valid, else judged as above once the window has passed;
- a transaction whose scripts failed (phase 2: only its collateral was taken) is on
  chain but did nothing: a failed leg, and the collateral is lost.
Anything else waits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

InputState = Literal["unspent", "spent", "unknown"]


@dataclass(frozen=True)
class Sighting:
    """Where the chain has our transaction: the height of its block, or None."""

    height: int | None
    script_failed: bool = False


@dataclass(frozen=True)
class Verdict:
    move: Literal["confirm", "wait", "resubmit", "fail"]
    why: str
    confirmations: int = 0


def judge(sighting: Sighting, *, tip_height: int, tip_slot: int, ttl: int | None,
          inputs: Mapping[str, InputState], spent_by_us: bool = False,
          needed: int = 1) -> Verdict:
    """The leg's move. `inputs`: each input's state on chain now, by ref; `spent_by_us`:
    an input is spent by this very transaction (seen in a block the store keeps);
    `needed`: confirmations before the leg counts as confirmed."""
    if sighting.height is not None:
        depth = tip_height - sighting.height + 1
        if sighting.script_failed:
            return Verdict("fail", "its scripts failed on chain: only its collateral was "
                                   "taken", max(depth, 0))
        if depth >= needed:
            return Verdict("confirm", f"in a block {depth} deep", depth)
        return Verdict("wait", f"in a block {depth} deep, {needed} needed", max(depth, 0))
    expired = ttl is not None and tip_slot >= ttl
    if not expired:
        if any(state == "spent" for state in inputs.values()) and not spent_by_us:
            return Verdict("wait", "an input was spent by another transaction; its window "
                                   "is still open, so a rollback could still bring it back")
        return Verdict("resubmit", "not on chain and still valid: (re)submit it")
    if any(state == "spent" for state in inputs.values()) and not spent_by_us:
        return Verdict("fail", "its validity window passed and another transaction spent "
                               "its inputs")
    # A transaction spends all its inputs at once: one still unspent on a chain read past
    # its window means it is not there (the others may be inputs nobody indexed).
    if any(state == "unspent" for state in inputs.values()):
        return Verdict("fail", f"its validity window passed (slot {ttl}) and its inputs "
                               f"are unspent: it expired")
    return Verdict("wait", "its validity window passed but the chain does not yet show "
                           "what became of its inputs")
