"""The stub Surf batcher's fills (stubs/surf_batcher.py), pure: what each order kind pays
whom, the pool's datum after it, the orders that wait and why, and that every fill
balances to the unit on the sandbox's ledger, chained through the pool within a block."""
from __future__ import annotations

from collections import Counter

import cbor2
import pytest
from pycardano import Address

from chain.ledger import TxOut, decode_transaction
from chain.sandbox_ledger import SandboxLedger
from core.units import ADA, Asset
from protocols.venues.surf import orders, rates
from protocols.venues.surf.datums import (OutRef, PoolDatum, VaultDatum, encode, read_pool,
                                          read_vault)
from stubs.surf import pool_state, state_fields
from stubs.surf_batcher import (BatchedPool, SurfBatcher, borrow_fill, demo_pools,
                                deposit_fill, genesis_funds, repay_fill, withdraw_fill)

STRIKE = Asset("51" * 28, "535452494b45")
USDM = Asset("55" * 28, "5553444d")
OWNER = orders.Owner(bytes.fromhex("0f" * 28), bytes.fromhex("1e" * 28))
START = 1_780_000_000_000
YEAR = rates.YEAR_MS


@pytest.fixture(scope="module")
def pools() -> list[BatchedPool]:
    return demo_pools(mainnet=True)


def out_of(address: str, value: dict[Asset, int], datum: bytes | None = None) -> TxOut:
    raw = bytes(Address.from_primitive(address).to_primitive())
    return TxOut(address, raw, value.get(ADA, 0),
                 {(bytes.fromhex(a.policy), bytes.fromhex(a.name)): q
                  for a, q in value.items() if not a.is_ada}, inline_datum=datum)


def order_out(plan: orders.OrderPlan) -> TxOut:
    return out_of(plan.address, plan.value, encode(plan.datum))


def context(pool: BatchedPool) -> orders.PoolContext:
    return orders.PoolContext(pool.info, mainnet=True)


def owner_address() -> str:
    from pycardano import Network, VerificationKeyHash

    assert OWNER.stake_key is not None
    return str(Address(VerificationKeyHash(OWNER.pkh), VerificationKeyHash(OWNER.stake_key),
                       network=Network.MAINNET))


def fresh(pool: BatchedPool, supplied: int = 1_000_000_000) -> PoolDatum:
    return PoolDatum(pool.info.pool_id, supplied, 0, 0, supplied)


def test_a_borrow_opens_the_vault_the_protocol_would(pools: list[BatchedPool]) -> None:
    pool = pools[0]  # lends ADA against STRIKE (oracle: 0.5 ADA per STRIKE)
    plan = orders.borrow_plan(context(pool), OWNER, 100_000_000, STRIKE, 500_000_000,
                              2_000_000, START)
    ref = (b"\x07" * 32, 0)
    pool_value = {ADA: 1_000_000_000, pool.nft: 1}
    fill = borrow_fill(pool, fresh(pool), pool_value, ref, order_out(plan), plan.datum,
                       START + 5_000)
    assert not isinstance(fill, str), fill
    (owner, got, none), (vault_at, held, datum) = fill.outputs
    assert (owner, got, none) == (owner_address(), {ADA: 2_000_000 + 100_000_000}, None)
    assert vault_at == context(pool).vault_address
    assert held == {ADA: 2_000_000, pool.info.vault_authtoken: 1, STRIKE: 500_000_000}
    assert datum is not None
    vault = read_vault(datum)
    # The borrow id is the order's outRef; the rate is the pool's at u = 0 (base 200 bp).
    assert vault == VaultDatum(pool.info.pool_id, OutRef(*ref), OWNER.pkh, OWNER.stake_key,
                               500_000_000, STRIKE, 200, START + 5_000, 100_000_000)
    assert fill.mint == {pool.info.vault_authtoken: 1} and fill.fee == 2_000_000
    assert fill.pool_value == {ADA: 900_000_000, pool.nft: 1}
    assert fill.pool_state.total_borrowed == 100_000_000
    # Never before the order's o_start_time.
    early = borrow_fill(pool, fresh(pool), pool_value, ref, order_out(plan), plan.datum, 0)
    assert not isinstance(early, str) and read_vault(early.outputs[1][2] or b"").start_time \
        == START


