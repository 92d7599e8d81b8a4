"""Surf's chain: outputs into records, transactions into events, markets from chain state,
and the fate of a loan. Pure (the ChainView is the only reader).

Record kinds: pool (PoolDatum), pool_info (PoolInfoDatum), vault (VaultDatum), order
(OrderDatum), oracle (OracleDatum). An output is Surf's when it holds a token of a known
policy (the pool NFT policy, the vault authtoken, an oracle NFT) or sits at a known order,
pool or vault script (tokens.py says how those become known).

Events of one transaction:
- an order output: order_placed; an order spent with a pool: order_batched, without one:
  order_cancelled (the owner's Cancel);
- a pool output: market_state_updated; a pool_info output: market_params_updated;
- a vault created: loan_opened (loan_updated when it replaces a vault of the same borrow
  id: VAddCollateral); a vault spent and not replaced: loan_repaid when the tx applied an
  ORepay order for its borrow id, else loan_liquidated (an OLiquidate order, or the admin's
  AdminOperation / VSlash).
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any, Mapping, Sequence

from chain.ledger import Tx, TxOut
from core.units import Asset, fraction_to_decimal
from protocols.base import ChainView, StoredUtxo
from protocols.errors import DatumLayoutError
from protocols.model import (LoanFate, LoanState, Market, OraclePrice, Provenance,
                             VenueEvent, VenueRecord)
from protocols.venues.surf import rates
from protocols.venues.surf.datums import (ORDER_KIND, OracleDatum, OutRef, PoolDatum,
                                          PoolInfoDatum, VaultDatum, order_name, read_oracle,
                                          read_order, read_pool, read_pool_info, read_vault,
                                          to_fields)
from protocols.venues.surf.credentials import payment_credential
from protocols.venues.surf.tokens import POOL_INFO_NFT, POOL_NFT, SurfBook

VENUE = "surf"


def kind_of(book: SurfBook, out: TxOut) -> tuple[str, bool] | None:
    """(kind, authenticated by a known token) of a Surf output; None for others."""
    for (policy, name) in out.assets:
        if policy in book.pool_auth_policies:
            if name == POOL_NFT:
                return "pool", True
            if name == POOL_INFO_NFT:
                return "pool_info", True
        if policy in book.vault_auth_policies:
            return "vault", True
        if policy in book.oracle_policies:
            return "oracle", True
    credential = payment_credential(out.address_bytes)
    if credential is None:
        return None
    if credential in book.order_scripts:
        return "order", False
    if credential in book.pool_scripts and any(name == POOL_NFT for _, name in out.assets):
        return "pool", False
    if credential in book.vault_scripts:
        return "vault", False
    return None


def read_output(book: SurfBook, ref: str, out: TxOut,
                datum_cbor: bytes | None) -> VenueRecord | None:
    found = kind_of(book, out)
    if found is None:
        return None
    kind, authenticated = found
    if datum_cbor is None:
        raise DatumLayoutError(VENUE, f"{kind} {ref}: no datum (Surf's are inline)")
    extra: dict[str, Any] = {"authenticated": authenticated}
    market: str | None
    if kind == "pool":
        pool = read_pool(datum_cbor)
        market, fields = str(pool.pool_id), to_fields(pool)
        extra["utilisation"] = rates.utilisation(pool)
        if pool.total_ctoken or not pool.total_supplied:
            extra["ctoken_rate"] = rates.ctoken_rate(pool).underlying_per_receipt
    elif kind == "pool_info":
        info = read_pool_info(datum_cbor)
        market, fields = str(info.pool_id), to_fields(info)
        extra.update(rate_model(info))
    elif kind == "vault":
        vault = read_vault(datum_cbor)
        market, fields = str(vault.pool_id), to_fields(vault)
        extra["interest_apr"] = str(rates.bp(vault.interest_rate))
    elif kind == "order":
        order = read_order(datum_cbor)
        market, fields = str(order.o_pool_id), to_fields(order)
        extra["order"] = ORDER_KIND[order_name(order)]
    else:
        oracle = read_oracle(datum_cbor)
        market, fields = None, to_fields(oracle)
        extra["price"] = Fraction(oracle.price, oracle.decimals)
        # Which collateral it prices: the pool validator takes the reference input that
        # holds exactly one of the collateral's oracle NFT (policy and name).
        extra["oracle_nfts"] = sorted(str(Asset(policy.hex(), name.hex()))
                                      for (policy, name), quantity in out.assets.items()
                                      if policy in book.oracle_policies and quantity == 1)
    return VenueRecord(VENUE, kind, market, ref, fields, extra)


def rate_model(info: PoolInfoDatum) -> dict[str, str]:
    """The borrow APR at no utilisation, at the kink and at full utilisation."""
    return {"base_borrow_apr": str(rates.bp(rates.borrow_rate_bp(0, info))),
            "optimal_borrow_apr": str(rates.bp(rates.borrow_rate_bp(info.kink, info))),
            "max_borrow_apr": str(rates.bp(rates.borrow_rate_bp(rates.MULTIPLIER, info)))}


def _datum(tx: Tx, out: TxOut) -> bytes | None:
    if out.inline_datum is not None:
        return out.inline_datum
    return None if out.datum_hash is None else tx.datums.get(out.datum_hash)


def read_tx(book: SurfBook, tx: Tx, spent: Mapping[str, VenueRecord]) -> list[VenueEvent]:
    tx_id = tx.id.hex()
    if not tx.valid:
        return []  # only its collateral went
    created: list[VenueRecord] = []
    for index, out in enumerate(tx.outputs):
        record = read_output(book, f"{tx_id}#{index}", out, _datum(tx, out))
        if record is not None:
            created.append(record)
    spent_records = [r for r in spent.values() if r.venue == VENUE]
    pool_spent = any(r.kind == "pool" for r in spent_records)
    events: list[VenueEvent] = []

    def event(kind: str, record: VenueRecord, **details: Any) -> None:
        events.append(VenueEvent(VENUE, kind, record.market, tx_id, (record.ref,), details))

    for record in created:
        if record.kind == "order":
            event("order_placed", record, order=record.extra["order"])
        elif record.kind == "pool":
            event("market_state_updated", record,
                  total_supplied=record.fields["total_supplied"],
                  total_borrowed=record.fields["total_borrowed"])
        elif record.kind == "pool_info":
            event("market_params_updated", record)
    orders_spent = [r for r in spent_records if r.kind == "order"]
    for record in orders_spent:
        event("order_batched" if pool_spent else "order_cancelled", record,
              order=record.extra.get("order"))
    new_vaults = {r.fields["borrow_id"]: r for r in created if r.kind == "vault"}
    old_vaults = {r.fields["borrow_id"]: r for r in spent_records if r.kind == "vault"}
    for borrow_id, record in new_vaults.items():
        if borrow_id in old_vaults:
            event("loan_updated", record, borrow_id=borrow_id,
                  collateral_amount=record.fields["collateral_amount"])
        else:
            event("loan_opened", record, borrow_id=borrow_id,
                  principal=record.fields["principal"],
                  interest_rate=record.fields["interest_rate"])
    for borrow_id, record in old_vaults.items():
        if borrow_id in new_vaults:
            continue
        kind, reason = ended_by(borrow_id, orders_spent, pool_spent)
        event(kind, record, borrow_id=borrow_id, reason=reason)
    return events


def ended_by(borrow_id: str, orders_spent: Sequence[VenueRecord],
             pool_spent: bool) -> tuple[str, str]:
    """Why a vault ended in a tx, from the orders that tx applied."""
    for order in orders_spent:
        if order.fields.get("o_borrow_id") == borrow_id:
            if order.extra.get("order") == "repay":
                return "loan_repaid", "its owner's repay order was batched"
            if order.extra.get("order") == "liquidate":
                return "loan_liquidated", "a liquidation order was batched"
    if pool_spent:
        return "loan_liquidated", "closed by the pool without a repay order (admin operation)"
    return "loan_liquidated", "seized without the pool (the admin's VSlash)"


# --- markets from chain state --------------------------------------------------------------

def markets_from_chain(records: Sequence[tuple[VenueRecord, int]],
                       api_markets: Sequence[Market]) -> list[Market]:
    """The API's markets with the chain's figures where an authenticated pool and its
    pool_info are known: utilisation, available liquidity, the borrow APR a new loan gets
    now, the suppliers' estimated rate, the cToken rate, and every collateral's max LTV and
    liquidation threshold. Decimals and tickers stay the API's. Where the pool_info is
    known, each collateral also gets the price of its oracle UTxO (`oracle_prices`)."""
    pools: dict[str, tuple[PoolDatum, int, str]] = {}
    infos: dict[str, tuple[PoolInfoDatum, int, str]] = {}
    oracles: dict[str, tuple[OracleDatum, int, str]] = {}  # oracle NFT -> newest oracle
    for record, at_ms in records:
        if record.venue != VENUE or not record.extra.get("authenticated"):
            continue
        if record.kind == "oracle":
            oracle = oracle_from_fields(record.fields)
            for nft in record.extra.get("oracle_nfts", ()):
                if nft not in oracles or oracles[nft][1] <= at_ms:
                    oracles[nft] = (oracle, at_ms, record.ref)
            continue
        if record.kind == "pool":
            pool = pool_from_fields(record.fields)
            if record.market not in pools or pools[record.market][1] <= at_ms:
                pools[str(record.market)] = (pool, at_ms, record.ref)
        elif record.kind == "pool_info":
            info = pool_info_from_fields(record.fields)
            if record.market not in infos or infos[record.market][1] <= at_ms:
                infos[str(record.market)] = (info, at_ms, record.ref)
    markets = []
    for market in api_markets:
        key = market.market_id
        if key in pools and key in infos:
            market = chain_market(market, *pools[key], *infos[key])
        if key in infos:
            market = oracle_prices(market, infos[key][0], oracles)
        markets.append(market)
    return markets


#: An `updated_at` below this is not a Unix time in milliseconds (it would be before
#: September 2001): the oracle's block time stands in for it.
MIN_UPDATED_AT_MS = 10**12


def oracle_prices(market: Market, info: PoolInfoDatum,
                  oracles: Mapping[str, tuple[OracleDatum, int, str]]) -> Market:
    """Each collateral with the price of the oracle UTxO holding its oracle NFT (as the
    pool validator matches them), when one is indexed; the others as they were."""
    collaterals = []
    for option in market.collaterals:
        found = info.collateral(option.token.asset)
        seen = None if found is None else oracles.get(str(found.oracle_nft))
        if seen is not None:
            option = replace(option, oracle_price=oracle_price_of(
                *seen, collateral_decimals=option.token.decimals,
                borrow_decimals=market.borrow.decimals))
        collaterals.append(option)
    return replace(market, collaterals=tuple(collaterals))


def oracle_price_of(oracle: OracleDatum, block_ms: int, ref: str, *, collateral_decimals: int,
                    borrow_decimals: int) -> OraclePrice:
    """An OracleDatum as the model's price: price / decimals is base units of the pool
    asset per base unit of the collateral (`cal_ltv`), so whole units per whole unit is
    that × 10^(collateral decimals − borrow decimals). Its time is the datum's
    `updated_at` (Unix ms), never later than the block that holds it; the block's time
    when `updated_at` is not a time in milliseconds."""
    ratio = (Fraction(oracle.price, oracle.decimals)
             * Fraction(10) ** (collateral_decimals - borrow_decimals))
    updated = oracle.updated_at
    as_of = min(updated, block_ms) if updated >= MIN_UPDATED_AT_MS else block_ms
    return OraclePrice(exact_decimal(ratio), as_of, f"surf oracle {ref}")


def exact_decimal(value: Fraction) -> Decimal:
    """`value` as a Decimal: exact whenever it has a finite decimal expansion (Surf's
    `decimals` is a power of ten), else rounded to 34 significant digits."""
    denominator, twos, fives = value.denominator, 0, 0
    while denominator % 2 == 0:
        denominator, twos = denominator // 2, twos + 1
    while denominator % 5 == 0:
        denominator, fives = denominator // 5, fives + 1
    if denominator == 1:
        places = max(twos, fives)
        return Decimal(f"{value.numerator * 10**places // value.denominator}E{-places}")
    with localcontext() as context:
        context.prec = 34
        return Decimal(value.numerator) / Decimal(value.denominator)


def chain_market(market: Market, pool: PoolDatum, pool_ms: int, pool_ref: str,
                 info: PoolInfoDatum, info_ms: int, info_ref: str) -> Market:
    collaterals = []
    for option in market.collaterals:
        found = info.collateral(option.token.asset)
        if found is None:
            continue  # the chain no longer takes it
        collaterals.append(replace(option, max_ltv=rates.bp(found.max_borrow_ltv),
                                   liquidation_threshold=rates.bp(found.liquidation_threshold)))
    u = rates.utilisation(pool)
    other = dict(market.other_provenance)
    other["decimals"] = market.provenance
    return replace(
        market, collaterals=tuple(collaterals),
        borrow_apr=rates.bp(rates.rate_for_new_loan(pool, info)),
        supply_apy=rates.supply_rate(pool, info),
        utilisation=fraction_to_decimal(u),
        available_liquidity=rates.available_liquidity(pool),
        receipt_rate=rates.ctoken_rate(pool) if pool.total_ctoken or not pool.total_supplied
        else None,
        provenance=Provenance("chain", min(pool_ms, info_ms),
                              f"PoolDatum {pool_ref}, PoolInfoDatum {info_ref}"),
        other_provenance=other)


def oracle_from_fields(fields: Mapping[str, Any]) -> OracleDatum:
    return OracleDatum(fields["price"], fields["decimals"], fields["updated_at"])


def pool_from_fields(fields: Mapping[str, Any]) -> PoolDatum:
    return PoolDatum(OutRef.parse(fields["pool_id"]), fields["total_supplied"],
                     fields["total_borrowed"], fields["reserve"], fields["total_ctoken"])


def _asset(value: Mapping[str, str]) -> Asset:
    return Asset(value["policy_id"], value["asset_name"])


def pool_info_from_fields(fields: Mapping[str, Any]) -> PoolInfoDatum:
    from protocols.venues.surf.datums import CollateralInfo

    return PoolInfoDatum(
        pool_id=OutRef.parse(fields["pool_id"]), envelope_amount=fields["envelope_amount"],
        pool_asset=_asset(fields["pool_asset"]), ctoken=_asset(fields["ctoken"]),
        vault_authtoken=_asset(fields["vault_authtoken"]),
        batcher_policy_id=fields["batcher_policy_id"],
        order_script_hash=fields["order_script_hash"],
        vault_script_hash=fields["vault_script_hash"], pool_stake_key=fields["pool_stake_key"],
        reserve_factor_percentage=fields["reserve_factor_percentage"],
        collateral_infos=tuple(CollateralInfo(_asset(c["collateral_asset"]),
                                              _asset(c["oracle_nft"]),
                                              c["liquidation_threshold"], c["max_borrow_ltv"])
                               for c in fields["collateral_infos"]),
        kink=fields["kink"], base_rate=fields["base_rate"], slope_low=fields["slope_low"],
        slope_high=fields["slope_high"])


# --- the fate of a loan ---------------------------------------------------------------------

MAX_HOPS = 64  # a loan moves on VAddCollateral; far fewer moves than this in practice


def _vault(utxo: StoredUtxo) -> VaultDatum | None:
    if utxo.inline_datum is None:
        return None
    try:
        return read_vault(utxo.inline_datum)
    except DatumLayoutError:
        return None


def loan_fate(loan_ref: str, view: ChainView, now_ms: int) -> LoanFate:
    """Open (with its debt now), repaid or liquidated, following the loan across the vault
    UTxOs that replace it. `loan_ref`: a vault UTxO of the loan (the one we saw last)."""
    current = loan_ref
    for _ in range(MAX_HOPS):
        utxo = view.utxo(current)
        if utxo is None:
            return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                            reason=f"{current} is not among the indexed Surf UTxOs")
        vault = _vault(utxo)
        if vault is None:
            return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                            reason=f"{current} holds no VaultDatum")
        collateral = {vault.collateral_asset: vault.collateral_amount}
        if utxo.spent_tx is None:
            return LoanFate(VENUE, loan_ref, "open", current, rates.debt_at(vault, now_ms),
                            collateral, as_of_slot=utxo.created_slot,
                            reason=f"debt as of {now_ms} ms at {vault.interest_rate} bp a year")
        borrow_id = str(vault.borrow_id)
        successor = [u for u in view.created_by(utxo.spent_tx)
                     if (v := _vault(u)) is not None and str(v.borrow_id) == borrow_id]
        if successor:
            current = successor[0].ref
            continue
        spent_by = getattr(view, "spent_by", None)
        if spent_by is None:  # a view that cannot list what the tx spent
            return LoanFate(VENUE, loan_ref, "unknown", None, None, collateral,
                            spent_by=utxo.spent_tx, as_of_slot=utxo.spent_slot,
                            reason="ended, but the view cannot tell repaid from liquidated")
        spent = spent_by(utxo.spent_tx)
        orders = []
        pool_spent = False
        for item in spent:
            if item.inline_datum is None:
                continue
            try:
                order = read_order(item.inline_datum)
            except DatumLayoutError:
                try:
                    read_pool(item.inline_datum)
                    pool_spent = True
                except DatumLayoutError:
                    pass
                continue
            orders.append(VenueRecord(VENUE, "order", str(order.o_pool_id), item.ref,
                                      to_fields(order), {"order": ORDER_KIND[order_name(order)]}))
        kind, reason = ended_by(borrow_id, orders, pool_spent)
        state: LoanState = "repaid" if kind == "loan_repaid" else "liquidated"
        return LoanFate(VENUE, loan_ref, state, None, None, collateral, spent_by=utxo.spent_tx,
                        as_of_slot=utxo.spent_slot, reason=reason)
    return LoanFate(VENUE, loan_ref, "unknown", None, None, {},
                    reason=f"more than {MAX_HOPS} moves; stopped following")


def oracle_price(oracle: OracleDatum) -> Decimal:
    return Decimal(oracle.price) / Decimal(oracle.decimals)
