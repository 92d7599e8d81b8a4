"""Surf order transactions built with pycardano: they decode, pay what their Intent says,
hold what the pool validator asks; compare_with_ours catches a tampered API transaction,
and the source refuses one before anyone signs."""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace

import cbor2
import pytest
from pycardano import Transaction

from chain.ledger import decode_transaction
from core.units import ADA
from protocols.errors import Unsupported, VenueRefused
from protocols.model import Wallet
from protocols.offline_chain import ProtocolParams
from protocols.venues.surf import orders, rates
from protocols.venues.surf.datums import ODeposit, ORepay, read_order
from stubs.server import Fault, StubServer
from stubs.surf import load_demo
from tests.support.intent import check_pays_what_it_says
from tests.venues.cases.surf import demo_chain, demo_source

STUB = load_demo(mainnet=True)
ADDRESS, DEMO = next(iter(STUB.wallets.items()))
WALLET = STUB.wallet(ADDRESS)
POOL_A, POOL_B = list(STUB.pools.values())
OWNER = orders.Owner.of(ADDRESS)
CTX_A, CTX_B = STUB.context(POOL_A), STUB.context(POOL_B)
STRIKE = POOL_A.info.collateral_infos[0].collateral_asset
FEE = 2_000_000
ENVELOPE = POOL_A.info.envelope_amount


def plans() -> dict[str, orders.OrderPlan]:
    vault = STUB.vault(DEMO, DEMO.positions[0])
    return {
        "deposit ADA": orders.deposit_plan(CTX_A, OWNER, 100_000_000, FEE, 94_000_000),
        "deposit USDM": orders.deposit_plan(CTX_B, OWNER, 50_000_000, FEE),
        "withdraw": orders.withdraw_plan(CTX_A, OWNER, 90_000_000, FEE),
        "borrow on STRIKE": orders.borrow_plan(CTX_A, OWNER, 100_000_000, STRIKE,
                                               1_000_000_000, FEE, 1_790_000_000_000),
        "borrow on ADA": orders.borrow_plan(CTX_B, OWNER, 100_000_000, ADA, 300_000_000, FEE,
                                            1_790_000_000_000),
        "repay": orders.repay_plan(CTX_A, vault, FEE, 1_790_000_000_000),
    }


@pytest.mark.parametrize("name", sorted(plans()))
def test_order_transactions_decode_and_pay_what_they_say(name: str) -> None:
    plan = plans()[name]
    built = orders.build_order(plan, "m", WALLET, mainnet=True)
    assert built.built_by == "project"
    tx = decode_transaction(built.cbor)
    assert check_pays_what_it_says(tx, built.intent, WALLET) == []
    [found] = orders.orders_in(tx, POOL_A.info.order_script_hash if "USDM" not in name
                               and "on ADA" not in name else POOL_B.info.order_script_hash)
    assert found.datum == plan.datum
    assert found.out.inline_datum is not None and read_order(found.out.inline_datum) == plan.datum
    assert built.intent.settles == "batched"
    assert tx.fee and 150_000 < tx.fee < 400_000


def test_order_values_follow_the_pool_validator() -> None:
    p = plans()
    assert p["deposit ADA"].value == {ADA: FEE + ENVELOPE + 100_000_000}
    usdm = POOL_B.info.pool_asset
    assert p["deposit USDM"].value == {ADA: FEE + ENVELOPE, usdm: 50_000_000}
    assert p["withdraw"].value == {ADA: FEE + ENVELOPE, POOL_A.info.ctoken: 90_000_000}
    assert p["borrow on STRIKE"].value == {ADA: FEE + 2 * ENVELOPE, STRIKE: 1_000_000_000}
    assert p["borrow on ADA"].value == {ADA: FEE + 2 * ENVELOPE + 300_000_000}
    vault = STUB.vault(DEMO, DEMO.positions[0])
    debt = rates.debt_at(vault, 1_790_000_000_000)
    assert debt > vault.principal
    assert p["repay"].value == {ADA: FEE + ENVELOPE + debt}
    assert p["repay"].comes_back == {ADA: ENVELOPE, STRIKE: vault.collateral_amount}
    assert isinstance(p["repay"].datum, ORepay) and p["repay"].datum.o_time == 1_790_000_000_000
    with pytest.raises(ValueError, match="takes no"):
        orders.borrow_plan(CTX_A, OWNER, 1, ADA, 1, FEE, 0)
    with pytest.raises(ValueError, match="after the loan's start"):
        orders.repay_plan(CTX_A, vault, FEE, vault.start_time)
    with pytest.raises(ValueError, match="positive"):
        orders.deposit_plan(CTX_A, OWNER, 0, FEE)


def test_a_wallet_that_cannot_pay_is_refused() -> None:
    poor = replace(WALLET, utxos_cbor=WALLET.utxos_cbor[:1])  # ADA only, no USDM
    with pytest.raises(ValueError, match="cannot pay"):
        orders.build_order(plans()["deposit USDM"], "m", poor, mainnet=True)


