"""Surf on chain: outputs into records (by token, or by script credential, unauthenticated),
transactions into events, markets from chain state, a loan's debt now; and the API's pool
rows into markets with their units checked."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest

from chain.ledger import Tx, TxOut
from protocols.errors import DatumLayoutError, MalformedResponse
from core.units import Asset
from protocols.model import Market, OraclePrice, VenueRecord
from protocols.render import record_json, stored_record
from protocols.venues.surf import chain, rates
from protocols.venues.surf.datums import (OBorrow, ODeposit, OLiquidate, OracleDatum, ORepay,
                                          PoolDatum, PoolInfoDatum, VaultDatum, encode)
from protocols.venues.surf.markets import ltv_pair, parse_pool, parse_pool_infos
from protocols.venues.surf.tokens import POOL_INFO_NFT, POOL_NFT, SurfBook, load_book
from stubs.surf import DemoPool, load_demo
from tests.venues.cases.surf import MemoryView, tx_hex, vault_utxo

STUB = load_demo(mainnet=True)
POOL = next(iter(STUB.pools.values()))
INFO = POOL.info
ADDRESS, WALLET = next(iter(STUB.wallets.items()))
AUTH = bytes.fromhex("e1" * 28)
VAULT_AUTH = bytes.fromhex(INFO.vault_authtoken.policy)
ORACLE = bytes.fromhex(INFO.collateral_infos[0].oracle_nft.policy)
BOOK = (SurfBook("mainnet").add("pool_auth_policies", [AUTH])
        .add("pool_scripts", [POOL.pool_script]).learn_pool_info(INFO))
VAULT = STUB.vault(WALLET, WALLET.positions[0])
SCRIPT = bytes([0x71])  # mainnet enterprise script address header


def out(credential: bytes, assets: dict[tuple[bytes, bytes], int], datum: bytes | None,
        lovelace: int = 2_000_000) -> TxOut:
    raw = SCRIPT + credential
    return TxOut("addr_of_" + credential.hex()[:8], raw, lovelace, assets, inline_datum=datum)


def pool_out(pool: PoolDatum, authenticated: bool = True) -> TxOut:
    policy = AUTH if authenticated else b"\x66" * 28
    return out(POOL.pool_script, {(policy, POOL_NFT): 1}, encode(pool))


def info_out() -> TxOut:
    return out(b"\x44" * 28, {(AUTH, POOL_INFO_NFT): 1}, encode(INFO))


def vault_out(vault: VaultDatum) -> TxOut:
    return out(INFO.vault_script_hash, {(VAULT_AUTH, b""): 1}, encode(vault))


def order_out(datum) -> TxOut:  # type: ignore[no-untyped-def]
    return out(INFO.order_script_hash, {}, encode(datum), 5_000_000)


PD = PoolDatum(INFO.pool_id, 4_350_000_000_000, 2_961_045_000_000, 12_000_000_000,
               4_120_000_000_000)


def test_outputs_become_records_by_token_or_credential() -> None:
    record = chain.read_output(BOOK, "aa#0", pool_out(PD), encode(PD))
    assert record is not None and record.kind == "pool" and record.extra["authenticated"]
    assert record.market == str(INFO.pool_id)
    assert record.fields["total_supplied"] == PD.total_supplied
    assert record.extra["ctoken_rate"] == Fraction(4_350, 4_120)
    line = record_json(record)
    assert line["kind"] == "pool" and line["ctoken_rate"] == [435, 412]
    assert stored_record(record)["fields"]["total_borrowed"] == str(PD.total_borrowed)
    fake = chain.read_output(BOOK, "aa#1", pool_out(PD, authenticated=False), encode(PD))
    assert fake is not None and fake.extra["authenticated"] is False  # a POOL_NFT of any policy
    info = chain.read_output(BOOK, "aa#2", info_out(), encode(INFO))
    assert info is not None and info.kind == "pool_info"
    assert (info.extra["base_borrow_apr"], info.extra["optimal_borrow_apr"],
            info.extra["max_borrow_apr"]) == ("0.02", "0.1", "0.2")
    assert record_json(info)["datum"]["collateral_infos"][0]["max_borrow_ltv"] == 5_000
    vault = chain.read_output(BOOK, "aa#3", vault_out(VAULT), encode(VAULT))
    assert vault is not None and vault.kind == "vault" and vault.extra["interest_apr"] == "0.088"
    order = ODeposit(INFO.pool_id, WALLET.pkh, WALLET.stake, 2_000_000, 5)
    placed = chain.read_output(BOOK, "aa#4", order_out(order), encode(order))
    assert placed is not None and placed.kind == "order" and placed.extra["order"] == "deposit"
    oracle = OracleDatum(500_000, 1_000_000, 1)
    seen = chain.read_output(BOOK, "aa#5", out(b"\x45" * 28, {(ORACLE, b""): 1}, encode(oracle)),
                             encode(oracle))
    assert seen is not None and seen.kind == "oracle" and seen.extra["price"] == Fraction(1, 2)
    assert chain.read_output(BOOK, "aa#6", out(b"\x46" * 28, {}, None), None) is None
    no_nft = out(POOL.pool_script, {}, encode(PD))
    assert chain.read_output(BOOK, "aa#7", no_nft, encode(PD)) is None


def test_a_surf_output_with_an_unknown_layout_raises() -> None:
    with pytest.raises(DatumLayoutError, match="no datum"):
        chain.read_output(BOOK, "aa#0", pool_out(PD), None)
    with pytest.raises(DatumLayoutError, match="PoolDatum"):
        chain.read_output(BOOK, "aa#0", pool_out(PD), encode(VAULT))
    with pytest.raises(DatumLayoutError):
        chain.read_output(BOOK, "aa#0", vault_out(VAULT), encode(PD))


def tx(n: int, outputs: list[TxOut], valid: bool = True) -> Tx:
    return Tx(bytes.fromhex(tx_hex(n)), 0, valid, 200_000, [], [], [], outputs, {}, {}, [],
              None, None, 0, {}, False, b"")


def records(*items: tuple[str, TxOut]) -> dict[str, VenueRecord]:
    found = {}
    for ref, output in items:
        record = chain.read_output(BOOK, ref, output, output.inline_datum)
        assert record is not None
        found[ref] = record
    return found


def kinds(events) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    return sorted((e.kind, e.details.get("order") or e.details.get("reason")) for e in events)


def test_transactions_become_events() -> None:
    borrow = OBorrow(INFO.pool_id, WALLET.pkh, None, 2_000_000, VAULT.principal,
                     VAULT.collateral_amount, VAULT.collateral_asset, 1)
    placed = chain.read_tx(BOOK, tx(1, [order_out(borrow)]), {})
    assert [(e.kind, e.refs) for e in placed] == [("order_placed", (f"{tx_hex(1)}#0",))]
    spent = records((f"{tx_hex(1)}#0", order_out(borrow)), (f"{tx_hex(7)}#0", pool_out(PD)))
    batch = chain.read_tx(BOOK, tx(2, [pool_out(PD), vault_out(VAULT)]), spent)
    assert kinds(batch) == [("loan_opened", None), ("market_state_updated", None),
                            ("order_batched", "borrow")]
    cancelled = chain.read_tx(BOOK, tx(3, []), records((f"{tx_hex(1)}#0", order_out(borrow))))
    assert kinds(cancelled) == [("order_cancelled", "borrow")]
    assert chain.read_tx(BOOK, tx(3, [order_out(borrow)], valid=False), {}) == []
    repay = ORepay(INFO.pool_id, 2_000_000, VAULT.borrow_id, WALLET.pkh, 2)
    liquidate = OLiquidate(INFO.pool_id, 2_000_000, b"\x07" * 28, VAULT.borrow_id)
    for order, expected in ((repay, "loan_repaid"), (liquidate, "loan_liquidated")):
        spent = records((f"{tx_hex(4)}#0", order_out(order)), (f"{tx_hex(7)}#0", pool_out(PD)),
                        (f"{tx_hex(5)}#0", vault_out(VAULT)))
        events = chain.read_tx(BOOK, tx(6, [pool_out(PD)]), spent)
        assert expected in {e.kind for e in events}
    bigger = VaultDatum(**{**VAULT.__dict__, "collateral_amount": VAULT.collateral_amount + 1})
    added = chain.read_tx(BOOK, tx(8, [vault_out(bigger)]),
                          records((f"{tx_hex(5)}#0", vault_out(VAULT))))
    assert kinds(added) == [("loan_updated", None)]
    slashed = chain.read_tx(BOOK, tx(9, []), records((f"{tx_hex(5)}#0", vault_out(VAULT))))
    assert kinds(slashed) == [("loan_liquidated", "seized without the pool (the admin's VSlash)")]


def test_markets_from_chain_replace_the_apis_figures() -> None:
    [api_market, other] = [row.market for row in parse_pool_infos(
        _decimals(STUB.get_all_pool_infos({})["poolInfos"]), 1_800_000_000_000, 2_000_000)[0]]
    pool = PoolDatum(INFO.pool_id, 1_000_000_000, 900_000_000, 0, 800_000_000)
    found = [(chain.read_output(BOOK, "aa#0", pool_out(pool), encode(pool)), 1_800_000_100_000),
             (chain.read_output(BOOK, "bb#0", info_out(), encode(INFO)), 1_800_000_000_000)]
    [market, untouched] = chain.markets_from_chain(found, [api_market, other])  # type: ignore
    assert untouched is other
    assert market.borrow_apr == Decimal("0.15")  # u 9000: 2 % + 8 % + 10 % of 50 %
    assert market.utilisation == Decimal("0.9")
    assert market.available_liquidity == 100_000_000
    assert market.receipt_rate is not None
    assert market.receipt_rate.underlying_per_receipt == Fraction(10, 8)
    assert market.supply_apy == Decimal("0.15") * Decimal("0.9") * Decimal("0.9")
    assert [(c.max_ltv, c.liquidation_threshold) for c in market.collaterals] == [
        (Decimal("0.5"), Decimal("0.75"))]
    assert market.provenance.source == "chain"
    assert market.provenance.as_of_ms == 1_800_000_000_000
    assert market.borrow == api_market.borrow  # decimals stay the API's
    fake = [(chain.read_output(BOOK, "aa#0", pool_out(pool, False), encode(pool)), 1),
            found[1]]
    assert chain.markets_from_chain(fake, [api_market]) == [api_market]  # type: ignore


# --- each collateral's oracle price ------------------------------------------------------

[ADA_POOL, USDM_POOL] = STUB.pools.values()
BOTH = BOOK.learn_pool_info(USDM_POOL.info)


def api_markets() -> list[Market]:
    return [row.market for row in parse_pool_infos(
        _decimals(STUB.get_all_pool_infos({})["poolInfos"]), 1_800_000_000_000, 2_000_000)[0]]


def info_record(info: PoolInfoDatum, ref: str) -> VenueRecord:
    record = chain.read_output(BOTH, ref, out(b"\x44" * 28, {(AUTH, POOL_INFO_NFT): 1},
                                              encode(info)), encode(info))
    assert record is not None and record.extra["authenticated"]
    return record


def oracle_out(oracle: OracleDatum, nft: Asset, quantity: int = 1) -> TxOut:
    return out(b"\x45" * 28, {(bytes.fromhex(nft.policy), bytes.fromhex(nft.name)): quantity},
               encode(oracle))


def oracle_record(oracle: OracleDatum, nft: Asset, ref: str, quantity: int = 1) -> VenueRecord:
    record = chain.read_output(BOTH, ref, oracle_out(oracle, nft, quantity), encode(oracle))
    assert record is not None and record.kind == "oracle"
    return record


def nft_of(pool: DemoPool) -> Asset:
    return pool.info.collateral_infos[0].oracle_nft


def test_each_collateral_gets_its_oracle_price_in_the_borrow_token() -> None:
    ada_market, usdm_market = api_markets()
    assert ada_market.market_id == ADA_POOL.market_id
    assert all(c.oracle_price is None for m in (ada_market, usdm_market) for c in m.collaterals)
    block_ms = 1_780_000_100_000
    found = [(info_record(ADA_POOL.info, "bb#0"), 1_780_000_000_000),
             (info_record(USDM_POOL.info, "bb#1"), 1_780_000_000_000),
             (oracle_record(ADA_POOL.oracle, nft_of(ADA_POOL), "cc#0"), block_ms),
             (oracle_record(USDM_POOL.oracle, nft_of(USDM_POOL), "cc#1"), block_ms)]
    [ada, usdm] = chain.markets_from_chain(found, [ada_market, usdm_market])
    # 500 000 / 1 000 000 lovelace per base unit of a 6-decimal STRIKE: 0.5 ADA a STRIKE.
    [strike] = ada.collaterals
    assert strike.oracle_price == OraclePrice(Decimal("0.5"), ADA_POOL.oracle.updated_at,
                                              "surf oracle cc#0")
    # The USDM pool's oracle prices its ADA collateral in USDM: 0.454545 USDM an ADA,
    # the inverse of the API's 2.2 ADA a USDM.
    [ada_collateral] = usdm.collaterals
    assert ada_collateral.token.asset.is_ada and usdm.borrow.ticker == "USDM"
    assert ada_collateral.oracle_price is not None
    assert ada_collateral.oracle_price.price == Decimal("0.454545")
    assert abs(1 / ada_collateral.oracle_price.price - Decimal("2.2")) < Decimal("0.00001")
    assert ada_collateral.oracle_price.source == "surf oracle cc#1"
    assert ada_collateral.oracle_price.age_s(ADA_POOL.oracle.updated_at + 90_000) == 90
    # Only the oracle changed: the pools' own UTxOs are not indexed, so the rest is the API's.
    assert replace(ada, collaterals=ada_market.collaterals) == ada_market
    # With the pool too (chain figures), the price stays.
    pool = PoolDatum(ADA_POOL.info.pool_id, 1_000_000_000, 900_000_000, 0, 800_000_000)
    pool_record = chain.read_output(BOTH, "aa#0", pool_out(pool), encode(pool))
    assert pool_record is not None
    with_pool = [*found, (pool_record, 1_780_000_000_000)]
    chained = chain.markets_from_chain(with_pool, [ada_market])[0]
    assert chained.provenance.source == "chain"
    assert chained.collaterals[0].oracle_price == strike.oracle_price


@pytest.mark.parametrize("pool", [ADA_POOL, USDM_POOL], ids=["ada-pool", "usdm-pool"])
@pytest.mark.parametrize("collateral_decimals", [6, 0, 8])
@pytest.mark.parametrize("debt, collateral", [(250_000_000, 1_000_000_000), (7, 3),
                                              (123_456_789, 987_654_321)])
def test_the_price_gives_the_validators_ltv(pool: DemoPool, collateral_decimals: int,
                                            debt: int, collateral: int) -> None:
    """LTV from the model's price in whole units is `cal_ltv`'s (base units), to the basis
    point, whatever the collateral's decimals."""
    api = {m.market_id: m for m in api_markets()}[pool.market_id]
    [api_option] = api.collaterals
    api = replace(api, collaterals=(replace(api_option, token=replace(
        api_option.token, decimals=collateral_decimals)),))
    found = [(info_record(pool.info, "bb#0"), 1), (oracle_record(pool.oracle, nft_of(pool),
                                                                 "cc#0"), 2)]
    [market] = chain.markets_from_chain(found, [api])
    [option] = market.collaterals
    assert option.oracle_price is not None
    debt_whole = Decimal(debt).scaleb(-market.borrow.decimals)
    collateral_whole = Decimal(collateral).scaleb(-option.token.decimals)
    ltv = debt_whole / (collateral_whole * option.oracle_price.price)
    assert int(ltv * rates.MULTIPLIER) == rates.ltv_bp(debt, collateral, pool.oracle)


