"""Surf (formerly Flow Lending) as a LeverageSource.

Markets come from `getAllPoolInfos` and are replaced by chain state (PoolDatum +
PoolInfoDatum) as blocks arrive. Every user action is a two-phase order: the builders ask
Surf's API for the order transaction (it picks the wallet's UTxOs through Blockfrost), then
check it before anyone signs: the order it pays must be the one requested (type, pool,
owner, amounts), its batcher fee at most `max_batcher_fee`, its script the pool's order
script; and where the pool's PoolInfoDatum is known, the project builds the same order
itself (orders.py) and the API's transaction must pay the order script at least what ours
does, with the same datum (`compare_with_ours`). A mismatch refuses (VenueRefused).

Surf repays only in full (by the position's current outRef, re-read from the API), has no
path to take collateral out of an open loan, and adds collateral only by spending the vault
(VAddCollateral), which needs the vault script and the network's cost model.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from chain.ledger import LedgerError, Tx, TxOut, decode_transaction
from core.lazy import lazy_module
from core.units import ADA, Asset, require_rate
from protocols.base import ChainView, LeverageSource
from protocols.errors import MalformedResponse, Unsupported, VenueRefused
from protocols.model import (LoanFate, Market, Transfer, UnsignedTx, VenueEvent, VenueRecord,
                             Wallet)
from protocols.offline_chain import MAINNET_CONWAY, ProtocolParams
from protocols.venues.surf import chain
from protocols.venues.surf.api import Position, SurfApi, Submitted
from protocols.venues.surf.credentials import payment_credential, payment_is_script
from protocols.venues.surf.datums import (OBorrow, ODeposit, OrderDatum, ORepay, OutRef,
                                          OWithdraw, PoolInfoDatum, VaultDatum, order_name,
                                          read_pool_info, read_vault)
from protocols.venues.surf.markets import PoolRow, parse_pool_infos
from protocols.venues.surf.tokens import POOL_INFO_NFT, SurfBook, load_book, save_learned

if TYPE_CHECKING:
    from protocols.venues.surf import orders
else:  # the order builder imports pycardano: loaded when a build first needs it
    orders = lazy_module("protocols.venues.surf.orders")

if TYPE_CHECKING:
    from core.settings import Network, Settings

log = logging.getLogger(__name__)

VENUE = "surf"
#: How far from now the API may set an order's time fields (o_start_time, o_time).
TIME_TOLERANCE_MS = 2 * 60 * 60 * 1000


@dataclass(frozen=True)
class ScriptConfig:
    """What building a script spend ourselves needs (cancel, add collateral): none of it is
    known for mainnet (docs/venues.md, Surf), so by default these are off."""

    order_script: orders.ScriptSource | None = None
    vault_script: orders.ScriptSource | None = None
    params: ProtocolParams = MAINNET_CONWAY
    slot: Callable[[], int] | None = None  # the current slot (validity interval)


class SurfSource(LeverageSource):
    venue = "surf"

    def __init__(self, network: "Network", book: SurfBook, api: SurfApi | None, *,
                 disabled_reason: str | None = None, learned_path: Path | None = None,
                 scripts: ScriptConfig | None = None,
                 clock_ms: Callable[[], int] | None = None) -> None:
        super().__init__(network, book.tokens(), disabled_reason=disabled_reason,
                         watch=book.watch())
        self.book = book
        self.api = api
        self.learned_path = learned_path
        self.scripts = scripts or ScriptConfig()
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.mainnet = network.is_mainnet
        #: Chain state the builders may read (the indexer's view of Surf's UTxOs).
        self.view: ChainView | None = None
        self._pool_infos: dict[str, PoolInfoDatum] = {}
        self._rows: dict[str, PoolRow] = {}

    @classmethod
    def from_settings(cls, settings: "Settings") -> "SurfSource":
        from core.settings import Settings

        network = settings.cardano_network
        learned = settings.data_dir / "surf" / f"{network.name}.json"
        book = load_book(network.name, learned)
        reason = None
        if "surf" not in settings.venues:
            reason = "not in VENUES"
        elif not book.deployed and settings.surf_api_url == Settings().surf_api_url:
            reason = (f"no Surf deployment is known on {network.name}; set SURF_API_URL to a "
                      f"Surf API for it (paper mode's stub serves synthetic demo data)")
        api = SurfApi(settings.surf_api_url, timeout_s=settings.venue_api_timeout_seconds,
                      mainnet=network.is_mainnet)
        return cls(network, book, api, disabled_reason=reason, learned_path=learned)

    def watched_kinds(self) -> Sequence[str]:
        return ("pool", "vault", "oracle")

    def _api(self) -> SurfApi:
        self.require_enabled()
        if self.api is None:
            raise Unsupported(VENUE, "has no API client here")
        return self.api

    # -- reading the chain -----------------------------------------------------------------
    def read_output(self, ref: str, out: TxOut, datum_cbor: bytes | None) -> VenueRecord | None:
        return chain.read_output(self.book, ref, out, datum_cbor)

    def read_tx(self, tx: Tx, spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
        return chain.read_tx(self.book, tx, spent)

    # -- markets -----------------------------------------------------------------------------
    def fetch_markets(self) -> list[Market]:
        rows, problems = parse_pool_infos(self._api().pool_infos(), self.clock_ms(),
                                          self.book.batcher_fee_estimate)
        for problem in problems:
            log.warning("surf: left out: %s", problem)
        self._rows = {row.market.market_id: row for row in rows}
        return [row.market for row in rows]

    def markets_from_chain(self, records: Sequence[tuple[VenueRecord, int]],
                           api_markets: Sequence[Market]) -> list[Market]:
        return chain.markets_from_chain(records, api_markets)

    def fetch_loans(self, owner: str | None = None) -> list[dict[str, Any]]:
        if owner is None:
            raise Unsupported(VENUE, "lists loans by owner address only (getAllPositions)")
        return [{"venue": VENUE, "market": _market_id(p.pool_id), "loan": str(p.borrow_id),
                 "current_ref": str(p.out_ref), "principal": p.principal,
                 "principal_asset": p.principal_asset.unit, "collateral": p.collateral,
                 "collateral_asset": p.collateral_asset.unit,
                 "interest_rate": None if p.interest_rate is None else str(p.interest_rate),
                 "start_time": p.start_time, "ltv": None if p.ltv is None else str(p.ltv)}
                for p in self._api().positions(owner)]

    # -- what the chain teaches --------------------------------------------------------------
    def learn_pool_info(self, info: PoolInfoDatum) -> None:
        """A pool's parameters, from chain (lets the builders check the API's orders)."""
        self._pool_infos[str(info.pool_id)] = info

    def discover(self) -> str | None:
        before = self.book.watch().needles
        after = self.learn().watch().needles
        added = len(set(after) - set(before))
        return f"{added} new script or token ids (watched from the next start)" if added else None

    def learn(self, records: Sequence[VenueRecord] = ()) -> SurfBook:
        """I/O: grow the book from getPoolAddresses and from `records` read on chain, and
        save it (the watch is rebuilt from it at the next start)."""
        book = self.book
        for entry in self._api().pool_addresses():
            book = book.add("pool_scripts", [entry.pool.payment_hash])
            if entry.vault is not None:
                book = book.add("vault_scripts", [entry.vault.payment_hash])
        book = learn_from_records(book, records)
        if self.learned_path is not None:
            save_learned(book, self.learned_path)
        self.book = book
        return book

    def _pool_info(self, market_id: str) -> PoolInfoDatum | None:
        if market_id in self._pool_infos:
            return self._pool_infos[market_id]
        if self.view is None:
            return None
        for policy in self.book.pool_auth_policies:
            for utxo in self.view.unspent_with_policy(policy.hex()):
                if (policy.hex(), POOL_INFO_NFT.hex()) not in utxo.assets or not utxo.inline_datum:
                    continue
                info = read_pool_info(utxo.inline_datum)
                if str(info.pool_id) == market_id:
                    return info
        return None

    def _vault(self, ref: OutRef) -> VaultDatum | None:
        utxo = None if self.view is None else self.view.utxo(str(ref))
        if utxo is None or utxo.inline_datum is None:
            return None
        return read_vault(utxo.inline_datum)

    def _row(self, market_id: str) -> PoolRow:
        key = _market_id(market_id)
        if key not in self._rows:
            self.fetch_markets()
        if key not in self._rows:
            raise VenueRefused(VENUE, f"no pool {market_id} in getAllPoolInfos")
        return self._rows[key]

    # -- builders ----------------------------------------------------------------------------
    def build_lend(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        row = self._row(market_id)
        api_cbor = self._api().deposit_liquidity(row.wire_id, wallet.address, amount)
        rate = row.market.receipt_rate
        ctokens = None if rate is None else rate.receipts_for_deposit(amount)
        back = {} if ctokens is None or row.ctoken is None else {row.ctoken: ctokens}

        def check(datum: OrderDatum) -> list[str]:
            return _expect(datum, ODeposit, o_amount=amount)

        def ours(pool: orders.PoolContext, owner: orders.Owner,
                 datum: OrderDatum) -> orders.OrderPlan:
            return orders.deposit_plan(pool, owner, amount, datum.o_batcher_fee, ctokens)

        return self._checked("lend", row, api_cbor, wallet, check, ours, back)

    def build_withdraw(self, market_id: str, amount: int, wallet: Wallet) -> UnsignedTx:
        """`amount`: base units of the pool asset; the cTokens to burn are as many as that
        is worth, rounded down (never more than the amount's worth)."""
        row = self._row(market_id)
        rate = require_rate(row.market.receipt_rate, f"surf {market_id} cToken")
        ctokens = rate.receipts_for_deposit(amount)
        if ctokens <= 0:
            raise ValueError(f"{amount} is worth less than one cToken")
        return self.build_withdraw_ctokens(market_id, ctokens, wallet)

    def build_withdraw_ctokens(self, market_id: str, ctokens: int, wallet: Wallet) -> UnsignedTx:
        row = self._row(market_id)
        api_cbor = self._api().withdraw_liquidity(row.wire_id, wallet.address, ctokens)
        rate = row.market.receipt_rate
        back = {} if rate is None else {row.market.borrow.asset: rate.underlying(ctokens)}

        def check(datum: OrderDatum) -> list[str]:
            return _expect(datum, OWithdraw, o_amount=ctokens)

        def ours(pool: orders.PoolContext, owner: orders.Owner,
                 datum: OrderDatum) -> orders.OrderPlan:
            return orders.withdraw_plan(pool, owner, ctokens, datum.o_batcher_fee,
                                        back.get(row.market.borrow.asset))

        return self._checked("withdraw", row, api_cbor, wallet, check, ours, back)

    def build_borrow(self, market_id: str, amount: int, collateral: Asset,
                     collateral_amount: int, wallet: Wallet) -> UnsignedTx:
        row = self._row(market_id)
        if row.market.collateral_for(collateral) is None:
            raise VenueRefused(VENUE, f"pool {market_id} takes no {collateral} as collateral")
        api_cbor = self._api().borrow(row.wire_id, wallet.address, amount, collateral_amount)
        now = self.clock_ms()

        def check(datum: OrderDatum) -> list[str]:
            problems = _expect(datum, OBorrow, o_principal=amount,
                               o_collateral_amount=collateral_amount,
                               o_collateral_asset=collateral)
            if isinstance(datum, OBorrow) and abs(datum.o_start_time - now) > TIME_TOLERANCE_MS:
                problems.append(f"o_start_time {datum.o_start_time} is far from now ({now})")
            return problems

        def ours(pool: orders.PoolContext, owner: orders.Owner,
                 datum: OrderDatum) -> orders.OrderPlan:
            assert isinstance(datum, OBorrow)
            return orders.borrow_plan(pool, owner, amount, collateral, collateral_amount,
                                      datum.o_batcher_fee, datum.o_start_time)

        return self._checked("borrow", row, api_cbor, wallet, check, ours,
                             {row.market.borrow.asset: amount})

    def build_repay(self, loan_ref: str, amount: int | None, wallet: Wallet) -> UnsignedTx:
        """In full only. `loan_ref`: the loan's borrow id or a vault UTxO it was or is at;
        the API is asked to repay the position's current outRef, re-read first."""
        if amount is not None:
            raise Unsupported(VENUE, "Surf repays only in full")
        loan = _ref(loan_ref)
        api = self._api()
        position = self._position(wallet.address, loan)
        row = self._row(position.pool_id)
        api_cbor, position = api.repay(row.wire_id, wallet.address, position.borrow_id)
        now = self.clock_ms()
        vault = self._vault(position.out_ref)

        def check(datum: OrderDatum) -> list[str]:
            problems = _expect(datum, ORepay, o_borrow_id=position.borrow_id)
            if isinstance(datum, ORepay) and not now - 60_000 <= datum.o_time <= now \
                    + TIME_TOLERANCE_MS:
                problems.append(f"o_time {datum.o_time} is not just ahead of now ({now})")
            return problems

        ours = None
        if vault is not None:
            def ours(pool: orders.PoolContext, owner: orders.Owner,
                     datum: OrderDatum) -> orders.OrderPlan:
                assert isinstance(datum, ORepay) and vault is not None
                return orders.repay_plan(pool, vault, datum.o_batcher_fee, datum.o_time)

        return self._checked("repay", row, api_cbor, wallet, check, ours,
                             {position.collateral_asset: position.collateral})

    def _position(self, address: str, loan: OutRef) -> Position:
        for position in self._api().positions(address):
            if loan in (position.borrow_id, position.out_ref):
                return position
        raise VenueRefused(VENUE, f"no open position {loan} for this address (getAllPositions)")

    def build_cancel(self, order_ref: str, wallet: Wallet) -> UnsignedTx:
        ref = _ref(order_ref)
        api = self._api()
        pending = [o for o in api.orders(wallet.address) if o.out_ref == ref]
        if not pending:
            raise VenueRefused(VENUE, f"no pending order {order_ref} for this address "
                                      f"(getAllOrders)")
        row = self._row(pending[0].pool_id)
        api_cbor = api.cancel_order(row.wire_id, wallet.address, ref)
        tx = _decode(api_cbor, "cancelOrder")
        if (ref.tx_id, ref.index) not in tx.inputs:
            raise VenueRefused(VENUE, f"cancelOrder: the transaction does not spend {ref}")
        held = self._utxo_value(ref)
        notes: tuple[str, ...] = ()
        if held is None:
            held = _came_back(tx, wallet)
            notes = ("what comes back is read from the API's transaction: the order UTxO is "
                     "not indexed here",)
        intent = orders.Intent(
            action="cancel", venue=VENUE, market=row.market.market_id, wallet=wallet.address,
            leaves=(), comes_back=tuple(Transfer(wallet.address, a, q)
                                        for a, q in sorted(held.items()) if q > 0),
            settles="now", notes=(f"cancels the pending order {ref}", *notes))
        return UnsignedTx(api_cbor, intent, "venue-api")

    def _utxo_value(self, ref: OutRef) -> dict[Asset, int] | None:
        utxo = None if self.view is None else self.view.utxo(str(ref))
        if utxo is None:
            return None
        value = {ADA: utxo.lovelace}
        for (policy, name), quantity in utxo.assets.items():
            value[Asset(policy, name)] = quantity
        return value

    def build_add_collateral(self, loan_ref: str, asset: Asset, amount: int,
                             wallet: Wallet) -> UnsignedTx:
        self.require_enabled()
        script = self.scripts.vault_script
        if script is None or self.scripts.params.plutus_v3_cost_model is None:
            raise Unsupported(VENUE, "adds collateral only by spending the vault (VAddCollateral): "
                                     "the vault script's reference UTxO and the network's "
                                     "PlutusV3 cost model are not known here, and the API has "
                                     "no builder for it")
        if self.view is None or self.view.utxo(loan_ref) is None:
            raise VenueRefused(VENUE, f"loan {loan_ref} is not among the indexed vault UTxOs")
        stored = self.view.utxo(loan_ref)
        assert stored is not None and stored.inline_datum is not None
        vault = read_vault(stored.inline_datum)
        if vault.collateral_asset != asset:
            raise VenueRefused(VENUE, f"the loan's collateral is {vault.collateral_asset}, not "
                                      f"{asset}")
        utxo = orders.ScriptUtxo(_ref(loan_ref), _stored_output(stored))
        return orders.build_add_collateral(utxo, str(vault.pool_id), amount, wallet, script,
                                           mainnet=self.mainnet, params=self.scripts.params,
                                           slot=self.scripts.slot() if self.scripts.slot else 0)

    def build_withdraw_collateral(self, loan_ref: str, asset: Asset, amount: int,
                                  wallet: Wallet) -> UnsignedTx:
        raise Unsupported(VENUE, "has no way to take collateral out of an open loan (the vault "
                                 "validator allows only VAddCollateral; a full repay releases "
                                 "it)")

    def submit(self, address: str, signed_tx: bytes) -> Submitted:
        return self._api().submit(address, signed_tx)

    # -- the fate of one of our loans ----------------------------------------------------------
    def loan_fate(self, loan_ref: str, view: ChainView) -> LoanFate:
        return chain.loan_fate(loan_ref, view, self.clock_ms())

    # -- the check of what the API built ---------------------------------------------------------
    def _checked(self, action: str, row: PoolRow, api_cbor: bytes, wallet: Wallet,
                 check: Callable[[OrderDatum], list[str]],
                 ours: Callable[[orders.PoolContext, orders.Owner, OrderDatum],
                                orders.OrderPlan] | None,
                 comes_back: dict[Asset, int]) -> UnsignedTx:
        market_id = row.market.market_id
        tx = _decode(api_cbor, action)
        owner = orders.Owner.of(wallet.address)
        mine = [found for found in orders.orders_in(tx)
                if str(found.datum.o_pool_id) == market_id
                and getattr(found.datum, "o_owner_pkh") == owner.pkh]
        if len(mine) != 1:
            raise VenueRefused(VENUE, f"{action}: the API's transaction pays {len(mine)} orders of "
                                      f"ours to pool {market_id}, expected 1")
        [found] = mine
        problems = check(found.datum)
        if problems:
            raise VenueRefused(VENUE, f"{action}: the API's order is not the one asked for: "
                                      + "; ".join(problems))
        fee = found.datum.o_batcher_fee
        if fee > self.book.max_batcher_fee:
            raise VenueRefused(VENUE, f"{action}: batcher fee {fee} lovelace is above the "
                                      f"{self.book.max_batcher_fee} accepted")
        if not payment_is_script(found.out.address_bytes):
            raise VenueRefused(VENUE, f"{action}: the order goes to a key address")
        credential = payment_credential(found.out.address_bytes)
        info = self._pool_info(market_id)
        if info is not None and ours is not None:
            if credential != info.order_script_hash:
                raise VenueRefused(VENUE, f"{action}: the order goes to script "
                                          f"{credential.hex() if credential else None}, the "
                                          f"pool's order script is {info.order_script_hash.hex()}")
            stake = _stake_of(found.out.address)
            pool = orders.PoolContext(info, self.mainnet, stake)
            plan = ours(pool, owner, found.datum)
            # Only the order output is compared: the wallet's UTxOs need not be known.
            our = orders.order_alone(plan, market_id, wallet, mainnet=self.mainnet)
            comparison = orders.compare_with_ours(tx, our.cbor)
            if not comparison.same:
                raise VenueRefused(VENUE, f"{action}: the API's transaction differs from ours: "
                                          + "; ".join(comparison.differences))
            intent = replace(our.intent, notes=(*our.intent.notes,
                                                "checked against the project's own order",
                                                *comparison.notes))
            return UnsignedTx(api_cbor, intent, "venue-api")
        if self.book.order_scripts and credential not in self.book.order_scripts:
            raise VenueRefused(VENUE, f"{action}: the order goes to a script that is not a known "
                                      f"Surf order script")
        value = orders._txout_value(found.out)
        plan = orders.OrderPlan(found.out.address, found.datum, value,
                                {ADA: 0, **comes_back})
        intent = orders.order_intent(plan, market_id, wallet, notes=(
            "not checked against the project's own order: the pool's PoolInfoDatum (or the "
            "loan's vault) is not known here",))
        return UnsignedTx(api_cbor, intent, "venue-api")


def learn_from_records(book: SurfBook, records: Sequence[VenueRecord]) -> SurfBook:
    """Pure: what pool_info records teach (order and vault scripts, the vault authtoken,
    the oracles)."""
    for record in records:
        if record.venue == VENUE and record.kind == "pool_info":
            book = book.learn_pool_info(chain.pool_info_from_fields(record.fields))
    return book


def _expect(datum: OrderDatum, kind: type, **fields: Any) -> list[str]:
    if not isinstance(datum, kind):
        return [f"a {order_name(datum)} order, not {kind.__name__}"]
    return [f"{name} {getattr(datum, name)}, asked {value}" for name, value in fields.items()
            if getattr(datum, name) != value]


def _decode(cbor: bytes, where: str) -> Tx:
    try:
        return decode_transaction(cbor)
    except LedgerError as error:
        raise MalformedResponse(VENUE, f"{where}: not a transaction ({error})") from None


def _ref(text: str) -> OutRef:
    try:
        return OutRef.parse(text)
    except ValueError as error:
        raise ValueError(f"surf: {error}") from None


def _market_id(wire_id: str) -> str:
    from protocols.venues.surf.markets import market_id

    return market_id(wire_id)


def _stake_of(address: str) -> tuple[str, bytes] | None:
    from pycardano import Address, ScriptHash, VerificationKeyHash

    staking = Address.from_primitive(address).staking_part
    if isinstance(staking, ScriptHash):
        return ("script", staking.payload)
    if isinstance(staking, VerificationKeyHash):
        return ("key", staking.payload)
    return None


def _came_back(tx: Tx, wallet: Wallet) -> dict[Asset, int]:
    """What `tx` pays the wallet's addresses beyond what it takes from the wallet (the
    network fee counted back): what a cancel returns, read from the tx itself."""
    import cbor2

    from chain.ledger.tx import tx_in, tx_out

    ours = {wallet.address, wallet.change, *wallet.other_addresses}
    net: dict[Asset, int] = {ADA: tx.fee or 0}
    for pair in wallet.utxos_cbor:
        ref_cbor, out_cbor = cbor2.loads(bytes.fromhex(pair))
        if tx_in(ref_cbor, "wallet utxo") in tx.inputs:
            for asset, quantity in orders._txout_value(tx_out(out_cbor, "wallet utxo")).items():
                net[asset] = net.get(asset, 0) - quantity
    for out in tx.outputs:
        if out.address in ours:
            for asset, quantity in orders._txout_value(out).items():
                net[asset] = net.get(asset, 0) + quantity
    return {asset: quantity for asset, quantity in net.items() if quantity > 0}


def _stored_output(stored: Any) -> bytes:
    """A stored UTxO back into the output CBOR the ledger would hold (post-Alonzo map)."""
    import cbor2
    from pycardano import Address

    multi: dict[bytes, dict[bytes, int]] = {}
    for (policy, name), quantity in stored.assets.items():
        multi.setdefault(bytes.fromhex(policy), {})[bytes.fromhex(name)] = quantity
    value: Any = [stored.lovelace, multi] if multi else stored.lovelace
    out: dict[int, Any] = {0: Address.from_primitive(stored.address).to_primitive(), 1: value}
    if stored.inline_datum is not None:
        out[2] = [1, cbor2.CBORTag(24, stored.inline_datum)]
    return bytes(cbor2.dumps(out))
