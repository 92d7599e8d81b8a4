"""Liqwid's identifiers, each form its own type, so one is never sent where another is
wanted (the main trap of Liqwid's API: dh-leverage-go.md §2.1, lending.md §1.5, §6.1).

Three collateral-id forms:

- `BorrowCollateralId` — `q<MarketId>` (e.g. `qAda`): what `borrow` takes in
  `collaterals[].id`. Liqwid's own error lists them ("Valid collaterals: qAda,Ada,...").
- `MarketCollateralId` — `<BorrowMarketId>.<qToken policy id>` (e.g. `SNEK.a04ce7a5…`): the
  `id` of a collateral in a market's `parameters.collateralParameters`, and what
  `modifyBorrow` takes (sending `qAda` there gives "Collateral not found").
- `LoanCollateralId` — the bare qToken policy id (56 hex): the `id` of each entry of a
  loan's `collaterals` in the `loans` answer (recorded capture of July 2026).

And the loan id: `<txHash>-<outputIndex>` (older loans: a bare hash), which
`modifyBorrow` takes as `txId`; the project's refs are `txid#ix`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.units import Asset
from protocols.errors import VenueError

VENUE = "liqwid"

_MARKET_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_POLICY = re.compile(r"[0-9a-f]{56}")
_TX_HASH = re.compile(r"[0-9a-f]{64}")


class LiqwidInputError(VenueError, ValueError):
    """A Liqwid identifier or builder input of the wrong form (ours, before any request)."""

    def __init__(self, message: str) -> None:
        super().__init__(VENUE, message)


def market_id(text: str) -> str:
    """A Liqwid market id (`Ada`, `SNEK`, `USDM-USDA-MINSWAP-LP-STABLE`)."""
    if not isinstance(text, str) or not _MARKET_ID.fullmatch(text):
        raise LiqwidInputError(f"not a Liqwid market id: {text!r:.80}")
    return text


def policy_id(text: str, what: str = "policy id") -> str:
    if not isinstance(text, str) or not _POLICY.fullmatch(text):
        raise LiqwidInputError(f"{what}: expected 56 lowercase hex characters, got {text!r:.80}")
    return text


@dataclass(frozen=True)
class BorrowCollateralId:
    """`q<MarketId>`: a collateral as `borrow` names it (the collateral's market)."""

    market: str

    def __post_init__(self) -> None:
        market_id(self.market)

    @classmethod
    def parse(cls, text: str) -> "BorrowCollateralId":
        if not isinstance(text, str) or not text.startswith("q") or "." in text:
            raise LiqwidInputError(f"not a borrow collateral id (q<MarketId>): {text!r:.80}")
        rest = text[1:]
        if _POLICY.fullmatch(rest):  # a policy id behind a q is the loan form misused
            raise LiqwidInputError(f"not a borrow collateral id (q<MarketId>): {text!r:.80}")
        return cls(market_id(rest))

    def __str__(self) -> str:
        return f"q{self.market}"


@dataclass(frozen=True)
class MarketCollateralId:
    """`<BorrowMarketId>.<qToken policy>`: a collateral of one borrow market, as the market's
    parameters list it and as `modifyBorrow` takes it."""

    borrow_market: str
    policy: str  # the collateral market's qToken policy

    def __post_init__(self) -> None:
        market_id(self.borrow_market)
        policy_id(self.policy, "collateral qToken policy")

    @classmethod
    def parse(cls, text: str) -> "MarketCollateralId":
        if not isinstance(text, str) or text.count(".") != 1:
            raise LiqwidInputError(
                f"not a market collateral id (<BorrowMarket>.<qToken policy>): {text!r:.80}")
        market, _, policy = text.partition(".")
        try:
            return cls(market, policy)
        except LiqwidInputError:
            raise LiqwidInputError(
                f"not a market collateral id (<BorrowMarket>.<qToken policy>): {text!r:.80}"
            ) from None

    @property
    def held_as(self) -> Asset:
        """The qToken the collateral is held as (qToken asset names are empty)."""
        return Asset(self.policy, "")

    def __str__(self) -> str:
        return f"{self.borrow_market}.{self.policy}"


@dataclass(frozen=True)
class LoanCollateralId:
    """The bare qToken policy id a loan's `collaterals[].id` carries."""

    policy: str

    def __post_init__(self) -> None:
        policy_id(self.policy, "loan collateral id")

    @classmethod
    def parse(cls, text: str) -> "LoanCollateralId":
        if not isinstance(text, str) or not _POLICY.fullmatch(text):
            raise LiqwidInputError(f"not a loan collateral id (a qToken policy id): {text!r:.80}")
        return cls(text)

    def in_market(self, borrow_market: str) -> MarketCollateralId:
        """The same collateral as a loan of `borrow_market` names it to `modifyBorrow`."""
        return MarketCollateralId(borrow_market, self.policy)

    @property
    def held_as(self) -> Asset:
        return Asset(self.policy, "")

    def __str__(self) -> str:
        return self.policy


@dataclass(frozen=True)
class LoanId:
    """`<txHash>-<outputIndex>`; `index` is None for the older bare-hash ids."""

    tx_hash: str
    index: int | None

    def __post_init__(self) -> None:
        if not isinstance(self.tx_hash, str) or not _TX_HASH.fullmatch(self.tx_hash):
            raise LiqwidInputError(f"loan id: not a transaction hash: {self.tx_hash!r:.80}")
        if self.index is not None and (type(self.index) is not int or self.index < 0):
            raise LiqwidInputError(f"loan id: bad output index {self.index!r}")

    @classmethod
    def parse(cls, text: str) -> "LoanId":
        if not isinstance(text, str):
            raise LiqwidInputError(f"not a loan id: {text!r:.80}")
        tx_hash, dash, index = text.partition("-")
        if not dash:
            return cls(tx_hash, None)
        if not index.isdigit():
            raise LiqwidInputError(f"not a loan id (<txHash>-<index>): {text!r:.80}")
        return cls(tx_hash, int(index))

    @classmethod
    def from_ref(cls, ref: str) -> "LoanId":
        """From the project's `txid#ix` (a loan UTxO ref)."""
        tx_hash, hash_sign, index = ref.partition("#") if isinstance(ref, str) else ("", "", "")
        if not hash_sign or not index.isdigit():
            raise LiqwidInputError(f"not a loan ref (txid#ix): {ref!r:.80}")
        return cls(tx_hash, int(index))

    @property
    def ref(self) -> str | None:
        return None if self.index is None else f"{self.tx_hash}#{self.index}"

    def for_builder(self) -> str:
        """The `txId` modifyBorrow wants; a bare hash there fails server-side ("NaN cannot
        be converted to a BigInt"), so it is refused here."""
        if self.index is None:
            raise LiqwidInputError(f"loan {self.tx_hash} has no output index; modifyBorrow "
                                   "needs <txHash>-<index>")
        return str(self)

    def __str__(self) -> str:
        return self.tx_hash if self.index is None else f"{self.tx_hash}-{self.index}"
