"""What a chain watcher is, and what a lending venue is.

A watcher is something whose state in MongoDB follows the chain. Every lending venue is
one (its market, loan and order UTxOs); so are our wallets and our own submitted
transactions (those two live in indexer/watchers.py). The indexer applies each
watcher's state block by block in chain order, and undoes it exactly on a rollback; a
watcher only says what it watches and how to read it.

`LeverageSource` is a lending venue: the watcher plus its markets, its readers of datums
and transactions, its transaction builders and the fate of a loan. Pure parts (datums,
rates, events) live in each venue's modules; the source composes them with the venue's
API client (docs/adding-a-venue.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Protocol, Sequence

from core.units import Asset
from protocols.errors import Unsupported, VenueDisabled
from protocols.model import LoanFate, Market, UnsignedTx, VenueEvent, VenueRecord, Wallet

if TYPE_CHECKING:
    from chain.ledger import Tx, TxOut
    from core.settings import Network


@dataclass(frozen=True)
class Watch:
    """What makes an output ours to index. Matching is on bytes, so the prefilter can skip
    blocks that mention none of them."""

    credentials: frozenset[bytes] = frozenset()  # payment credentials (28-byte hashes)
    policies: frozenset[bytes] = frozenset()  # minting policy ids held in the output
    addresses: frozenset[bytes] = frozenset()  # whole addresses

    @property
    def needles(self) -> list[bytes]:
        return [*self.credentials, *self.policies, *self.addresses]


@dataclass
class UtxoWatcher:
    """A watcher whose state is the set of UTxOs it watches (the Kupo model)."""

    name: str
    watch: Watch = field(default_factory=Watch)
    kind: str = "utxo"

    def decode_datum(self, datum_cbor: bytes) -> dict[str, Any] | None:
        """The venue's reading of a datum, stored beside the UTxO; None when not known.

        Venues override this with their schema; the result must follow store/'s rules
        (no floats, quantities as strings, no nested arrays)."""
        return None

    def describe(self, ref: str, out: "TxOut", datum_cbor: bytes | None) -> dict[str, Any] | None:
        """What is stored beside a watched UTxO (`datum` in watcher_utxos). Raising here
        makes the block poison for this watcher only."""
        return None if datum_cbor is None else self.decode_datum(datum_cbor)


@dataclass(frozen=True)
class VenueTokens:
    """The tokens (minting policies) that identify a venue's UTxOs on one network, by
    role: e.g. {"market_state": {...}, "loan": {...}}. Loaded as data per network, because
    validators change while tokens stay (lending.md §6.1)."""

    network: str
    by_kind: Mapping[str, frozenset[bytes]]
    #: Per policy, the market it belongs to (hex policy -> market id), where known.
    market_of: Mapping[str, str] = field(default_factory=dict)

    def policies(self, kinds: Sequence[str] | None = None) -> frozenset[bytes]:
        wanted = self.by_kind if kinds is None else {k: self.by_kind.get(k, frozenset())
                                                     for k in kinds}
        return frozenset().union(*wanted.values()) if wanted else frozenset()

    def kind_of(self, policy: bytes) -> str | None:
        for kind, policies in self.by_kind.items():
            if policy in policies:
                return kind
        return None


@dataclass(frozen=True)
class StoredUtxo:
    """A venue UTxO as the pipeline stored it (store/utxos.py), for readers of chain state."""

    ref: str
    address: str
    lovelace: int
    assets: Mapping[tuple[str, str], int]  # (policy hex, name hex) -> quantity
    inline_datum: bytes | None
    created_slot: int
    spent_tx: str | None = None
    spent_slot: int | None = None


class ChainView(Protocol):
    """Read access to one venue's indexed UTxOs and to our own transactions."""

    def utxo(self, ref: str) -> StoredUtxo | None: ...

    def unspent_with_policy(self, policy: str) -> list[StoredUtxo]: ...

    def created_by(self, tx_id: str) -> list[StoredUtxo]: ...

    def spent_by(self, tx_id: str) -> list[StoredUtxo]:
        """The venue's UTxOs that `tx_id` spent (e.g. the orders a batch applied)."""
        ...

    def is_ours(self, tx_id: str) -> bool: ...

    def slot_time_ms(self, slot: int) -> int: ...