def test_an_oracle_prices_only_the_collateral_whose_nft_it_holds() -> None:
    ada_market, usdm_market = api_markets()
    info = (info_record(ADA_POOL.info, "bb#0"), 1)
    nft = nft_of(ADA_POOL)
    same_policy_other_name = Asset(nft.policy, "01")
    two = oracle_record(ADA_POOL.oracle, nft, "cc#0", quantity=2)
    assert two.extra["oracle_nfts"] == []  # the validator wants exactly one
    for record in (oracle_record(ADA_POOL.oracle, same_policy_other_name, "cc#1"), two,
                   oracle_record(USDM_POOL.oracle, nft_of(USDM_POOL), "cc#2")):
        [market] = chain.markets_from_chain([info, (record, 2)], [ada_market])
        assert market.collaterals[0].oracle_price is None
    # No pool_info of the market: nothing says which NFT is its oracle.
    oracle = (oracle_record(ADA_POOL.oracle, nft, "cc#3"), 2)
    assert chain.markets_from_chain([oracle], [ada_market, usdm_market]) == [ada_market,
                                                                              usdm_market]


@pytest.mark.parametrize("updated_at, block_ms, as_of", [
    (1_727_453_227_635, 1_727_453_300_000, 1_727_453_227_635),  # ms, before its block
    (1_727_453_400_000, 1_727_453_300_000, 1_727_453_300_000),  # after its block: the block's
    (1_727_453_227, 1_727_453_300_000, 1_727_453_300_000),  # seconds: the block's time
    (0, 1_727_453_300_000, 1_727_453_300_000),
])
def test_the_oracle_time_is_its_updated_at_never_after_its_block(updated_at: int,
                                                                 block_ms: int,
                                                                 as_of: int) -> None:
    oracle = OracleDatum(ADA_POOL.oracle.price, ADA_POOL.oracle.decimals, updated_at)
    found = [(info_record(ADA_POOL.info, "bb#0"), 1),
             (oracle_record(oracle, nft_of(ADA_POOL), "cc#0"), block_ms)]
    [market] = chain.markets_from_chain(found, [api_markets()[0]])
    assert market.collaterals[0].oracle_price is not None
    assert market.collaterals[0].oracle_price.as_of_ms == as_of


