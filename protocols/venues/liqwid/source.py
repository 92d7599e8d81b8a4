"""`LiqwidSource`: Liqwid as a LeverageSource. The API side (markets, loans, builders,
submit) is here over api.py; the on-chain side (reading UTxOs and transactions, markets
from chain state, a loan's fate) is chain.py's.

Builders return Liqwid's own unsigned transaction (`built_by="venue-api"`) with an Intent
that says what we asked for: what leaves the wallet, what comes back, and which of the
venue's scripts receive what. The venue's script addresses come from the built
transaction, recognised by the market's Action and Loan tokens (parties.py), so a
network without Liqwid token data can list markets but cannot build.

Liqwid settles every user action in its own transaction (a supply spends an Action UTxO
and mints the qTokens at once; borrow and modifyBorrow act on the loan directly): there
are no pending user orders, so nothing to cancel.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from chain.ledger import LedgerError, Tx, decode_transaction
from core.units import ADA, Asset, UnitError, require_rate
from protocols.base import ChainView, LeverageSource, VenueTokens, Watch
from protocols.errors import Unsupported
from protocols.model import (CollateralOption, Intent, LoanFate, Market, Transfer, UnsignedTx,
                             VenueEvent, VenueRecord, Wallet)
from protocols.venues.liqwid import chain as onchain
from protocols.venues.liqwid import fields as f
from protocols.venues.liqwid.api import LiqwidApi, _now_ms
from protocols.venues.liqwid.ids import (BorrowCollateralId, LiqwidInputError, LoanId,
                                         MarketCollateralId)
from protocols.venues.liqwid.loans import LiqwidLoan
from protocols.venues.liqwid.markets import LiqwidMarkets, parse_markets
from protocols.venues.liqwid.parties import VenueOutput, market_policies, one_venue_output
from protocols.venues.liqwid.tokens import WATCHED_ROLES, watch_of

if TYPE_CHECKING:
    from chain.ledger import TxOut
    from core.settings import Network

log = logging.getLogger(__name__)

#: The most lovelace a borrow may take from the wallet besides the collateral: the new
#: loan UTxO's min-ADA deposit (Liqwid's MarketState says minAda 3 ADA on Ada in 2026).
DEPOSIT_ALLOWANCE_LOVELACE = 5_000_000


class LiqwidSource(LeverageSource):
    venue = "liqwid"

    def __init__(self, network: "Network", tokens: VenueTokens | None, *,
                 api: LiqwidApi | None, disabled_reason: str | None = None,
                 market_max_age_s: float = 900,
                 clock: Callable[[], int] = _now_ms,
                 deposit_allowance_lovelace: int = DEPOSIT_ALLOWANCE_LOVELACE) -> None:
        if disabled_reason is None and api is None:
            raise ValueError("an enabled Liqwid source needs its API client")
        # Off, or no token data here: nothing to watch. Else the tokens' roles, plus the
        # Loan validators of markets whose Loan token is unknown (tokens.py).
        watch = Watch() if disabled_reason is not None or tokens is None else watch_of(tokens)
        super().__init__(network, tokens, disabled_reason=disabled_reason, watch=watch)
        self.api = api
        self.market_max_age_s = market_max_age_s
        self.clock = clock
        self.deposit_allowance_lovelace = deposit_allowance_lovelace
        self.markets_per_page = 100
        self._markets: LiqwidMarkets | None = None
        self._markets_at_ms = 0

    # -- identity and state ------------------------------------------------------------
    @property
    def watch_note(self) -> str | None:
        """Why nothing is watched on chain while the venue is enabled (None: watching)."""
        if self.disabled_reason is not None:
            return None
        if self.tokens is None:
            return (f"no Liqwid token data for {self.network}: markets come from the API, "
                    "no UTxO is watched")
        return None

    def watched_kinds(self) -> Sequence[str]:
        return WATCHED_ROLES  # never the qTokens: users hold those

    # -- the chain side (chain.py, pure) -----------------------------------------------------
    def read_output(self, ref: str, out: "TxOut", datum_cbor: bytes | None) -> VenueRecord | None:
        if self.tokens is None:
            return None
        return onchain.read_output(self.tokens, ref, out, datum_cbor)

    def read_tx(self, tx: Tx, spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
        if self.tokens is None:
            return []
        return onchain.read_tx(self.tokens, tx, spent)

    def markets_from_chain(self, records: Sequence[tuple[VenueRecord, int]],
                           api_markets: Sequence[Market]) -> list[Market]:
        if self.tokens is None:
            return list(api_markets)
        return onchain.markets_from_chain(records, api_markets, now_ms=self.clock())

    def loan_fate(self, loan_ref: str, view: ChainView) -> LoanFate:
        tokens = self._require_tokens("tell a loan's fate from the chain")
        return onchain.loan_fate(tokens, loan_ref, view)

    # -- markets and loans (the API) --------------------------------------------------------
    def _api(self) -> LiqwidApi:
        self.require_enabled()
        assert self.api is not None  # enabled implies an API (checked in __init__)
        return self.api

    def fetch_markets(self) -> list[Market]:
        answer = self._api().markets(per_page=self.markets_per_page)
        parsed = parse_markets(answer.rows, answer.fetched_ms)
        self._markets, self._markets_at_ms = parsed, answer.fetched_ms
        return list(parsed.markets)

    def use_markets(self, markets: Sequence[Market]) -> None:
        """Markets refreshed elsewhere (chain state over API figures) replace the cached
        ones of the same id; what only the API knows (qToken decimals) stays."""
        if self._markets is None:
            return
        fresh = {m.market_id: m for m in markets if m.venue == self.venue}
        self._markets = LiqwidMarkets(
            tuple(fresh.get(m.market_id, m) for m in self._markets.markets),
            self._markets.qtoken_market, self._markets.receipt_decimals)

    def _known_markets(self) -> LiqwidMarkets:
        age_s = (self.clock() - self._markets_at_ms) / 1000
        if self._markets is None or age_s > self.market_max_age_s:
            self.fetch_markets()
        assert self._markets is not None
        return self._markets

    def _market(self, market_id: str) -> Market:
        market = self._known_markets().get(market_id)
        if market is None:
            raise LiqwidInputError(f"no market {market_id!r} at Liqwid")
        return market

    def _qtoken_market(self, policy: str) -> str | None:
        """The market whose qToken `policy` is: as the API says, else as the token data
        says."""
        found = self._known_markets().qtoken_market.get(policy)
        if found is None and self.tokens is not None and any(
                p.hex() == policy for p in self.tokens.by_kind.get("qtoken", frozenset())):
            found = self.tokens.market_of.get(policy)
        return found

    def _qtoken_decimals(self, market_id: str) -> int:
        decimals = self._known_markets().receipt_decimals.get(market_id)
        if decimals is None:
            raise UnitError(f"the decimals of market {market_id}'s qToken are unknown (the "
                            "API gave no receiptAsset); refusing to guess")
        return decimals

    def supply_market(self, receipt: Asset) -> str:
        found = None if receipt.name else self._qtoken_market(receipt.policy)
        if found is None:
            raise LiqwidInputError(f"{receipt} is not the qToken of any Liqwid market")
        return found

    def loans(self, owner: str | None = None) -> list[LiqwidLoan]:
        """Loans from the API: one owner's (a payment key hash or an address), or every
        loan with debt."""
        if owner is None:
            return self._api().loans(filters=("HAS_DEBT",))
        return self._api().loans(payment_keys=(owner_key(owner),))

    def fetch_loans(self, owner: str | None = None) -> list[dict[str, Any]]:
        loans = self.loans(owner)
        known = self._known_markets()
        return [loan_json(loan, known) for loan in loans]

    def _loan(self, loan_ref: str, wallet: Wallet) -> LiqwidLoan:
        wanted = LoanId.from_ref(loan_ref)
        for loan in self._api().loans(payment_keys=(owner_key(wallet.address),)):
            if loan.loan_id == wanted:
                return loan
        raise LiqwidInputError(f"Liqwid lists no loan {wanted} for the key of "
                               f"{wallet.address[:20]}…")

    # -- builders ----------------------------------------------------------------------------
    def build_lend(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        tokens = self._require_tokens("build")
        market = self._market(market_id)
        _require_open(market, "supply")
        if market.min_size is not None and amount < market.min_size:
            raise LiqwidInputError(f"{amount} is below market {market_id}'s minimum "
                                   f"{market.min_size}")
        receipt = _receipt(market)
        rate = require_rate(market.receipt_rate, f"market {market_id}'s qToken")
        minted = rate.receipts_for_deposit(amount)
        cbor = self._api().build_supply(market_id, amount, wallet)
        tx = _decode(cbor, "supply")
        action = one_venue_output(tx, tokens, "action", market_id, "supply")
        asset = market.borrow.asset
        return self._unsigned(cbor, Intent(
            action="lend", venue=self.venue, market=market_id, wallet=wallet.address,
            leaves=(Transfer(wallet.address, asset, amount),),
            comes_back=(Transfer(wallet.change, receipt, minted),),
            to_venue=(Transfer(action.address, asset, amount),),
            notes=(f"qTokens at {rate.source} rate {_ratio(rate.underlying_per_receipt)} "
                   "underlying per qToken (base units)",),
            mint=((receipt, minted),)))

    def build_withdraw(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        tokens = self._require_tokens("build")
        market = self._market(market_id)
        receipt = _receipt(market)
        rate = require_rate(market.receipt_rate, f"market {market_id}'s qToken")
        burned = rate.receipts_to_burn(amount)
        cbor = self._api().build_withdraw(market_id, amount, wallet)
        tx = _decode(cbor, "withdraw")
        action = one_venue_output(tx, tokens, "action", market_id, "withdraw")
        return self._unsigned(cbor, Intent(
            action="withdraw", venue=self.venue, market=market_id, wallet=wallet.address,
            leaves=(Transfer(wallet.address, receipt, burned),),
            comes_back=(Transfer(wallet.change, market.borrow.asset, amount),),
            to_venue=_marked(action),
            notes=(f"{burned} qTokens burned (rounded up at {rate.source} rate "
                   f"{_ratio(rate.underlying_per_receipt)})",),
            mint=((receipt, -burned),)))

    def build_borrow(self, market_id: str, amount: int, collateral: Asset,
                     collateral_amount: int, wallet: Wallet) -> UnsignedTx:
        tokens = self._require_tokens("build")
        market = self._market(market_id)
        _require_open(market, "borrow")
        if amount > market.available_liquidity:
            raise LiqwidInputError(f"market {market_id} has {market.available_liquidity} to "
                                   f"lend, {amount} asked")
        collateral_market, notes = self._collateral_market(market, collateral)
        cbor = self._api().build_borrow(
            market_id, amount, [(BorrowCollateralId(collateral_market), collateral_amount)],
            wallet)
        tx = _decode(cbor, "borrow")
        loan = one_venue_output(tx, tokens, "loan", market_id, "borrow")
        action = one_venue_output(tx, tokens, "action", market_id, "borrow")
        if market.fees.origination:
            notes += (f"origination fee {market.fees.origination} of the amount; how Liqwid "
                      "charges it (taken from the loan or added to the debt) is not "
                      "established",)
        return self._unsigned(cbor, Intent(
            action="borrow", venue=self.venue, market=market_id, wallet=wallet.address,
            leaves=(Transfer(wallet.address, collateral, collateral_amount),
                    Transfer(wallet.address, ADA, self.deposit_allowance_lovelace)),
            comes_back=(Transfer(wallet.change, market.borrow.asset, amount),),
            to_venue=(Transfer(loan.address, collateral, collateral_amount),
                      *_marked(loan), *_marked(action)),
            notes=notes + (f"at most {self.deposit_allowance_lovelace} lovelace besides the "
                           "fee: the new loan UTxO's min-ADA deposit",),
            mint=() if loan.token is None else ((loan.token, 1),)))

    def _collateral_market(self, market: Market, collateral: Asset) -> tuple[str, tuple[str, ...]]:
        """The market whose qTokens `collateral` is, checked against the borrow market's
        collateral options where the API gave them."""
        option = _option_held_as(market.collaterals, collateral)
        if option is None:
            underlying = market.collateral_for(collateral)
            if underlying is not None:
                raise LiqwidInputError(f"Liqwid locks qTokens: pass {underlying.held_as} "
                                       f"(the qTokens of {collateral}), supplied first")
            if market.collaterals:
                raise LiqwidInputError(f"{collateral} is not a collateral of market "
                                       f"{market.market_id}")
        collateral_market = None if collateral.name else self._qtoken_market(collateral.policy)
        if collateral_market is None:
            raise LiqwidInputError(f"{collateral} is not the qToken of any Liqwid market")
        notes: tuple[str, ...] = ()
        if option is None:
            notes = (f"market {market.market_id}'s collateral options are unknown (the API "
                     "gave none): the venue checks the collateral",)
        return collateral_market, notes

    def build_repay(self, loan_ref: str, amount: int | None, wallet: Wallet) -> UnsignedTx:
        """amount None: repay in full (modifyBorrow to a debt of 0; the qTokens come back
        to the wallet, still supplied); else repay `amount` base units (modifyBorrow to the
        debt less `amount`)."""
        tokens = self._require_tokens("build")
        loan = self._loan(loan_ref, wallet)
        market = self._market(loan.market_id)
        debt = self._debt(loan, market)
        if amount is None:
            target, repaid = 0, debt
        else:
            if type(amount) is not int or not 0 < amount < debt:
                raise LiqwidInputError(f"a partial repay is between 1 and {debt - 1} (the debt "
                                       f"less one); repay in full with amount None")
            target, repaid = debt - amount, amount
        current = self._loan_collaterals(loan, market)
        loan_id = LoanId.from_ref(loan_ref)
        cbor = self._api().build_modify_borrow(loan_id, target, current, wallet)
        tx = _decode(cbor, "repay")
        action = one_venue_output(tx, tokens, "action", loan.market_id, "repay")
        asset = market.borrow.asset
        to_venue = [Transfer(action.address, asset, repaid)]
        comes_back: tuple[Transfer, ...] = ()
        if target == 0:
            comes_back = tuple(Transfer(wallet.change, ident.held_as, quantity)
                               for ident, quantity in current)
        else:
            kept = one_venue_output(tx, tokens, "loan", loan.market_id, "repay")
            to_venue += _loan_keeps(kept, current)
        return self._unsigned(cbor, Intent(
            action="repay", venue=self.venue, market=loan.market_id, wallet=wallet.address,
            leaves=(Transfer(wallet.address, asset, repaid),),
            comes_back=comes_back, to_venue=tuple(to_venue),
            notes=(f"debt {debt} as the API reports it now; modifyBorrow to a debt of "
                   f"{target}",),
            mint=_loan_burn(tx, tokens, loan.market_id) if target == 0 else ()))

    def build_add_collateral(self, loan_ref: str, asset: Asset, amount: int,
                             wallet: Wallet) -> UnsignedTx:
        return self._change_collateral(loan_ref, asset, amount, wallet, adding=True)

    def build_withdraw_collateral(self, loan_ref: str, asset: Asset, amount: int,
                                  wallet: Wallet) -> UnsignedTx:
        return self._change_collateral(loan_ref, asset, amount, wallet, adding=False)

    def _change_collateral(self, loan_ref: str, asset: Asset, amount: int, wallet: Wallet, *,
                           adding: bool) -> UnsignedTx:
        tokens = self._require_tokens("build")
        if type(amount) is not int or amount <= 0:
            raise LiqwidInputError(f"a collateral change is a positive amount, got {amount!r}")
        loan = self._loan(loan_ref, wallet)
        market = self._market(loan.market_id)
        if asset.name or self._qtoken_market(asset.policy) is None:
            raise LiqwidInputError(f"Liqwid collateral is qTokens; {asset} is not a qToken")
        debt = self._debt(loan, market)
        current = self._loan_collaterals(loan, market)
        target: list[tuple[MarketCollateralId, int]] = []
        found = False
        for ident, quantity in current:
            if ident.held_as == asset:
                found = True
                quantity += amount if adding else -amount
                if quantity < 0:
                    raise LiqwidInputError(f"the loan holds {quantity + amount} of {asset}, "
                                           f"{amount} asked back")
            if quantity:
                target.append((ident, quantity))
        if not found:
            if not adding:
                raise LiqwidInputError(f"the loan holds no {asset}")
            target.append((_venue_id(market, asset), amount))
        loan_id = LoanId.from_ref(loan_ref)
        what = "add collateral" if adding else "withdraw collateral"
        cbor = self._api().build_modify_borrow(loan_id, debt, target, wallet)
        tx = _decode(cbor, what)
        kept = one_venue_output(tx, tokens, "loan", loan.market_id, what)
        moved = (Transfer(wallet.address, asset, amount),)
        return self._unsigned(cbor, Intent(
            action="add_collateral" if adding else "withdraw_collateral", venue=self.venue,
            market=loan.market_id, wallet=wallet.address,
            leaves=moved if adding else (),
            comes_back=() if adding else (Transfer(wallet.change, asset, amount),),
            to_venue=tuple(_loan_keeps(kept, target)),
            notes=(f"modifyBorrow keeps the debt at {debt}, the API's figure now: a debt that "
                   "has moved since shows as a small repay or borrow in the transaction",)))

    def build_modify_loan(self, loan_ref: str, debt: int,
                          collaterals: Sequence[tuple[Asset, int]], wallet: Wallet, *,
                          redeem: bool = False) -> UnsignedTx:
        """modifyBorrow to a target: afterwards the loan owes `debt` base units (0: repaid
        in full, all its collateral freed) and locks `collaterals` (qToken, base units).
        More debt comes to the wallet, less is paid from it; qTokens added leave the
        wallet; those freed come back, or with `redeem` their underlying (burned at their
        market, rounded down). Targets, not changes: a second build asks for the same loan."""
        tokens = self._require_tokens("build")
        if type(debt) is not int or debt < 0:
            raise LiqwidInputError(f"a loan's debt is a non-negative integer, got {debt!r}")
        loan = self._loan(loan_ref, wallet)
        market = self._market(loan.market_id)
        owed = self._debt(loan, market)
        current = self._loan_collaterals(loan, market)
        target: list[tuple[MarketCollateralId, int]] = []
        for asset, quantity in collaterals:
            if asset.name or self._qtoken_market(asset.policy) is None:
                raise LiqwidInputError(f"Liqwid collateral is qTokens; {asset} is not a qToken")
            if type(quantity) is not int or quantity < 0:
                raise LiqwidInputError(f"a collateral amount is a non-negative integer, "
                                       f"got {quantity!r}")
            if quantity:
                target.append((_venue_id(market, asset), quantity))
        if debt > owed:
            _require_open(market, "borrow")
            if debt - owed > market.available_liquidity:
                raise LiqwidInputError(f"market {market.market_id} has "
                                       f"{market.available_liquidity} to lend, "
                                       f"{debt - owed} asked")
        before = {ident.held_as: quantity for ident, quantity in current}
        after = {} if debt == 0 else {ident.held_as: quantity for ident, quantity in target}
        cbor = self._api().build_modify_borrow(LoanId.from_ref(loan_ref), debt,
                                               current if debt == 0 else target, wallet,
                                               redeem_collateral=redeem)
        tx = _decode(cbor, "modifyBorrow")
        asset = market.borrow.asset
        leaves: list[Transfer] = []
        comes_back: list[Transfer] = []
        to_venue: list[Transfer] = []
        notes = [f"debt {owed} as the API reports it now; modifyBorrow to {debt}"]
        mint: list[tuple[Asset, int]] = list(_loan_burn(tx, tokens, loan.market_id)
                                             if debt == 0 else ())
        if debt != owed:
            action = one_venue_output(tx, tokens, "action", loan.market_id, "modifyBorrow")
            if debt < owed:
                leaves.append(Transfer(wallet.address, asset, owed - debt))
                to_venue.append(Transfer(action.address, asset, owed - debt))
            else:
                comes_back.append(Transfer(wallet.change, asset, debt - owed))
                to_venue.extend(_marked(action))
        for qtoken in sorted({*before, *after}, key=lambda a: a.unit):
            change = after.get(qtoken, 0) - before.get(qtoken, 0)
            if change > 0:
                leaves.append(Transfer(wallet.address, qtoken, change))
            elif change < 0 and not redeem:
                comes_back.append(Transfer(wallet.change, qtoken, -change))
            elif change < 0:
                source_market = self._market(self._qtoken_market(qtoken.policy) or "")
                rate = require_rate(source_market.receipt_rate,
                                    f"market {source_market.market_id}'s qToken")
                paid = rate.underlying(-change)
                comes_back.append(Transfer(wallet.change, source_market.borrow.asset, paid))
                mint.append((qtoken, change))
                redeemed = one_venue_output(tx, tokens, "action", source_market.market_id,
                                            "redeemCollateral")
                to_venue.extend(_marked(redeemed))
                notes.append(f"{-change} {qtoken.unit} redeemed for {paid} underlying at "
                             f"{rate.source} rate {_ratio(rate.underlying_per_receipt)}")
        if debt:
            kept = one_venue_output(tx, tokens, "loan", loan.market_id, "modifyBorrow")
            to_venue.extend(_loan_keeps(kept, target))
        action_name = ("borrow" if debt > owed else "repay" if debt < owed
                       else "add_collateral" if sum(after.values()) > sum(before.values())
                       else "withdraw_collateral")
        return self._unsigned(cbor, Intent(
            action=action_name, venue=self.venue, market=loan.market_id,
            wallet=wallet.address, leaves=tuple(leaves), comes_back=tuple(comes_back),
            to_venue=tuple(to_venue), notes=tuple(notes), mint=tuple(mint)))

    def build_cancel(self, order_ref: str, wallet: Wallet) -> UnsignedTx:
        raise Unsupported(self.venue, "has no pending user orders: supply, withdraw, borrow "
                                      "and modifyBorrow each settle in their own transaction")

    def submit(self, tx_cbor: bytes, witness_set: bytes) -> str:
        """Liqwid merges the witness set into its transaction and broadcasts it (sent once)."""
        return self._api().submit(tx_cbor, witness_set)

    # -- helpers -----------------------------------------------------------------------------
    def _require_tokens(self, what: str) -> VenueTokens:
        self.require_enabled()
        if self.tokens is None:
            raise Unsupported(self.venue, f"cannot {what} on {self.network}: no Liqwid token "
                                          "data for it, so the venue's outputs cannot be "
                                          "recognised")
        return self.tokens

    def _debt(self, loan: LiqwidLoan, market: Market) -> int:
        """The loan's debt in base units, rounded up (what must be brought)."""
        return f.whole_to_base(loan.debt, market.borrow.decimals, round_up=True)

    def _loan_collaterals(self, loan: LiqwidLoan,
                          market: Market) -> list[tuple[MarketCollateralId, int]]:
        listed = []
        for i, item in enumerate(loan.collaterals):
            decimals = self._qtoken_decimals(item.market_id)
            listed.append((_venue_id(market, item.id.held_as),
                           f.exact_base(item.qtokens, decimals,
                                        f"loan {loan.loan_id} collaterals[{i}]")))
        return listed

    @staticmethod
    def _unsigned(cbor: bytes, intent: Intent) -> UnsignedTx:
        return UnsignedTx(cbor=cbor, intent=intent, built_by="venue-api")