def test_a_borrow_the_validator_would_refuse_waits(pools: list[BatchedPool]) -> None:
    pool = pools[0]
    too_much = orders.borrow_plan(context(pool), OWNER, 300_000_000, STRIKE, 500_000_000,
                                  2_000_000, START)  # 300 ADA on 250 ADA of STRIKE
    why = borrow_fill(pool, fresh(pool), {ADA: 10**12, pool.nft: 1}, (b"\x01" * 32, 0),
                      order_out(too_much), too_much.datum, START)
    assert isinstance(why, str) and "LTV 12000 bp" in why
    fine = orders.borrow_plan(context(pool), OWNER, 100_000_000, STRIKE, 500_000_000,
                              2_000_000, START)
    poor = borrow_fill(pool, fresh(pool), {ADA: 50_000_000, pool.nft: 1}, (b"\x01" * 32, 0),
                       order_out(fine), fine.datum, START)
    assert poor == "the pool UTxO cannot pay it"
    short = out_of(fine.address, {**fine.value, STRIKE: 1}, encode(fine.datum))
    why = borrow_fill(pool, fresh(pool), {ADA: 10**12, pool.nft: 1}, (b"\x01" * 32, 0), short,
                      fine.datum, START)
    assert isinstance(why, str) and "too little" in why


def test_a_repay_a_year_on_pays_the_interest_to_suppliers_and_reserve(
        pools: list[BatchedPool]) -> None:
    pool = pools[0]
    borrow = OutRef(b"\x07" * 32, 0)
    vault = VaultDatum(pool.info.pool_id, borrow, OWNER.pkh, OWNER.stake_key, 500_000_000,
                       STRIKE, 200, START, 100_000_000)
    vault_ref = (b"\x08" * 32, 2)
    vault_out = out_of(context(pool).vault_address,
                       {ADA: 2_000_000, pool.info.vault_authtoken: 1, STRIKE: 500_000_000},
                       encode(vault))
    plan = orders.repay_plan(context(pool), vault, 2_000_000, START + YEAR + 60_000)
    state = PoolDatum(pool.info.pool_id, 1_000_000_000, 100_000_000, 0, 1_000_000_000)
    fill = repay_fill(pool, state, {ADA: 900_000_000, pool.nft: 1}, order_out(plan),
                      plan.datum, {borrow: (vault_ref, vault_out, vault)}, START + YEAR)
    assert not isinstance(fill, str), fill
    # 2 % a year: 102 ADA repaid; of the 2 ADA interest 10 % to the reserve.
    assert fill.pool_value == {ADA: 1_002_000_000, pool.nft: 1}
    assert fill.pool_state == PoolDatum(pool.info.pool_id, 1_001_800_000, 0, 200_000,
                                        1_000_000_000)
    [(owner, got, _)] = fill.outputs
    assert owner == owner_address()
    # The collateral and both envelopes come back (the order held the debt a minute on,
    # the same whole basis points: nothing more).
    assert got == {ADA: 4_000_000, STRIKE: 500_000_000}
    assert fill.spends == (vault_ref,) and fill.mint == {pool.info.vault_authtoken: -1}
    late = repay_fill(pool, state, {ADA: 900_000_000, pool.nft: 1}, order_out(plan),
                      plan.datum, {borrow: (vault_ref, vault_out, vault)},
                      START + YEAR + 120_000)
    assert isinstance(late, str) and "o_time has passed" in late
    assert "no vault" in str(repay_fill(pool, state, {ADA: 9 * 10**8, pool.nft: 1},
                                        order_out(plan), plan.datum, {}, START + YEAR))


def test_deposit_and_withdraw_mint_and_burn_ctokens(pools: list[BatchedPool]) -> None:
    pool = pools[0]
    state = PoolDatum(pool.info.pool_id, 2_000_000_000, 500_000_000, 0, 1_000_000_000)
    plan = orders.deposit_plan(context(pool), OWNER, 100_000_000, 2_000_000)
    fill = deposit_fill(pool, state, {ADA: 1_500_000_000, pool.nft: 1}, order_out(plan),
                        plan.datum)
    assert not isinstance(fill, str), fill
    assert fill.mint == {pool.info.ctoken: 50_000_000}  # 2 ADA supplied per cToken
    assert fill.outputs[0][1] == {ADA: 2_000_000, pool.info.ctoken: 50_000_000}
    assert (fill.pool_state.total_supplied, fill.pool_state.total_ctoken) == \
        (2_100_000_000, 1_050_000_000)
    out = orders.withdraw_plan(context(pool), OWNER, 50_000_000, 2_000_000)
    fill2 = withdraw_fill(pool, fill.pool_state, fill.pool_value, order_out(out), out.datum)
    assert not isinstance(fill2, str), fill2
    assert fill2.mint == {pool.info.ctoken: -50_000_000}
    assert fill2.outputs[0][1] == {ADA: 2_000_000 + 100_000_000}
    assert fill2.pool_state == state
    lent = withdraw_fill(pool, PoolDatum(pool.info.pool_id, 100, 100, 0, 100),
                         {ADA: 10**9, pool.nft: 1}, order_out(out), out.datum)
    assert isinstance(lent, str) and "lent out" in lent


