"""The vocabulary every lending venue speaks: markets, venue records and events, unsigned
transactions with what they are meant to do, and the fate of a loan. Pure data.

Conventions (one for all venues):
- amounts are integers in base units (lovelace, token units, receipt-token units);
- rates are yearly `Decimal` fractions (0.05 = 5 %), effective: what one unit borrowed
  (or supplied) for a year costs (or earns), compounding included. `borrow_apr` is Liqwid's
  `(1 + r)^15768 − 1` (interest compounds every 2,000 s), Surf's vault rate (simple
  accrual: the same figure), Levvy's fixed interest over its term, annualised;
  `supply_apy` likewise for a supplier;
- ratios (LTV, thresholds, penalties, utilisation, fees) are `Decimal` fractions of 1;
- times are Unix milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from core.units import Asset, ReceiptRate, Token

Source = Literal["chain", "api"]


@dataclass(frozen=True)
class Provenance:
    """Where figures came from and when they were true."""

    source: Source
    as_of_ms: int  # when the figures were true: the block's time, or the API's fetch time
    detail: str = ""  # e.g. "MarketState utxo abc#1" or "GraphQL markets"

    def age_s(self, now_ms: int) -> float:
        return max(0, now_ms - self.as_of_ms) / 1000


@dataclass(frozen=True)
class OraclePrice:
    """The venue's own oracle price of a collateral: what its contracts value the
    collateral at when they judge a loan's health and liquidation."""

    #: Whole units of the market's borrow token per whole unit of the collateral (ADA per
    #: token in a market that lends ADA), exact.
    price: Decimal
    as_of_ms: int  # when the price was true (the oracle's own time, never after its block)
    source: str  # e.g. "surf oracle <txid>#<ix>"

    def age_s(self, now_ms: int) -> float:
        return max(0, now_ms - self.as_of_ms) / 1000


@dataclass(frozen=True)
class CollateralOption:
    token: Token
    max_ltv: Decimal  # what may be borrowed against it, as a fraction of its value
    liquidation_threshold: Decimal
    liquidation_penalty: Decimal | None  # None: the venue does not say
    #: What the collateral is held as at the venue (Liqwid: the qToken of its market).
    held_as: Asset | None = None
    #: The venue's id for this collateral, in the form its builders want (Liqwid has
    #: three forms: see protocols/venues/liqwid/ids.py).
    venue_id: str = ""
    #: The venue's oracle price of this collateral; None where the venue has no oracle of
    #: its own or none has been seen yet (Surf: from chain, once its oracle UTxO is indexed).
    oracle_price: OraclePrice | None = None


@dataclass(frozen=True)
class MarketStatus:
    batching: bool = False
    frozen: bool = False
    delisting: bool = False
    private: bool = False

    @property
    def usable(self) -> bool:
        return not (self.batching or self.frozen or self.delisting or self.private)

    def reasons(self) -> list[str]:
        return [name for name in ("batching", "frozen", "delisting", "private")
                if getattr(self, name)]


@dataclass(frozen=True)
class Fees:
    origination: Decimal = Decimal(0)  # fraction of the borrowed amount
    batcher_lovelace: int = 0  # paid per order to the batcher
    #: Anything else the venue charges, described (e.g. Levvy's share of interest).
    other: tuple[str, ...] = ()


@dataclass(frozen=True)
class Market:
    venue: str
    market_id: str
    borrow: Token  # the asset borrowed from (and supplied to) this market
    collaterals: tuple[CollateralOption, ...]
    borrow_apr: Decimal
    supply_apy: Decimal
    utilisation: Decimal
    available_liquidity: int  # base units of `borrow` that can be borrowed now
    min_size: int | None  # base units of `borrow`; None: no minimum known
    fees: Fees
    status: MarketStatus
    provenance: Provenance
    receipt: Asset | None = None  # qToken / cToken
    receipt_rate: ReceiptRate | None = None
    rate_fixed_at_open: bool = False  # Surf fixes a loan's rate when it opens
    partial_repay: bool = True
    #: Each borrow is its own loan that carries its collateral, and a full repay releases
    #: that collateral (Surf's vaults): no deposit without a borrow, no collateral added
    #: to or taken from an open loan.
    loan_per_borrow: bool = False
    #: Collateral is supplied first and locked in the loan as the supply's receipt tokens
    #: (Liqwid's qTokens): a deposit and the lock are transactions of their own.
    locks_receipts: bool = False
    #: Figures whose provenance differs from `provenance` (e.g. LTVs from the API while
    #: the rates come from chain): name -> Provenance.
    other_provenance: dict[str, Provenance] = field(default_factory=dict)

    def collateral_for(self, asset: Asset) -> CollateralOption | None:
        for option in self.collaterals:
            if option.token.asset == asset:
                return option
        return None

    def stale(self, now_ms: int, max_age_s: float) -> bool:
        return self.provenance.age_s(now_ms) > max_age_s