class LeverageSource(UtxoWatcher):
    """A lending venue. Subclasses set `venue` and implement what they offer; what a venue
    does not offer raises `Unsupported` with the reason (never a silent no-op)."""

    venue: ClassVar[str] = ""
    experimental: ClassVar[bool] = False

    def __init__(self, network: "Network", tokens: VenueTokens | None, *,
                 disabled_reason: str | None = None, watch: Watch | None = None) -> None:
        if watch is None:
            watch = Watch(policies=tokens.policies(self.watched_kinds())) if tokens else Watch()
        super().__init__(self.venue, watch, kind="venue")
        self.network = network
        self.tokens = tokens
        self.disabled_reason = disabled_reason

    # -- identity and state ------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def require_enabled(self) -> None:
        if self.disabled_reason is not None:
            raise VenueDisabled(self.venue, self.disabled_reason)

    def watched_kinds(self) -> Sequence[str]:
        """Which token roles mark UTxOs to index (never receipt tokens: users hold those)."""
        return ()

    # -- reading the chain (pure) ---------------------------------------------------------
    def read_output(self, ref: str, out: "TxOut", datum_cbor: bytes | None) -> VenueRecord | None:
        """A watched output as a typed record (`datum_cbor`: its inline datum, or the one
        its hash names in the same transaction); raises DatumLayoutError on a layout this
        code does not know."""
        return None

    def read_tx(self, tx: "Tx", spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
        """What one transaction did at this venue. `spent`: the venue records among its
        inputs, by ref (what the indexer holds)."""
        return []

    def describe(self, ref: str, out: "TxOut", datum_cbor: bytes | None) -> dict[str, Any] | None:
        from protocols.render import stored_record

        record = self.read_output(ref, out, datum_cbor)
        return None if record is None else stored_record(record)

    # -- markets ------------------------------------------------------------------------
    def fetch_markets(self) -> list[Market]:
        """Markets from the venue's API (I/O)."""
        raise Unsupported(self.venue, "has no markets API")

    def markets_from_chain(self, records: Sequence[tuple[VenueRecord, int]],
                           api_markets: Sequence[Market]) -> list[Market]:
        """Pure: the API's markets with every figure the chain knows replaced by the chain's
        (records: the venue's current UTxOs read, each with its block time in ms)."""
        return list(api_markets)

    def discover(self) -> str | None:
        """I/O: learn the venue's on-chain identifiers from its API where they are not
        known as data (Surf's script addresses), saved for the pipeline's next start.
        Returns what was learned, in one line; None when there is nothing to learn."""
        return None

    def fetch_loans(self, owner: str | None = None) -> list[dict[str, Any]]:
        raise Unsupported(self.venue, "has no loans API")

    def supply_market(self, receipt: Asset) -> str:
        """The market a deposit is made in to get `receipt` (Liqwid: the market whose
        qToken it is)."""
        raise Unsupported(self.venue, "has no receipt tokens")

    # -- builders: each returns an unsigned transaction and what it is meant to do --------
    def build_lend(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "does not take deposits")

    def build_withdraw(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "does not take deposits")

    def build_borrow(self, market_id: str, amount: int, collateral: Asset,
                     collateral_amount: int, wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "does not lend")

    def build_repay(self, loan_ref: str, amount: int | None, wallet: Wallet) -> UnsignedTx:
        """amount None: repay in full."""
        raise Unsupported(self.venue, "does not lend")

    def build_add_collateral(self, loan_ref: str, asset: Asset, amount: int,
                             wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "does not let a loan's collateral change")

    def build_modify_loan(self, loan_ref: str, debt: int,
                          collaterals: Sequence[tuple[Asset, int]], wallet: Wallet, *,
                          redeem: bool = False) -> UnsignedTx:
        """Change a loan to a target debt and collateral in one transaction (Liqwid's
        modifyBorrow): what a pooled position's later borrows, repays and withdrawals are."""
        raise Unsupported(self.venue, "does not change a loan to a target")

    def build_withdraw_collateral(self, loan_ref: str, asset: Asset, amount: int,
                                  wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "does not let a loan's collateral change")

    def build_cancel(self, order_ref: str, wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "has no pending orders to cancel")

    # -- the fate of one of our loans -------------------------------------------------------
    def loan_fate(self, loan_ref: str, view: ChainView) -> LoanFate:
        raise Unsupported(self.venue, "cannot tell a loan's fate from the chain")
