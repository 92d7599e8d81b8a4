"""Liqwid's tokens per network, loaded as data (networks/<network>.json).

A Liqwid UTxO is recognised by the token it holds, never by its address: the validators
changed over the years while the tokens stayed (lending.md §6.1). Roles:

- market_state, action, batch, market_params, loan: the venue's state, watched;
- liquidation: minted when a loan is liquidated. Watched too, so that a loan's fate can be
  told from indexed UTxOs alone: a positive mint must land in some output of the
  liquidating transaction, so `ChainView.created_by(tx)` shows it;
- qtoken: the receipt users hold (qADA, ...), never watched.

Markets whose Loan token is unknown are watched by their Loan validator instead
(`loan_credentials`); such loans are not authenticated by a token, so chain.py marks them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from protocols.base import VenueTokens, Watch

ROLES = ("market_state", "action", "batch", "market_params", "loan", "liquidation", "qtoken")
#: Roles whose UTxOs are the venue's state (the receipt token is held by users).
WATCHED_ROLES = ("market_state", "action", "batch", "market_params", "loan", "liquidation")

_NETWORKS = Path(__file__).parent / "networks"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
_HASH = re.compile(r"[0-9a-f]{56}")


@dataclass(frozen=True)
class LiqwidTokens(VenueTokens):
    """`VenueTokens` plus what is known beside the tokens."""

    #: market -> role -> validator hash (hex); for information, never for matching.
    validators: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Loan validator hash (hex) -> market, for markets whose Loan token is unknown.
    loan_credentials: Mapping[str, str] = field(default_factory=dict)

    def policies_of(self, role: str, market: str) -> frozenset[bytes]:
        return frozenset(p for p in self.by_kind.get(role, frozenset())
                         if self.market_of.get(p.hex()) == market)


def watched_kinds() -> tuple[str, ...]:
    """The token roles whose UTxOs the source indexes."""
    return WATCHED_ROLES


def market_of(tokens: VenueTokens, policy: str | bytes) -> str | None:
    """The market a policy (hex or bytes) belongs to, e.g. "Ada"."""
    key = policy.hex() if isinstance(policy, bytes) else policy.lower()
    return tokens.market_of.get(key)


def role_of(tokens: VenueTokens, policy: bytes) -> str | None:
    return tokens.kind_of(policy)


def loan_credentials(tokens: VenueTokens) -> Mapping[str, str]:
    return tokens.loan_credentials if isinstance(tokens, LiqwidTokens) else {}


def watch_of(tokens: VenueTokens) -> Watch:
    """What the source watches: the watched roles' policies, plus the Loan validators of
    markets whose Loan token is unknown (LeverageSource's default watch has only the
    policies: pass this one as `watch=`)."""
    return Watch(policies=tokens.policies(WATCHED_ROLES),
                 credentials=frozenset(bytes.fromhex(h) for h in loan_credentials(tokens)))


def load_tokens(network_name: str) -> LiqwidTokens | None:
    """The tokens of `network_name` (mainnet, preprod, ...), or None when this project has
    no Liqwid data for it (then the source watches nothing and says why)."""
    if not _NAME.fullmatch(network_name):
        return None
    path = _NETWORKS / f"{network_name}.json"
    if not path.is_file():
        return None
    return parse_tokens(json.loads(path.read_text(encoding="utf-8")), network_name)


def parse_tokens(data: Mapping[str, Any], network_name: str) -> LiqwidTokens:
    """Check and read one network file; a mistake in it is a ValueError naming the place."""
    where = f"liqwid tokens for {network_name}"
    if data.get("network") != network_name:
        raise ValueError(f"{where}: the file says network {data.get('network')!r}")
    markets = data.get("markets")
    if not isinstance(markets, dict) or not markets:
        raise ValueError(f"{where}: no markets")
    by_kind: dict[str, set[bytes]] = {role: set() for role in ROLES}
    owner: dict[str, tuple[str, str]] = {}  # policy -> (market, role)
    validators: dict[str, dict[str, str]] = {}
    fallback: dict[str, str] = {}
    for market, entry in markets.items():
        at = f"{where}, market {market}"
        if not isinstance(entry, dict) or not isinstance(entry.get("tokens"), dict):
            raise ValueError(f"{at}: no tokens")
        for role, policies in entry["tokens"].items():
            if role not in ROLES:
                raise ValueError(f"{at}: unknown role {role!r}")
            if not isinstance(policies, list) or not policies:
                raise ValueError(f"{at}: {role} is not a list of policies")
            for policy in policies:
                _check_hash(policy, f"{at}, {role}")
                if policy in owner:
                    raise ValueError(f"{at}: policy {policy} is already "
                                     f"{' '.join(owner[policy])}")
                owner[policy] = (market, role)
                by_kind[role].add(bytes.fromhex(policy))
        known = entry.get("validators", {})
        if not isinstance(known, dict):
            raise ValueError(f"{at}: validators is not a map")
        for role, script in known.items():
            _check_hash(script, f"{at}, {role} validator")
        validators[market] = dict(known)
        if entry.get("loan_validator_fallback"):
            if entry["tokens"].get("loan"):
                raise ValueError(f"{at}: a Loan token is known, no fallback needed")
            if "loan" not in known:
                raise ValueError(f"{at}: a Loan validator fallback needs the Loan validator")
            fallback[known["loan"]] = market
    return LiqwidTokens(
        network=network_name,
        by_kind={role: frozenset(policies) for role, policies in by_kind.items() if policies},
        market_of={policy: market for policy, (market, _) in owner.items()},
        validators=validators,
        loan_credentials=fallback,
    )


def _check_hash(value: Any, where: str) -> None:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise ValueError(f"{where}: not a 28-byte hash in lower-case hex: {value!r}")