# --- what the chain says --------------------------------------------------------------

RecordKind = Literal["market_state", "action", "batch", "market_params", "loan", "pool",
                     "pool_info", "vault", "order", "oracle", "offer"]


@dataclass(frozen=True)
class VenueRecord:
    """One venue UTxO read: its kind, its market, and its datum decoded into named fields
    (snake_case, as in lending.md). Field values: int, bytes, str, bool, None, Fraction
    (a ratio), lists and dicts of those."""

    venue: str
    kind: str
    market: str | None
    ref: str  # "txid#ix"
    fields: dict[str, Any]
    #: Derived figures worth showing beside the datum (e.g. a MarketParams' APRs).
    extra: dict[str, Any] = field(default_factory=dict)


EventKind = Literal["market_state_updated", "market_params_updated", "order_placed",
                    "order_batched", "order_cancelled", "loan_opened", "loan_updated",
                    "loan_repaid", "loan_liquidated", "offer_placed", "offer_cancelled",
                    "supply", "withdraw"]


@dataclass(frozen=True)
class VenueEvent:
    venue: str
    kind: str
    market: str | None
    tx_id: str
    refs: tuple[str, ...] = ()  # the venue UTxOs involved (created or spent)
    details: dict[str, Any] = field(default_factory=dict)


# --- what a builder returns ------------------------------------------------------------

@dataclass(frozen=True)
class Transfer:
    """An amount of one asset moving to or from a party."""

    party: str  # a bech32 address, or a role such as "venue:order-script", "fee:batcher"
    asset: Asset
    amount: int


@dataclass(frozen=True)
class Intent:
    """What a transaction is meant to do, to be compared with what it does before anyone
    signs it (the positions issue's pre-signing check)."""

    action: str  # lend, withdraw, borrow, repay, add_collateral, withdraw_collateral, cancel
    venue: str
    market: str
    wallet: str  # the bech32 address whose funds leave
    leaves: tuple[Transfer, ...]  # what leaves our wallet (before the network fee)
    comes_back: tuple[Transfer, ...]  # what our wallet receives (now, or when batched)
    to_venue: tuple[Transfer, ...] = ()  # what the venue's scripts receive
    fees: tuple[Transfer, ...] = ()  # batcher / platform fees, each at most this much
    settles: Literal["now", "batched"] = "now"
    notes: tuple[str, ...] = ()
    #: What the transaction mints (negative: burns), as the builder works it out from
    #: what it knows (a qToken's rate, a venue's token data), not read off the transaction.
    mint: tuple[tuple[Asset, int], ...] = ()


@dataclass(frozen=True)
class UnsignedTx:
    cbor: bytes  # the whole transaction, its witness set without our signature
    intent: Intent
    built_by: Literal["venue-api", "project"]

    @property
    def cbor_hex(self) -> str:
        return self.cbor.hex()


@dataclass(frozen=True)
class Wallet:
    """What a builder needs to know about the wallet it builds for."""

    address: str  # bech32: funds come from and change returns to it
    utxos_cbor: tuple[str, ...] = ()  # the wallet's UTxOs as CBOR hex [input, output] pairs
    other_addresses: tuple[str, ...] = ()
    change_address: str = ""

    @property
    def change(self) -> str:
        return self.change_address or self.address


# --- the fate of a loan -----------------------------------------------------------------

LoanState = Literal["open", "repaid", "liquidated", "unknown"]


@dataclass(frozen=True)
class LoanFate:
    venue: str
    loan_ref: str  # the loan (vault) UTxO we opened or last saw
    state: LoanState
    current_ref: str | None  # where the loan is now, when still open
    debt: int | None  # base units of the borrowed asset, interest included, when known
    collateral: dict[Asset, int]  # what secures it now
    spent_by: str | None = None  # the tx that ended it
    as_of_slot: int | None = None
    reason: str = ""


def ratio(value: Fraction) -> list[int]:
    return [value.numerator, value.denominator]