def test_the_newest_oracle_utxo_wins() -> None:
    nft = nft_of(ADA_POOL)
    old, new = OracleDatum(400_000, 1_000_000, 1), OracleDatum(600_000, 1_000_000, 1)
    found = [(oracle_record(new, nft, "dd#0"), 1_780_000_200_000),
             (info_record(ADA_POOL.info, "bb#0"), 1),
             (oracle_record(old, nft, "cc#0"), 1_780_000_100_000)]
    [market] = chain.markets_from_chain(found, [api_markets()[0]])
    assert market.collaterals[0].oracle_price == OraclePrice(Decimal("0.6"), 1_780_000_200_000,
                                                             "surf oracle dd#0")


def test_the_contracts_own_oracle_datum_decodes_to_its_price() -> None:
    """The OracleDatum of flow-lending-smart-contracts @ 110523b1 `validators/pool.ak`'s
    tests (price 500_000, decimals 1_000_000, updated_at 1727453227635 = 2024-09-27
    16:07:07.635 UTC, a Unix time in ms), CBOR written out by hand: constructor 0
    (tag 121), an indefinite list of three unsigned integers."""
    cbor = bytes.fromhex("d8799f" "1a0007a120" "1a000f4240" "1b" + f"{1727453227635:016x}" + "ff")
    nft = nft_of(ADA_POOL)
    record = chain.read_output(BOTH, "ee#0", out(b"\x45" * 28, {(bytes.fromhex(nft.policy),
                                                                 bytes.fromhex(nft.name)): 1},
                                                 cbor), cbor)
    assert record is not None and record.fields == {"price": 500_000, "decimals": 1_000_000,
                                                    "updated_at": 1_727_453_227_635}
    assert record.extra["price"] == Fraction(1, 2) and record.extra["oracle_nfts"] == [str(nft)]
    assert record_json(record)["oracle_nfts"] == [str(nft)]
    [market] = chain.markets_from_chain([(info_record(ADA_POOL.info, "bb#0"), 1),
                                         (record, 1_727_453_300_000)], [api_markets()[0]])
    assert market.collaterals[0].oracle_price == OraclePrice(
        Decimal("0.5"), 1_727_453_227_635, "surf oracle ee#0")


