"""Surf's case for the venue contract suite, and the in-memory chain the Surf tests share.

The API is the loopback stub over the project's SYNTHETIC demo data (stubs/surf.py); the
source knows the demo pools' PoolInfoDatums and reads a small in-memory chain
(tests/support/chain_view.py), so every order the stub builds is checked against the
project's own before the contract's own checks run.
"""
from __future__ import annotations

from contextlib import ExitStack

from core.settings import NETWORK_MAGICS, Network
from core.units import ADA, Asset
from protocols.base import StoredUtxo
from protocols.offline_chain import ProtocolParams
from protocols.venues.surf import orders
from protocols.venues.surf.api import SurfApi
from protocols.venues.surf.datums import (OLiquidate, ORepay, OutRef, PoolDatum, VaultDatum,
                                          encode)
from protocols.venues.surf.source import ScriptConfig, SurfSource
from protocols.venues.surf.tokens import load_book
from stubs.server import StubServer
from stubs.surf import DEMO_COST_MODEL, SurfStub, load_demo
from tests.support.chain_view import MemoryChainView as MemoryView
from tests.venues.contract import BuildCase, FateCase, VenueCase

MAINNET = Network("mainnet", NETWORK_MAGICS["mainnet"])


def stored(ref: str, address: str, value: dict[Asset, int], datum: bytes | None,
           slot: int = 100, spent_tx: str | None = None) -> StoredUtxo:
    return StoredUtxo(ref, address, value.get(ADA, 0),
                      {(a.policy, a.name): q for a, q in value.items() if not a.is_ada},
                      datum, slot, spent_tx, None if spent_tx is None else slot + 10)


def tx_hex(n: int) -> str:
    return f"{n:064x}"


def vault_utxo(stub: SurfStub, pool_wire: str, vault: VaultDatum, ref: str,
               spent_tx: str | None = None) -> StoredUtxo:
    pool = stub.pools[pool_wire]
    value = {ADA: pool.info.envelope_amount, pool.info.vault_authtoken: 1,
             vault.collateral_asset: vault.collateral_amount}
    return stored(ref, stub.context(pool).vault_address, value, encode(vault),
                  spent_tx=spent_tx)


def demo_chain(stub: SurfStub) -> MemoryView:
    """The demo wallet's vault and pending order, as a chain would hold them."""
    view = MemoryView()
    address, wallet = next(iter(stub.wallets.items()))
    for item in wallet.positions:
        pool = stub.pools[item["pool"]]
        view.put(vault_utxo(stub, pool.wire_id, stub.vault(wallet, item), item["out_ref"]))
    for item in wallet.orders:
        pool = stub.pools[item["pool"]]
        datum = stub.order_datum(wallet, item)
        plan = orders.deposit_plan(stub.context(pool), orders.Owner(wallet.pkh, wallet.stake),
                                   datum.o_amount, datum.o_batcher_fee)
        view.put(stored(item["out_ref"], plan.address, plan.value, encode(datum)))
    return view


def demo_source(stub: SurfStub, url: str, view: MemoryView | None = None) -> SurfSource:
    pool = next(iter(stub.pools.values()))
    scripts = ScriptConfig(vault_script=orders.ScriptSource(script=pool.vault_script),
                           params=ProtocolParams(plutus_v3_cost_model=DEMO_COST_MODEL),
                           slot=lambda: 100_000_000)
    source = SurfSource(MAINNET, load_book("mainnet"), SurfApi(url, timeout_s=5.0),
                        scripts=scripts)
    for demo in stub.pools.values():
        source.learn_pool_info(demo.info)
    source.view = view
    return source