# -- pure helpers ------------------------------------------------------------------------------

def _decode(cbor: bytes, what: str) -> Tx:
    try:
        tx = decode_transaction(cbor)
    except LedgerError as error:
        raise f.bad(f"built {what}", f"not a transaction: {error}") from None
    return tx


def _loan_burn(tx: Tx, tokens: VenueTokens, market_id: str) -> tuple[tuple[Asset, int], ...]:
    """A loan repaid in full burns its Loan token: one, under the market's Loan policy
    (its name is the venue's; a burn of anything else is the check's to refuse)."""
    policies = market_policies(tokens, "loan", market_id)
    for (policy, name), quantity in tx.mint.items():
        if policy in policies and quantity == -1:
            return ((Asset(policy.hex(), name.hex()), -1),)
    return ()


def _require_open(market: Market, what: str) -> None:
    blocked = [r for r in market.status.reasons() if r != "batching"]
    if blocked:
        raise LiqwidInputError(f"market {market.market_id} is {', '.join(blocked)}: no {what}")


def _receipt(market: Market) -> Asset:
    if market.receipt is None:
        raise UnitError(f"market {market.market_id}'s qToken is unknown (the API gave no "
                        "receiptAsset); refusing to build")
    return market.receipt


def _option_held_as(options: Sequence[CollateralOption], asset: Asset) -> CollateralOption | None:
    for option in options:
        if option.held_as == asset:
            return option
    return None