@pytest.mark.parametrize("oracle, collateral_decimals, borrow_decimals, price", [
    (OracleDatum(500_000, 1_000_000, 1), 6, 6, "0.5"),
    (OracleDatum(3_000_000_000, 1_000_000, 1), 0, 6, "0.003"),  # a 0-decimal token, in ADA
    (OracleDatum(454_545, 1_000_000, 1), 6, 6, "0.454545"),
    (OracleDatum(7, 1, 1), 8, 6, "700"),
    (OracleDatum(10**40 + 1, 10**6, 1), 6, 6, "1" + "0" * 33 + "0.000001"),  # 41 digits
    (OracleDatum(1, 10**30, 1), 0, 6, "1E-36"),
])
def test_oracle_prices_are_exact(oracle: OracleDatum, collateral_decimals: int,
                                 borrow_decimals: int, price: str) -> None:
    found = chain.oracle_price_of(oracle, 2_000_000_000_000, "x#0",
                                  collateral_decimals=collateral_decimals,
                                  borrow_decimals=borrow_decimals)
    assert found.price == Decimal(price)
    assert Fraction(found.price) == (Fraction(oracle.price, oracle.decimals)
                                     * Fraction(10) ** (collateral_decimals - borrow_decimals))


def test_a_price_without_a_finite_decimal_form_is_rounded_to_34_digits() -> None:
    found = chain.exact_decimal(Fraction(1, 3))
    assert found == Decimal("0." + "3" * 34)


