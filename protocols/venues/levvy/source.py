"""Levvy as a LeverageSource: peer-to-peer ADA loans against tokens (lending.md §2).

EXPERIMENTAL and off until configured: Levvy's mainnet scripts are not public, so its
validator credentials come from LEVVY_CONFIG_FILE (config.py, docs/venues.md).

What it watches: the configured validator payment credential(s). Levvy has no tokens
that identify its UTxOs in any public source (no state, position or receipt tokens in its
v1/v2 shapes; V3's position NFTs exist on preview only), so unlike Liqwid it is found by
script credential.

Records: an offer (LendDatum / LendToken), a loan (BorrowDatum / BorrowToken) or a
repayment waiting for its lender to claim (RepayToken). Events: offer_placed,
offer_cancelled, loan_opened, loan_repaid, loan_liquidated (= foreclosed at expiry), and
`withdraw` when a lender claims a repayment. Markets: from the open offers (markets.py).
Builders: the v2 token flows (builders.py; UNVERIFIED against mainnet).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable, Mapping, Protocol, Sequence

from core.lazy import lazy_module
from core.units import Asset
from protocols.base import ChainView, LeverageSource, StoredUtxo, Watch
from protocols.errors import DatumLayoutError, Unsupported, VenueRefused
from protocols.model import LoanFate, Market, UnsignedTx, VenueEvent, VenueRecord, Wallet
from protocols.offline_chain import MAINNET_CONWAY, ProtocolParams

from .config import NetworkConfig, load_config
from .datums import (
    VENUE,
    LevvyDatum,
    Loan,
    Offer,
    OutRef,
    Repayment,
    read_datum,
    read_payment_tag,
    record_fields,
    v1_payment_tag,
)
from .markets import CollateralPrice, markets_from_records, open_offer
from .slots import CLOCKS

if TYPE_CHECKING:
    from . import builders
else:  # the builders import pycardano: loaded when a build first needs them
    builders = lazy_module("protocols.venues.levvy.builders")

if TYPE_CHECKING:
    from chain.ledger import Tx, TxOut
    from core.settings import Network, Settings

log = logging.getLogger(__name__)

NOT_CONFIGURED = ("Levvy's mainnet scripts are not public: set LEVVY_CONFIG_FILE "
                  "(docs/venues.md)")
KINDS = {Offer: "offer", Loan: "loan", Repayment: "repayment"}


class LevvyChain(ChainView, Protocol):
    """What the builders need from the indexed chain beyond a ChainView: the UTxOs at a
    validator (Levvy has no tokens to look them up by)."""

    def unspent_at(self, credential: bytes) -> list[StoredUtxo]: ...


def _ref(tx_id: bytes, index: int) -> str:
    return f"{tx_id.hex()}#{index}"


class LevvySource(LeverageSource):
    venue = VENUE
    experimental = True

    def __init__(self, network: "Network", config: NetworkConfig | None, *,
                 disabled_reason: str | None = None,
                 prices: Mapping[Asset, CollateralPrice] | None = None,
                 now_ms: Callable[[], int] | None = None,
                 params: ProtocolParams = MAINNET_CONWAY) -> None:
        if config is None and disabled_reason is None:
            disabled_reason = NOT_CONFIGURED
        watch = Watch()
        if config is not None:  # policies: none known today; watched if ever configured
            watch = Watch(credentials=frozenset(config.validator_hashes),
                          policies=frozenset(config.policies))
        super().__init__(network, None, disabled_reason=disabled_reason, watch=watch)
        self.config = config
        self.prices: dict[Asset, CollateralPrice] = dict(prices or {})
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.params = params
        self.chain: LevvyChain | None = None

    @classmethod
    def from_settings(cls, settings: "Settings") -> "LevvySource":
        network = settings.cardano_network
        path = settings.levvy_config_file
        if path is None:
            return cls(network, None)
        config = load_config(path, network.name)  # a bad file is a ConfigError: stop
        if config is None:
            return cls(network, None, disabled_reason=f"LEVVY_CONFIG_FILE ({path}) has no "
                                                      f"{network.name!r} section")
        return cls(network, config)

    # -- wiring -------------------------------------------------------------------------
    def use_chain(self, chain: LevvyChain) -> None:
        """The indexed chain the builders read offers and loans from."""
        self.chain = chain

    def set_prices(self, prices: Mapping[Asset, CollateralPrice]) -> None:
        self.prices = dict(prices)

    @property
    def mainnet(self) -> bool:
        return self.network.is_mainnet

    # -- reading the chain --------------------------------------------------------------
    def _at_validator(self, out: "TxOut") -> bool:
        raw = out.address_bytes
        return (self.config is not None and len(raw) >= 29 and raw[0] >> 4 in (1, 3, 5, 7)
                and raw[1:29] in self.config.validator_hashes)

    def read_output(self, ref: str, out: "TxOut", datum_cbor: bytes | None) -> VenueRecord | None:
        if not self._at_validator(out) or datum_cbor is None:
            return None  # ADA sent to the script without a datum is nobody's offer
        datum = read_datum(datum_cbor)
        fields = record_fields(datum, self.mainnet)
        fields["utxo_lovelace"] = out.lovelace
        market = None
        if isinstance(datum, (Offer, Loan)):
            market = str(datum.collateral)
            fields["utxo_collateral"] = out.assets.get((datum.policy_id, datum.asset_name), 0)
        return VenueRecord(VENUE, KINDS[type(datum)], market, ref, fields)

    def read_tx(self, tx: "Tx", spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
        tx_id = tx.id.hex()
        created: list[tuple[str, LevvyDatum]] = []
        for index, out in enumerate(tx.outputs):
            datum_cbor = out.inline_datum or (tx.datums.get(out.datum_hash)
                                              if out.datum_hash else None)
            if self._at_validator(out) and datum_cbor is not None:
                created.append((_ref(tx.id, index), read_datum(datum_cbor)))
        events: list[VenueEvent] = []

        def event(kind: str, market: str | None, refs: Sequence[str | None],
                  **details: object) -> None:
            events.append(VenueEvent(VENUE, kind, market, tx_id,
                                     tuple(r for r in refs if r), dict(details)))

        taken: set[str] = set()
        repaid: set[str] = set()
        for ref, datum in created:
            if isinstance(datum, Offer):
                event("offer_placed", str(datum.collateral), [ref],
                      loan_amount=datum.loan_amount, collateral_amount=datum.token_amount)
            elif isinstance(datum, Loan):
                offer = self._taken_offer(datum, spent)
                if offer is not None:
                    taken.add(offer)
                event("loan_opened", str(datum.collateral), [offer, ref],
                      loan_amount=datum.loan_amount, collateral_amount=datum.token_amount,
                      loan_end_ms=datum.loan_end_ms)
            else:
                loan_ref = datum.loan_ref.text
                repaid.add(loan_ref)
                loan_record = spent.get(loan_ref)
                event("loan_repaid", loan_record.market if loan_record else None,
                      [loan_ref, ref], amount=datum.loan_amount + datum.interest_amount)
        tags = self._payment_tags(tx)
        for ref, record in sorted(spent.items()):
            if record.kind == "offer" and ref not in taken:
                event("offer_cancelled", record.market, [ref])
            elif record.kind == "loan" and ref not in repaid:
                if self._v1_tags(ref) & tags:
                    event("loan_repaid", record.market, [ref])  # v1: paid to the lender, tagged
                else:
                    event("loan_liquidated", record.market, [ref], how="foreclosed")
            elif record.kind == "repayment":
                event("withdraw", None, [ref], claimed=record.fields.get("loan_ref"))
        return events

    @staticmethod
    def _v1_tags(ref: str) -> set[bytes]:
        """v1 tags of a reference, in both OutputReference forms (which one v1 hashes is
        UNVERIFIED)."""
        outref = OutRef.from_text(ref)
        return {v1_payment_tag(outref), v1_payment_tag(OutRef(outref.tx_id, outref.index,
                                                              False))}

    @staticmethod
    def _taken_offer(loan: Loan, spent: Mapping[str, VenueRecord]) -> str | None:
        if loan.offer_ref is not None:
            return loan.offer_ref.text
        for ref, record in spent.items():  # v1: the tag hashes the taken offer's reference
            if record.kind == "offer" and loan.tag in LevvySource._v1_tags(ref):
                return ref
        return None

    @staticmethod
    def _payment_tags(tx: "Tx") -> set[bytes]:
        tags = set()
        for out in tx.outputs:
            if out.inline_datum is not None and len(out.inline_datum) == 34:
                try:
                    tags.add(read_payment_tag(out.inline_datum))
                except DatumLayoutError:
                    pass  # not a tag: some other output's datum
        return tags

    # -- markets ----------------------------------------------------------------------------
    def fetch_markets(self) -> list[Market]:
        raise Unsupported(VENUE, "has no markets API: its markets come from the open offers "
                                 "on chain (markets_from_chain)")

    def markets_from_chain(self, records: Sequence[tuple[VenueRecord, int]],
                           api_markets: Sequence[Market]) -> list[Market]:
        if self.config is None:
            return []
        missing = sorted({r.market for r, _ in records if r.market and open_offer(r)}
                         - {str(a) for a in self.prices})
        if missing:
            log.debug("levvy: no price for %s: no market shown", ", ".join(missing))
        return markets_from_records(records, self.prices, self.config)

    # -- builders -----------------------------------------------------------------------------
    def _context(self) -> builders.BuildContext:
        self.require_enabled()
        assert self.config is not None
        clock = CLOCKS.get(self.network.name)
        if clock is None:
            raise Unsupported(VENUE, f"no slot clock for network {self.network.name}")
        return builders.BuildContext(self.config, clock, self.now_ms(), self.mainnet, self.params)

    def _utxo(self, ref: str) -> builders.ScriptUtxo:
        if self.chain is None:
            raise Unsupported(VENUE, "building needs the indexed chain (source.use_chain)")
        stored = self.chain.utxo(ref)
        if stored is None or stored.spent_tx is not None:
            raise VenueRefused(VENUE, f"{ref} is not an unspent Levvy UTxO")
        return builders.ScriptUtxo.from_stored(stored)

    def build_lend(self, market_id: str, amount: int, wallet: Wallet, *,
                   token_amount: int | None = None,
                   interest_amount: int | None = None) -> UnsignedTx:
        """An offer of `amount` lovelace against `token_amount` units of the market's
        token for `interest_amount` lovelace: a Levvy lender sets both."""
        if token_amount is None or interest_amount is None:
            raise Unsupported(VENUE, "a Levvy offer names its collateral amount and interest: "
                                     "pass token_amount and interest_amount")
        return builders.build_offer(self._context(), wallet, Asset.from_unit(market_id),
                                    token_amount, amount, interest_amount)

    def build_withdraw(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        raise Unsupported(VENUE, "has no deposits to withdraw: a lender cancels an open offer "
                                 "(build_cancel) or claims a repayment (build_claim)")

    def build_borrow(self, market_id: str, amount: int, collateral: Asset,
                     collateral_amount: int, wallet: Wallet) -> UnsignedTx:
        """Take the open offer that lends exactly `amount` lovelace against at most
        `collateral_amount` of `collateral`, asking the least collateral."""
        ctx = self._context()
        if self.chain is None:
            raise Unsupported(VENUE, "borrowing needs the open offers of the indexed chain "
                                     "(source.use_chain)")
        if str(collateral) != str(Asset.from_unit(market_id)):
            raise VenueRefused(VENUE, f"market {market_id} takes its own token as collateral, "
                                      f"not {collateral}")
        candidates = []
        for credential in ctx.config.validator_hashes:
            for stored in self.chain.unspent_at(credential):
                if stored.inline_datum is None:
                    continue
                try:
                    datum = read_datum(stored.inline_datum)
                except DatumLayoutError:
                    continue  # not an offer this code can take
                if (isinstance(datum, Offer) and datum.version == "v2"
                        and datum.collateral == collateral and datum.loan_amount == amount
                        and datum.token_amount <= collateral_amount
                        and stored.lovelace >= datum.loan_amount):
                    candidates.append((datum.token_amount, datum.interest_amount, stored.ref,
                                       stored))
        if not candidates:
            raise VenueRefused(VENUE, f"no open offer lends exactly {amount} lovelace against "
                                      f"at most {collateral_amount} of {collateral}")
        stored = min(candidates, key=lambda c: c[:3])[3]
        return builders.build_borrow(ctx, wallet, builders.ScriptUtxo.from_stored(stored))

    def build_repay(self, loan_ref: str, amount: int | None, wallet: Wallet) -> UnsignedTx:
        ctx = self._context()
        loan = self._utxo(loan_ref)
        datum = loan.read()
        if amount is not None and not (isinstance(datum, Loan) and amount == datum.debt):
            raise Unsupported(VENUE, "repays a loan only in full (loan + interest)")
        return builders.build_repay(ctx, wallet, loan)

    def build_cancel(self, order_ref: str, wallet: Wallet) -> UnsignedTx:
        ctx = self._context()
        return builders.build_cancel(ctx, wallet, self._utxo(order_ref))

    def build_foreclose(self, loan_ref: str, wallet: Wallet) -> UnsignedTx:
        """The lender's side: take the collateral of a loan past its end."""
        ctx = self._context()
        return builders.build_foreclose(ctx, wallet, self._utxo(loan_ref))

    def build_claim(self, repayment_ref: str, wallet: Wallet) -> UnsignedTx:
        """The lender's side: collect a repaid loan's ADA."""
        ctx = self._context()
        return builders.build_claim(ctx, wallet, self._utxo(repayment_ref))

    def build_add_collateral(self, loan_ref: str, asset: Asset, amount: int,
                             wallet: Wallet) -> UnsignedTx:
        raise Unsupported(VENUE, "a Levvy loan's collateral is fixed by the offer it took")

    def build_withdraw_collateral(self, loan_ref: str, asset: Asset, amount: int,
                                  wallet: Wallet) -> UnsignedTx:
        raise Unsupported(VENUE, "a Levvy loan's collateral is fixed by the offer it took")

    # -- the fate of a loan -----------------------------------------------------------------
    def loan_fate(self, loan_ref: str, view: ChainView) -> LoanFate:
        stored = view.utxo(loan_ref)
        if stored is None:
            return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                            reason="the loan UTxO is not indexed")
        if stored.inline_datum is None:
            raise DatumLayoutError(VENUE, f"{loan_ref}: a loan UTxO without an inline datum")
        loan = read_datum(stored.inline_datum)
        if not isinstance(loan, Loan):
            raise DatumLayoutError(VENUE, f"{loan_ref} holds a {KINDS[type(loan)]}, not a loan")
        if stored.spent_tx is None:
            return LoanFate(VENUE, loan_ref, "open", loan_ref, loan.debt,
                            {loan.collateral: loan.token_amount}, as_of_slot=stored.created_slot,
                            reason=f"ends at {loan.loan_end_ms} ms")
        for utxo in view.created_by(stored.spent_tx):
            if utxo.inline_datum is None:
                continue
            try:
                datum = read_datum(utxo.inline_datum)
            except DatumLayoutError:
                continue  # another output of the same tx
            if isinstance(datum, Repayment) and datum.loan_ref.text == loan_ref:
                return LoanFate(VENUE, loan_ref, "repaid", None, 0, {},
                                spent_by=stored.spent_tx, as_of_slot=stored.spent_slot,
                                reason=f"repaid: {utxo.ref} waits for the lender")
        if view.is_ours(stored.spent_tx):
            return LoanFate(VENUE, loan_ref, "repaid", None, 0, {}, spent_by=stored.spent_tx,
                            as_of_slot=stored.spent_slot, reason="spent by our own repayment")
        return LoanFate(VENUE, loan_ref, "liquidated", None, 0, {}, spent_by=stored.spent_tx,
                        as_of_slot=stored.spent_slot,
                        reason="foreclosed: spent by a transaction we did not send, with no "
                               "repayment; the lender took the collateral")

