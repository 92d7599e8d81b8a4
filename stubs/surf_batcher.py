"""A stub Surf batcher for the sandbox chain: each block, it fills the Surf orders the
chain holds (from the chain as the block before left it), against the demo pools of
stubs/surf.py whose UTxOs the genesis funded (`dhl sandbox --surf-pool`).

What a fill does is what the pool validator's Apply* checks (flow-lending-smart-contracts
`validators/pool.ak` @ 110523b1), less the batcher licence, the PoolInfo and oracle
reference inputs and the redeemers (the sandbox runs no script):

| order    | spends              | pays                                        | mints       | PoolDatum                     |
|----------|---------------------|---------------------------------------------|-------------|-------------------------------|
| OBorrow  | pool, order         | pool; owner: envelope + principal; vault:   | +1 vault    | total_borrowed += principal   |
|          |                     | envelope + collateral + authtoken, VaultDatum | authtoken |                               |
| ORepay   | pool, order, vault  | pool + the debt; owner: the rest (the       | -1 vault    | borrowed -= principal, the    |
|          |                     | collateral, both envelopes)                 | authtoken   | interest to supplied/reserve  |
| ODeposit | pool, order         | pool + amount; owner: envelope + cTokens    | + cTokens   | supplied, cTokens +=          |
| OWithdraw| pool, order         | pool - payment; owner: envelope + payment   | - cTokens   | supplied, cTokens -=          |

The vault's datum is the protocol's VaultDatum: borrow id = the order's outRef, the rate
for a new loan at the pool's utilisation before the fill, start time = now (never before
the order's o_start_time). A borrow above the collateral's max LTV (the demo oracle's
price) waits, as the validator would refuse it; so does a repay whose o_time has passed
(the debt at the fill would exceed what the order holds). The order's batcher fee is the
fill's network fee (the sandbox has no batcher wallet to pay it to), so each fill balances
exactly. One fill per order, in the order of the refs, chained through the pool's output
(output 0). An order it cannot read, or that is not of a demo pool, is left where it is
(one log line per order); OLiquidate orders are not filled.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import cbor2
from pycardano import Address, Network, VerificationKeyHash

from chain.ledger import TxOut, decode_transaction
from chain.ledger.tx import TxIn
from chain.sandbox_ledger import Funds
from core.units import ADA, Asset
from protocols.errors import DatumLayoutError
from protocols.venues.surf import rates
from protocols.venues.surf.datums import (OBorrow, ODeposit, OracleDatum, OrderDatum, ORepay,
                                          OutRef, OWithdraw, PoolDatum, PoolInfoDatum,
                                          VaultDatum, encode, order_name, read_order)
from stubs.surf import load_demo, output_map, pool_state, pool_utxo, value_of, vaults_of

log = logging.getLogger(__name__)

TTL_SLOTS = 3_600
#: What a pool UTxO keeps at least, in lovelace (an output's min-ADA, roughly).
MIN_POOL_LOVELACE = 2_000_000
Value = dict[Asset, int]


@dataclass(frozen=True)
class BatchedPool:
    """One pool as the batcher knows it (the demo data's)."""

    info: PoolInfoDatum
    oracle: OracleDatum  # of its (one) collateral
    pool_address: str
    order_address: str
    vault_address: str
    nft: Asset


@dataclass(frozen=True)
class Fill:
    """One order's fill: the inputs beside the pool's, the outputs after the pool's own
    (output 0), the mint, the fee, and the pool after it."""

    spends: tuple[TxIn, ...]
    outputs: tuple[tuple[str, Value, bytes | None], ...]
    mint: Value
    fee: int
    pool_value: Value
    pool_state: PoolDatum


def demo_pools(mainnet: bool) -> list[BatchedPool]:
    stub = load_demo(mainnet)
    found = []
    for pool in stub.pools.values():
        context = stub.context(pool)
        found.append(BatchedPool(pool.info, pool.oracle, stub.pool_address(pool),
                                 context.order_address, context.vault_address, pool.pool_nft))
    return found


def genesis_funds(mainnet: bool, lovelace: int,
                  assets: Mapping[tuple[bytes, bytes], int]) -> list[Funds]:
    """`dhl sandbox --surf-pool`: one genesis output per demo pool, at its pool address,
    with its POOL_NFT, `lovelace`, and of `assets` its own pool asset (the pool validator
    wants nothing else in it). ValueError for a token that is no demo pool's asset."""
    pools = demo_pools(mainnet)
    lent = {_key(p.info.pool_asset) for p in pools if not p.info.pool_asset.is_ada}
    stray = sorted((policy + name).hex() for policy, name in assets if (policy, name) not in lent)
    if stray:
        raise ValueError(f"--surf-pool: {', '.join(stray)} is no Surf demo pool's asset "
                         f"(those are {', '.join(sorted((p + n).hex() for p, n in lent))})")
    funds = []
    for pool in pools:
        held = {_key(pool.nft): 1}
        if not pool.info.pool_asset.is_ada and _key(pool.info.pool_asset) in assets:
            held[_key(pool.info.pool_asset)] = assets[_key(pool.info.pool_asset)]
        funds.append(Funds(_address_bytes(pool.pool_address), lovelace, held))
    return funds


class SurfBatcher:
    """`fills` is a sandbox Batcher (chain/sandbox.py). `clock_ms`: now, Unix ms (the
    loans' start, the repays' debt)."""

    def __init__(self, pools: Sequence[BatchedPool],
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.pools = tuple(pools)
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._said: set[tuple[TxIn, str]] = set()  # (order, why it waits): logged once

    @classmethod
    def demo(cls, mainnet: bool, clock_ms: Callable[[], int] | None = None) -> "SurfBatcher":
        return cls(demo_pools(mainnet), clock_ms)

    def fills(self, utxos: Mapping[TxIn, TxOut], slot: int) -> list[bytes]:
        found: list[bytes] = []
        for pool in self.pools:
            found += self.pool_fills(pool, utxos, slot)
        return found

    def pool_fills(self, pool: BatchedPool, utxos: Mapping[TxIn, TxOut],
                   slot: int) -> list[bytes]:
        """The fill transactions of one pool's orders, chained through its output."""
        here = pool_utxo(utxos, pool.pool_address, pool.nft)
        if here is None:
            return []
        pool_ref, pool_out = here
        try:
            state = pool_state(pool.info, pool_out)
        except DatumLayoutError as error:
            self._say(pool_ref, f"the pool UTxO's datum is not a PoolDatum ({error})")
            return []
        value = value_of(pool_out)
        vaults = {vault.borrow_id: (ref, out, vault)
                  for ref, out, vault in vaults_of(utxos, pool.vault_address, pool.info)}
        found: list[bytes] = []
        for ref in sorted(r for r, out in utxos.items() if out.address == pool.order_address):
            order = self._order(ref, utxos[ref])
            if order is None or order.o_pool_id != pool.info.pool_id:
                continue
            fill = fill_order(pool, state, value, ref, utxos[ref], order, vaults,
                              self.clock_ms())
            if isinstance(fill, str):
                self._say(ref, fill)
                continue
            tx = fill_tx(pool, pool_ref, ref, fill, slot)
            found.append(tx)
            vaults = {k: v for k, v in vaults.items() if v[0] not in fill.spends}
            pool_ref = (decode_transaction(tx).id, 0)
            value, state = fill.pool_value, fill.pool_state
        return found

    def _order(self, ref: TxIn, out: TxOut) -> OrderDatum | None:
        if out.inline_datum is None:
            self._say(ref, "an output at the order script without an inline datum")
            return None
        try:
            return read_order(out.inline_datum)
        except DatumLayoutError as error:
            self._say(ref, f"its datum is not an order ({error})")
            return None

    def _say(self, ref: TxIn, why: str) -> None:
        if (ref, why) not in self._said:
            self._said.add((ref, why))
            log.info("surf batcher: %s#%d left alone: %s", ref[0].hex(), ref[1], why)


# --- the fills (pure) -------------------------------------------------------------------------

Vaults = Mapping[OutRef, tuple[TxIn, TxOut, VaultDatum]]


def fill_order(pool: BatchedPool, state: PoolDatum, pool_value: Value, ref: TxIn,
               out: TxOut, order: OrderDatum, vaults: Vaults, now_ms: int) -> Fill | str:
    """The fill of one order against the pool as it stands, or why it waits."""
    if isinstance(order, OBorrow):
        return borrow_fill(pool, state, pool_value, ref, out, order, now_ms)
    if isinstance(order, ORepay):
        return repay_fill(pool, state, pool_value, out, order, vaults, now_ms)
    if isinstance(order, ODeposit):
        return deposit_fill(pool, state, pool_value, out, order)
    if isinstance(order, OWithdraw):
        return withdraw_fill(pool, state, pool_value, out, order)
    return f"the stub batcher does not fill {order_name(order)} orders"


def borrow_fill(pool: BatchedPool, state: PoolDatum, pool_value: Value, ref: TxIn,
                out: TxOut, order: OBorrow, now_ms: int) -> Fill | str:
    info = pool.info
    collateral = info.collateral(order.o_collateral_asset)
    if collateral is None:
        return f"the pool takes no {order.o_collateral_asset} as collateral"
    if state.total_supplied <= 0:
        return "nothing is supplied to the pool"
    ltv = rates.ltv_bp(order.o_principal, order.o_collateral_amount, pool.oracle)
    if ltv > min(collateral.max_borrow_ltv, collateral.liquidation_threshold):
        return (f"LTV {ltv} bp is above the collateral's max of {collateral.max_borrow_ltv} "
                f"bp: the pool validator refuses it")
    held = value_of(out)
    envelope, fee = info.envelope_amount, order.o_batcher_fee
    locked = _sum({ADA: 2 * envelope + fee}, {order.o_collateral_asset: order.o_collateral_amount})
    problem = _holds(held, locked, {ADA, order.o_collateral_asset})
    if problem:
        return problem
    vault = VaultDatum(info.pool_id, OutRef(*ref), order.o_owner_pkh, order.o_owner_stake_key,
                       order.o_collateral_amount, order.o_collateral_asset,
                       rates.rate_for_new_loan(state, info),
                       max(order.o_start_time, now_ms), order.o_principal)
    owner_gets = _sum({ADA: envelope}, {info.pool_asset: order.o_principal})
    vault_holds = _sum({ADA: envelope, info.vault_authtoken: 1},
                       {order.o_collateral_asset: order.o_collateral_amount})
    # The pool lends the principal; anything the order holds beyond its figures is its.
    after = _sum(pool_value, _less(held, locked), {info.pool_asset: -order.o_principal})
    problem = _pool_can_pay(after, info.pool_asset)
    if problem:
        return problem
    owner = _owner_address(order.o_owner_pkh, order.o_owner_stake_key, pool.pool_address)
    return Fill((), ((owner, owner_gets, None),
                     (pool.vault_address, vault_holds, encode(vault))),
                {info.vault_authtoken: 1}, fee, after,
                replace(state, total_borrowed=state.total_borrowed + order.o_principal))


def repay_fill(pool: BatchedPool, state: PoolDatum, pool_value: Value, out: TxOut,
               order: ORepay, vaults: Vaults, now_ms: int) -> Fill | str:
    info = pool.info
    found = vaults.get(order.o_borrow_id)
    if found is None or found[2].owner_pkh != order.o_owner_pkh:
        return f"no vault of borrow id {order.o_borrow_id} of the order's owner"
    vault_ref, vault_out, vault = found
    if order.o_time <= vault.start_time:
        return "the order's o_time is not after the loan's start"
    if now_ms > order.o_time:
        return ("its o_time has passed: the debt now is more than it holds (the owner "
                "cancels it)")
    payment = rates.debt_at(vault, now_ms)
    collateral = info.collateral(vault.collateral_asset)
    if collateral is None:
        return f"the pool takes no {vault.collateral_asset} as collateral"
    ltv = rates.ltv_bp(payment, vault.collateral_amount, pool.oracle)
    if ltv >= collateral.liquidation_threshold:
        return (f"LTV {ltv} bp is at the liquidation threshold: the pool validator takes "
                f"no repay of it")
    held = value_of(out)
    fee = order.o_batcher_fee
    owed = _sum({ADA: fee + info.envelope_amount}, {info.pool_asset: payment})
    problem = _holds(held, owed, {ADA, info.pool_asset})
    if problem:
        return problem
    profit = payment - vault.principal
    to_reserve = profit * info.reserve_factor_percentage // rates.MULTIPLIER
    if state.total_borrowed < vault.principal:
        return "the pool's total_borrowed is less than the loan's principal"
    # The owner gets back all else: the collateral, both envelopes, what the order held
    # beyond the debt now.
    owner_gets = _sum(_less(held, {ADA: fee}, {info.pool_asset: payment}),
                      _less(value_of(vault_out), {info.vault_authtoken: 1}))
    owner = _owner_address(vault.owner_pkh, vault.owner_stake_key, pool.pool_address)
    return Fill((vault_ref,), ((owner, owner_gets, None),), {info.vault_authtoken: -1}, fee,
                _sum(pool_value, {info.pool_asset: payment}),
                replace(state, total_supplied=state.total_supplied + profit - to_reserve,
                        total_borrowed=state.total_borrowed - vault.principal,
                        reserve=state.reserve + to_reserve))


def deposit_fill(pool: BatchedPool, state: PoolDatum, pool_value: Value, out: TxOut,
                 order: ODeposit) -> Fill | str:
    info = pool.info
    ctokens = rates.ctokens_for_deposit(state, order.o_amount)
    if ctokens <= 0:
        return "the deposit is worth less than one cToken"
    held = value_of(out)
    fee = order.o_batcher_fee
    paid = _sum({ADA: fee + info.envelope_amount}, {info.pool_asset: order.o_amount})
    problem = _holds(held, paid, {ADA, info.pool_asset})
    if problem:
        return problem
    owner_gets = _sum(_less(held, {ADA: fee}, {info.pool_asset: order.o_amount}),
                      {info.ctoken: ctokens})
    owner = _owner_address(order.o_owner_pkh, order.o_owner_stake_key, pool.pool_address)
    return Fill((), ((owner, owner_gets, None),), {info.ctoken: ctokens}, fee,
                _sum(pool_value, {info.pool_asset: order.o_amount}),
                replace(state, total_supplied=state.total_supplied + order.o_amount,
                        total_ctoken=state.total_ctoken + ctokens))


def withdraw_fill(pool: BatchedPool, state: PoolDatum, pool_value: Value, out: TxOut,
                  order: OWithdraw) -> Fill | str:
    info = pool.info
    if state.total_ctoken <= 0:
        return "no cTokens exist in the pool"
    payment = rates.withdraw_payment(state, order.o_amount)
    if payment > rates.available_liquidity(state):
        return f"the pool cannot pay {payment} now (lent out)"
    held = value_of(out)
    fee = order.o_batcher_fee
    paid = {ADA: fee + info.envelope_amount, info.ctoken: order.o_amount}
    problem = _holds(held, paid, {ADA, info.ctoken})
    if problem:
        return problem
    after = _sum(pool_value, {info.pool_asset: -payment})
    problem = _pool_can_pay(after, info.pool_asset)
    if problem:
        return problem
    owner_gets = _sum(_less(held, {ADA: fee}, {info.ctoken: order.o_amount}),
                      {info.pool_asset: payment})
    owner = _owner_address(order.o_owner_pkh, order.o_owner_stake_key, pool.pool_address)
    return Fill((), ((owner, owner_gets, None),), {info.ctoken: -order.o_amount}, fee, after,
                replace(state, total_supplied=state.total_supplied - payment,
                        total_ctoken=state.total_ctoken - order.o_amount))


def fill_tx(pool: BatchedPool, pool_ref: TxIn, order_ref: TxIn, fill: Fill, slot: int) -> bytes:
    """The fill as a transaction of script inputs only (no witness: the sandbox runs no
    script); the pool's output first."""
    outputs = [output_map(_address_bytes(pool.pool_address), _clean(fill.pool_value),
                          encode(fill.pool_state))]
    outputs += [output_map(_address_bytes(address), _clean(value), datum)
                for address, value, datum in fill.outputs]
    body: dict[int, object] = {0: sorted([list(pool_ref), list(order_ref),
                                          *(list(r) for r in fill.spends)]),
                               1: outputs, 2: fill.fee, 3: slot + TTL_SLOTS}
    mint = _clean(fill.mint)
    if mint:
        body[9] = _multiasset(mint)
    return bytes(cbor2.dumps([body, {}, True, None]))


# --- values -----------------------------------------------------------------------------------

def _sum(*values: Mapping[Asset, int]) -> Value:
    """The values added up; a token none is left of is left out."""
    total: Value = {}
    for value in values:
        for asset, quantity in value.items():
            total[asset] = total.get(asset, 0) + quantity
    return {a: q for a, q in total.items() if q or a.is_ada}


def _less(value: Mapping[Asset, int], *taken: Mapping[Asset, int]) -> Value:
    return _sum(value, *({a: -q for a, q in t.items()} for t in taken))


def _clean(value: Mapping[Asset, int]) -> Value:
    """Without zero quantities, the tokens sorted (a canonical output)."""
    return {a: q for a, q in sorted(value.items(), key=lambda item: item[0].unit)
            if q or a.is_ada}


def _holds(held: Value, needed: Value, allowed: set[Asset]) -> str | None:
    """Why an order's UTxO cannot pay `needed`, or holds what its kind may not."""
    short = [f"{q - held.get(a, 0)} {'lovelace' if a.is_ada else a}" for a, q in needed.items()
             if held.get(a, 0) < q]
    if short:
        return f"the order holds too little: {', '.join(short)} short"
    extra = sorted(str(a) for a, q in held.items() if q and a not in allowed)
    if extra:
        return f"the order holds what its kind may not: {', '.join(extra)}"
    return None


def _pool_can_pay(after: Value, pool_asset: Asset) -> str | None:
    if after.get(pool_asset, 0) < 0 or after.get(ADA, 0) < MIN_POOL_LOVELACE:
        return "the pool UTxO cannot pay it"
    return None


def _key(asset: Asset) -> tuple[bytes, bytes]:
    return bytes.fromhex(asset.policy), bytes.fromhex(asset.name)


def _address_bytes(address: str) -> bytes:
    return bytes(Address.from_primitive(address).to_primitive())


def _owner_address(pkh: bytes, stake: bytes | None, on_network_of: str) -> str:
    """The owner's key address (with its stake key when the order names one), on the
    pool's network: where the validator wants the results paid."""
    mainnet = _address_bytes(on_network_of)[0] & 0x0F == 1
    return str(Address(VerificationKeyHash(pkh),
                       None if stake is None else VerificationKeyHash(stake),
                       network=Network.MAINNET if mainnet else Network.TESTNET))


def _multiasset(value: Mapping[Asset, int]) -> dict[bytes, dict[bytes, int]]:
    grouped: dict[bytes, dict[bytes, int]] = {}
    for asset, quantity in value.items():
        policy, name = _key(asset)
        grouped.setdefault(policy, {})[name] = quantity
    return grouped


__all__ = ["BatchedPool", "Fill", "SurfBatcher", "demo_pools", "fill_order", "genesis_funds"]