def test_an_open_loans_debt_now() -> None:
    view = MemoryView()
    view.put(vault_utxo(STUB, POOL.wire_id, VAULT, f"{tx_hex(1)}#0"))
    now = VAULT.start_time + rates.YEAR_MS // 2
    fate = chain.loan_fate(f"{tx_hex(1)}#0", view, now)
    assert (fate.state, fate.current_ref) == ("open", f"{tx_hex(1)}#0")
    assert fate.debt == rates.debt_at(VAULT, now) == 1_044_000_000  # 880 bp a year, half a year
    assert chain.loan_fate(f"{tx_hex(2)}#0", view, now).state == "unknown"


def test_pool_rows_become_markets_with_units_checked() -> None:
    row = STUB.get_all_pool_infos({})["poolInfos"][POOL.wire_id]
    parsed = parse_pool(POOL.wire_id, _decimals(row), 1_800_000_000_000, 2_000_000).market
    assert parsed.market_id == str(INFO.pool_id)
    assert (parsed.borrow_apr, parsed.supply_apy, parsed.utilisation) == (
        Decimal("0.088"), Decimal("0.0539"), Decimal("0.6807"))
    assert parsed.available_liquidity == 4_350_000_000_000 - 2_961_045_000_000
    assert parsed.rate_fixed_at_open and not parsed.partial_repay
    assert parsed.receipt == INFO.ctoken and parsed.fees.batcher_lovelace == 2_000_000
    assert ltv_pair(Decimal("0.5"), Decimal("0.75"), "x") == (Decimal("0.5"), Decimal("0.75"))
    assert ltv_pair(Decimal(50), Decimal(75), "x") == (Decimal("0.5"), Decimal("0.75"))
    assert ltv_pair(Decimal(5000), Decimal(7500), "x") == (Decimal("0.5"), Decimal("0.75"))
    for bad in ((Decimal("0.5"), Decimal(75)), (Decimal("0.8"), Decimal("0.7")),
                (Decimal(0), Decimal("0.7")), (Decimal(50_000), Decimal(75_000))):
        with pytest.raises(MalformedResponse):
            ltv_pair(*bad, "x")
    broken = {**_decimals(row), "borrowApr": Decimal("8.8")}
    rows, problems = parse_pool_infos({"p:0": broken, POOL.wire_id: _decimals(row)}, 1, 1)
    assert len(rows) == 1 and problems == ["pool p:0: surf: poolInfos[p:0].borrowApr: 8.8 is "
                                           "not a yearly fraction"]
    no_decimals = {**_decimals(row), "asset": {"ticker": "X", "policyId": "ab" * 28,
                                               "assetName": ""}}
    with pytest.raises(MalformedResponse, match="refusing to guess"):
        parse_pool("p:0", no_decimals, 1, 1)
    with pytest.raises(MalformedResponse, match="basis points"):
        parse_pool("p:0", {**_decimals(row), "u": 12_000}, 1, 1)
    without_u = {k: v for k, v in _decimals(row).items() if k != "u"}
    assert parse_pool("p:0", without_u, 1, 1).market.utilisation == Decimal("0.6807")


def _decimals(value):  # type: ignore[no-untyped-def]
    """The stub's row as the HTTP client would hand it over (Decimal, never float)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def test_the_networks_files_name_no_blueprint_hash() -> None:
    """The blueprint's hashes are of unapplied validators: never mainnet ids."""
    blueprint = {"8211fb36", "1c929f36", "681b1bd7", "93268c0a", "0ac7cacb", "28a7c939",
                 "65955cf0", "cc13ac61"}
    for network in ("mainnet", "preprod", "preview"):
        book = load_book(network)
        hexes = {h.hex()[:8] for name in ("pool_auth_policies", "vault_auth_policies",
                                          "oracle_policies", "order_scripts", "pool_scripts",
                                          "vault_scripts") for h in getattr(book, name)}
        assert not hexes & blueprint
    assert load_book("mainnet").deployed and not load_book("preprod").deployed