def _venue_id(market: Market, qtoken: Asset) -> MarketCollateralId:
    """The modifyBorrow id of `qtoken` in `market`: as the market's parameters list it where
    they do, else built from the market and the qToken policy (the same form)."""
    option = _option_held_as(market.collaterals, qtoken)
    if option is not None and option.venue_id:
        return MarketCollateralId.parse(option.venue_id)
    return MarketCollateralId(market.market_id, qtoken.policy)


def _marked(out: VenueOutput) -> tuple[Transfer, ...]:
    """The venue output keeps the token that marks it (what names its address)."""
    return () if out.token is None else (Transfer(out.address, out.token, 1),)


def _loan_keeps(kept: VenueOutput,
                collaterals: Sequence[tuple[MarketCollateralId, int]]) -> list[Transfer]:
    return [*_marked(kept)] + [
        Transfer(kept.address, ident.held_as, quantity) for ident, quantity in collaterals]


def _ratio(value: Any) -> str:
    return f"{value.numerator}/{value.denominator}"


def owner_key(owner: str) -> str:
    """A payment key hash (56 hex), from itself or from a bech32 address."""
    text = owner.strip().lower()
    if len(text) == 56:
        try:
            bytes.fromhex(text)
            return text
        except ValueError:
            pass
    from pycardano import Address, VerificationKeyHash

    try:
        address = Address.from_primitive(owner.strip())
    except Exception:
        raise LiqwidInputError(f"not a payment key hash or an address: {owner!r:.120}") from None
    if not isinstance(address.payment_part, VerificationKeyHash):
        raise LiqwidInputError("Liqwid finds loans by payment key: this address's payment "
                               "part is a script")
    return bytes(address.payment_part.payload).hex()


