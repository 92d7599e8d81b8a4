"""Which outputs of a transaction Liqwid built are the venue's own: found by the venue's
tokens, never by a fixed script address. Pure.

Liqwid's builders return the whole transaction; the Intent we attach names the venue's
scripts that receive something (`to_venue`). Those addresses are read from the built
transaction — the output that carries the market's Action token is its Action UTxO, the
one that carries a Loan token is the loan (or, in a market whose Loan token is unknown,
the output at its Loan validator) — because validators and their stake parts
change while the tokens stay (lending.md §6.1; the Ada Action UTxOs sit at base
addresses with stake keys, so an address made from the validator hash alone would not
match). The address must be a script address; an output that holds a venue token at a
key address is a malformed answer.
"""
from __future__ import annotations

from dataclasses import dataclass

from chain.ledger import Tx, TxOut
from core.units import Asset
from protocols.base import VenueTokens
from protocols.venues.liqwid import fields as f
from protocols.venues.liqwid.tokens import loan_credentials

#: Shelley address types whose payment part is a script (CIP-19: 1, 3, 5, 7).
_SCRIPT_PAYMENT_TYPES = frozenset({1, 3, 5, 7})


@dataclass(frozen=True)
class VenueOutput:
    address: str  # bech32
    #: The venue token that marks it (Action token, Loan token); None for a loan found by
    #: its Loan validator, in a market whose Loan token is unknown (tokens.py).
    token: Asset | None
    out: TxOut


def is_script_address(out: TxOut) -> bool:
    return bool(out.address_bytes) and out.address_bytes[0] >> 4 in _SCRIPT_PAYMENT_TYPES


def market_policies(tokens: VenueTokens, kind: str, market: str) -> frozenset[bytes]:
    """The policies of `kind` tokens that belong to `market` (or whose market the token
    data does not say: those could be any market's)."""
    return frozenset(policy for policy in tokens.by_kind.get(kind, frozenset())
                     if tokens.market_of.get(policy.hex(), market) == market)


def venue_outputs(tx: Tx, tokens: VenueTokens, kind: str, market: str) -> list[VenueOutput]:
    policies = market_policies(tokens, kind, market)
    fallback = {bytes.fromhex(script) for script, owner in loan_credentials(tokens).items()
                if owner == market} if kind == "loan" else set()
    found: list[VenueOutput] = []
    for index, out in enumerate(tx.outputs):
        marks = [(policy, name) for (policy, name) in out.assets if policy in policies]
        if not marks:
            if fallback and is_script_address(out) and out.address_bytes[1:29] in fallback:
                found.append(VenueOutput(out.address, None, out))
            continue
        if not is_script_address(out):
            raise f.bad(f"built tx output {index}", f"holds a Liqwid {kind} token at "
                                                   f"{out.address}, which is not a script")
        policy, name = marks[0]
        found.append(VenueOutput(out.address, Asset(policy.hex(), name.hex()), out))
    return found


def one_venue_output(tx: Tx, tokens: VenueTokens, kind: str, market: str,
                     what: str) -> VenueOutput:
    """The one output of `kind` for `market` the built transaction must have."""
    found = venue_outputs(tx, tokens, kind, market)
    if len(found) != 1:
        raise f.bad(f"built {what}", f"expected one output holding market {market}'s {kind} "
                                     f"token, found {len(found)}")
    return found[0]