def test_the_surf_pools_genesis(pools: list[BatchedPool]) -> None:
    usdm = (bytes.fromhex(USDM.policy), bytes.fromhex(USDM.name))
    funds = genesis_funds(True, 1_000_000_000, {usdm: 5_000})
    assert [f.lovelace for f in funds] == [1_000_000_000, 1_000_000_000]
    nfts = [(bytes.fromhex(p.nft.policy), bytes.fromhex(p.nft.name)) for p in pools]
    assert [dict(f.assets) for f in funds] == [{nfts[0]: 1}, {nfts[1]: 1, usdm: 5_000}]
    with pytest.raises(ValueError, match="no Surf demo pool's asset"):
        genesis_funds(True, 1, {(b"\xab" * 28, b"X"): 1})
    # Before its first fill the pool has no datum: what it holds is what is supplied.
    ledger = SandboxLedger.from_genesis(funds)
    [(_, ada_pool)] = [(r, o) for r, o in ledger.utxos.items()
                       if o.address == pools[0].pool_address]
    state = pool_state(pools[0].info, ada_pool)
    assert state == PoolDatum(pools[0].info.pool_id, 1_000_000_000, 0, 0, 1_000_000_000)
    fields = state_fields(state, pools[0].info)
    assert (fields["totalSupplied"], fields["u"], str(fields["borrowApr"])) == \
        (1_000_000_000, 0, "0.02")
    assert state_fields(None, pools[0].info)["totalSupplied"] == 0


def test_two_borrows_in_a_block_chain_through_the_pool_and_each_balances(
        pools: list[BatchedPool]) -> None:
    """Every fill the ledger checks (value conserved, inputs there): the second spends
    the pool output of the first; an order it cannot read stays."""
    funds = genesis_funds(True, 1_000_000_000, {})
    ledger = SandboxLedger.from_genesis(funds)
    pool = pools[0]
    for n, principal in enumerate((100_000_000, 50_000_000)):
        plan = orders.borrow_plan(context(pool), OWNER, principal, STRIKE, 500_000_000,
                                  2_000_000, START)
        ledger.utxos[(bytes([n + 1]) * 32, 0)] = order_out(plan)
    junk = (b"\x09" * 32, 0)
    ledger.utxos[junk] = out_of(context(pool).order_address, {ADA: 5_000_000},
                                cbor2.dumps(cbor2.CBORTag(121, [])))
    batcher = SurfBatcher([pool], clock_ms=lambda: START + 1_000)
    txs = batcher.fills(dict(ledger.utxos), slot=100)
    assert len(txs) == 2
    for tx in txs:
        assert ledger.check(tx, slot=100) == []
        ledger.apply(tx, slot=100)
    second = decode_transaction(txs[1])
    assert (decode_transaction(txs[0]).id, 0) in second.inputs
    [(_, pool_out)] = [(r, o) for r, o in ledger.utxos.items()
                       if o.address == pool.pool_address]
    assert pool_out.inline_datum is not None
    state = read_pool(pool_out.inline_datum)
    assert (state.total_borrowed, state.total_supplied) == (150_000_000, 1_000_000_000)
    vaults = [read_vault(o.inline_datum or b"") for o in ledger.utxos.values()
              if o.address == context(pool).vault_address]
    # The second loan's rate is the pool's after the first: u = 10 % → 200 + 100 bp.
    assert sorted(v.interest_rate for v in vaults) == [200, 300]
    assert junk in ledger.utxos  # left alone
    assert batcher.fills(dict(ledger.utxos), slot=101) == []
    held: Counter[bytes] = Counter()
    for out in ledger.utxos.values():
        held[out.address_bytes[1:29]] += out.lovelace
    assert sum(held.values()) == sum(f.lovelace for f in funds) + 5_000_000 \
        + 2 * 6_000_000 - 2 * 2_000_000  # the fills' fees (the batcher fees) left