def _tampered(cbor: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """The same transaction with its order output changed by `change(output) -> output`."""
    tx = Transaction.from_cbor(cbor)
    for i, out in enumerate(tx.transaction_body.outputs):
        if out.datum is not None:
            tx.transaction_body.outputs[i] = change(out)
    return tx.to_cbor()


def test_compare_with_ours_catches_a_tampered_api_transaction() -> None:
    from pycardano import Address, RawPlutusData, TransactionOutput

    plan = plans()["deposit ADA"]
    ours = orders.build_order(plan, "m", WALLET, mainnet=True).cbor
    assert orders.compare_with_ours(ours, ours).same

    def less(out):  # type: ignore[no-untyped-def]
        return TransactionOutput(out.address, out.amount.coin - 1, datum=out.datum)

    comparison = orders.compare_with_ours(_tampered(ours, less), ours)
    assert comparison.differences == (
        f"the order script gets {FEE + ENVELOPE + 100_000_000 - 1} lovelace from the API's "
        f"transaction, {FEE + ENVELOPE + 100_000_000} from ours",)

    def dearer(out):  # type: ignore[no-untyped-def]
        datum = replace(plan.datum, o_batcher_fee=FEE + 1)
        from protocols.venues.surf.datums import encode_value
        return TransactionOutput(out.address, out.amount, datum=RawPlutusData(encode_value(datum)))

    assert orders.compare_with_ours(_tampered(ours, dearer), ours).differences == (
        f"batcher fee: API {FEE + 1}, ours {FEE}",)

    def elsewhere(out):  # type: ignore[no-untyped-def]
        other = Address.from_primitive(orders.script_address(b"\x09" * 28, True))
        return TransactionOutput(other, out.amount, datum=out.datum)

    [difference] = orders.compare_with_ours(_tampered(ours, elsewhere), ours).differences
    assert "pays no order to the order script" in difference

    def other_owner(out):  # type: ignore[no-untyped-def]
        datum = replace(plan.datum, o_owner_pkh=b"\x05" * 28)
        from protocols.venues.surf.datums import encode_value
        return TransactionOutput(out.address, out.amount, datum=RawPlutusData(encode_value(datum)))

    [difference] = orders.compare_with_ours(_tampered(ours, other_owner), ours).differences
    assert difference.startswith("datum o_owner_pkh: API 0505")

    def more(out):  # type: ignore[no-untyped-def]
        return TransactionOutput(out.address, out.amount.coin + 5, datum=out.datum)

    comparison = orders.compare_with_ours(_tampered(ours, more), ours)
    assert comparison.same and comparison.notes == ("the API's order holds 5 lovelace more "
                                                    "than ours",)


def test_the_source_refuses_a_tampered_api_order_before_signing() -> None:
    with ExitStack() as stack:
        stub = load_demo(mainnet=True)
        server = stack.enter_context(StubServer(stub))
        source = demo_source(stub, server.url + "/api", demo_chain(stub))
        wallet = stub.wallet(ADDRESS)
        market = POOL_A.market_id
        honest = source.build_lend(market, 100_000_000, wallet)
        assert honest.built_by == "venue-api"
        assert "checked against the project's own order" in honest.intent.notes
        assert check_pays_what_it_says(decode_transaction(honest.cbor), honest.intent,
                                       wallet) == []
        # The engine names only the address (the API picks the UTxOs): compared all the same.
        bare = source.build_lend(market, 100_000_000, Wallet(ADDRESS))
        assert "checked against the project's own order" in bare.intent.notes
        assert bare.intent.to_venue == honest.intent.to_venue

        def skim(out):  # type: ignore[no-untyped-def]
            from pycardano import TransactionOutput
            return TransactionOutput(out.address, out.amount.coin - 1_000_000, datum=out.datum)

        tampered = _tampered(honest.cbor, skim)
        server.fail_next("/api/depositLiquidity", Fault(status=200, body={"cbor": tampered.hex()}))
        with pytest.raises(VenueRefused, match="differs from ours: the order script gets"):
            source.build_lend(market, 100_000_000, wallet)
        server.fail_next("/api/depositLiquidity", Fault(status=200, body={"cbor": tampered.hex()}))
        with pytest.raises(VenueRefused, match="differs from ours: the order script gets"):
            source.build_lend(market, 100_000_000, Wallet(ADDRESS))
        # an order for another amount than asked is refused even without our own build
        source._pool_infos.clear()
        server.fail_next("/api/depositLiquidity", Fault(status=200, body={"cbor": honest.cbor.hex()}))
        with pytest.raises(VenueRefused, match="o_amount 100000000, asked 5"):
            source.build_lend(market, 5, wallet)
        unchecked = source.build_lend(market, 100_000_000, wallet)
        assert "not checked against the project's own order" in unchecked.intent.notes[-1]
        with pytest.raises(Unsupported, match="only in full"):
            source.build_repay(DEMO.positions[0]["borrow_id"], 10, wallet)


def test_cancel_and_add_collateral_spend_the_script_with_the_right_redeemer() -> None:
    view = demo_chain(STUB)
    order_ref = DEMO.orders[0]["out_ref"]
    stored = view.utxo(order_ref)
    assert stored is not None
    from protocols.venues.surf.source import _stored_output

    utxo = orders.ScriptUtxo(orders.OutRef.parse(order_ref), _stored_output(stored))
    params = ProtocolParams(plutus_v3_cost_model=tuple(range(10)))
    built = orders.build_cancel(utxo, "m", WALLET, orders.ScriptSource(script=POOL_A.order_script),
                                mainnet=True, params=params, slot=100)
    tx = decode_transaction(built.cbor)
    assert (utxo.ref.tx_id, utxo.ref.index) in tx.inputs
    assert tx.required_signers == [OWNER.pkh] and tx.redeemers == 1
    assert check_pays_what_it_says(tx, built.intent, WALLET) == []
    redeemers = cbor2.loads(built.cbor)[1][5]
    index = sorted(tx.inputs).index((utxo.ref.tx_id, utxo.ref.index))
    data = redeemers[0][2] if isinstance(redeemers, list) else next(iter(redeemers.values()))[0]
    assert data == cbor2.CBORTag(122, [index])  # Cancel {order_in_idx}
    with pytest.raises(ValueError, match="cost model"):
        orders.build_cancel(utxo, "m", WALLET, orders.ScriptSource(script=b"x"), mainnet=True,
                            params=ProtocolParams(), slot=100)
    assert isinstance(read_order(stored.inline_datum or b""), ODeposit)