def fate_views(stub: SurfStub) -> list[FateCase]:
    """Open, moved-and-open, repaid, liquidated (an OLiquidate order) and seized (VSlash)."""
    pool = next(iter(stub.pools.values()))
    address, wallet = next(iter(stub.wallets.items()))
    vault = stub.vault(wallet, wallet.positions[0])
    collateral = {vault.collateral_asset: vault.collateral_amount}
    order_address = stub.context(pool).order_address
    pool_datum = encode(PoolDatum(pool.info.pool_id, 10, 5, 0, 10))
    cases = []

    open_view = MemoryView()
    open_view.put(vault_utxo(stub, pool.wire_id, vault, f"{tx_hex(1)}#0"))
    cases.append(FateCase("open", open_view, f"{tx_hex(1)}#0", "open", collateral=collateral))

    moved = MemoryView()
    bigger = VaultDatum(**{**vault.__dict__, "collateral_amount": vault.collateral_amount + 7})
    moved.put(vault_utxo(stub, pool.wire_id, vault, f"{tx_hex(1)}#0", spent_tx=tx_hex(2)))
    moved.put(vault_utxo(stub, pool.wire_id, bigger, f"{tx_hex(2)}#0"))
    cases.append(FateCase("moved by VAddCollateral, still open", moved, f"{tx_hex(1)}#0",
                          "open", collateral={vault.collateral_asset: bigger.collateral_amount}))

    for name, order, expected in (
            ("repaid", ORepay(pool.info.pool_id, 2_000_000, vault.borrow_id, wallet.pkh, 1),
             "repaid"),
            ("liquidated", OLiquidate(pool.info.pool_id, 2_000_000, b"\x07" * 28,
                                      vault.borrow_id), "liquidated")):
        view = MemoryView()
        batch = tx_hex(9)
        view.put(vault_utxo(stub, pool.wire_id, vault, f"{tx_hex(1)}#0", spent_tx=batch))
        view.put(stored(f"{tx_hex(3)}#0", order_address, {ADA: 5_000_000}, encode(order),
                        spent_tx=batch))
        view.put(stored(f"{tx_hex(4)}#0", order_address, {ADA: 3_000_000}, pool_datum,
                        spent_tx=batch))
        view.ours.add(tx_hex(3))
        cases.append(FateCase(name, view, f"{tx_hex(1)}#0", expected,  # type: ignore[arg-type]
                              collateral=collateral))

    seized = MemoryView()
    seized.put(vault_utxo(stub, pool.wire_id, vault, f"{tx_hex(1)}#0", spent_tx=tx_hex(8)))
    cases.append(FateCase("seized by the admin (VSlash)", seized, f"{tx_hex(1)}#0",
                          "liquidated"))
    return cases


def make_case(stack: ExitStack) -> VenueCase:
    stub = load_demo(mainnet=True)
    server = stack.enter_context(StubServer(stub))
    view = demo_chain(stub)
    source = demo_source(stub, server.url + "/api", view)
    address, demo = next(iter(stub.wallets.items()))
    wallet = stub.wallet(address)
    pool_a, pool_b = list(stub.pools.values())
    a, b = pool_a.market_id, pool_b.market_id
    strike = pool_a.info.collateral_infos[0].collateral_asset
    position = demo.positions[0]
    order_ref = demo.orders[0]["out_ref"]
    builds = [
        BuildCase("lend ADA", lambda s: s.build_lend(a, 100_000_000, wallet), wallet),
        BuildCase("lend USDM", lambda s: s.build_lend(b, 50_000_000, wallet), wallet),
        BuildCase("withdraw fADA", lambda s: s.build_withdraw(a, 100_000_000, wallet), wallet),
        BuildCase("borrow ADA on STRIKE", lambda s: s.build_borrow(
            a, 100_000_000, strike, 1_000_000_000, wallet), wallet),
        BuildCase("borrow USDM on ADA", lambda s: s.build_borrow(
            b, 100_000_000, ADA, 500_000_000, wallet), wallet),
        BuildCase("repay in full", lambda s: s.build_repay(position["borrow_id"], None, wallet),
                  wallet),
        BuildCase("cancel a pending deposit", lambda s: s.build_cancel(order_ref, wallet), wallet),
        BuildCase("add collateral", lambda s: s.build_add_collateral(
            position["out_ref"], strike, 1_000_000, wallet), wallet),
    ]
    unsupported = [
        lambda s: s.build_repay(position["borrow_id"], 1, wallet),
        lambda s: s.build_withdraw_collateral(position["out_ref"], strike, 1, wallet),
    ]
    return VenueCase(source=source, builds=builds, fates=fate_views(stub),
                     unsupported=unsupported)


__all__ = ["MemoryView", "OutRef", "demo_chain", "demo_source", "make_case", "stored"]