def loan_json(loan: LiqwidLoan, known: LiqwidMarkets) -> dict[str, Any]:
    """One loan as a JSON line (`dhl venues loans`): base units where the decimals are
    known, the API's whole-unit figures as decimal strings beside them."""
    market = known.get(loan.market_id)
    debt = None if market is None else f.whole_to_base(loan.debt, market.borrow.decimals,
                                                       round_up=True)
    collaterals = []
    for item in loan.collaterals:
        decimals = known.receipt_decimals.get(item.market_id)
        collaterals.append({
            "id": str(item.id), "market": item.market_id, "qtoken": item.id.held_as.unit,
            "qtoken_name": item.qtoken_name, "qtokens_whole": f.decimal_text(item.qtokens),
            "qtokens": None if decimals is None
            else f.whole_to_base(item.qtokens, decimals, round_up=False)})
    health = loan.health
    return {
        "venue": "liqwid",
        "id": None if loan.loan_id is None else str(loan.loan_id),
        "ref": None if loan.loan_id is None else loan.loan_id.ref,
        "market": loan.market_id,
        "owner": loan.owner,
        "asset": None if market is None else market.borrow.asset.unit,
        "debt": debt,
        "debt_whole": f.decimal_text(loan.debt),
        "apy": None if loan.apy is None else f.decimal_text(loan.apy),
        "health": health.label,
        "health_factor": None if health.health_factor is None
        else f.decimal_text(health.health_factor),
        "ltv": None if health.ltv is None else f.decimal_text(health.ltv),
        "health_reason": health.reason,
        "collaterals": collaterals,
    }
