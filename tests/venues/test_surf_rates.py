"""Surf's interest model and loan maths, against the validators' integer formulas
(lib/utils.ak and validators/pool.ak, worked by hand below)."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from core.units import ADA, Asset
from protocols.venues.surf import rates
from protocols.venues.surf.datums import (CollateralInfo, OracleDatum, OutRef, PoolDatum,
                                          PoolInfoDatum, VaultDatum)

POOL_ID = OutRef(bytes(32), 1)
SNEK = Asset("aa" * 28, "534e454b")
ORACLE_NFT = Asset("bb" * 28, "4f5241434c45")
# The shape of the contracts' own test pool: kink 80 %, base 2 %, slopes 10 % and 50 %.
INFO = PoolInfoDatum(
    pool_id=POOL_ID, envelope_amount=2_000_000, pool_asset=ADA,
    ctoken=Asset("cc" * 28, "0014df1066414441"), vault_authtoken=Asset("dd" * 28, ""),
    batcher_policy_id=b"\x01" * 28, order_script_hash=b"\x02" * 28,
    vault_script_hash=b"\x03" * 28, pool_stake_key=None, reserve_factor_percentage=1_000,
    collateral_infos=(CollateralInfo(SNEK, ORACLE_NFT, 7_500, 5_000),),
    kink=8_000, base_rate=200, slope_low=1_000, slope_high=5_000)


@pytest.mark.parametrize("u,expected", [
    (0, 200),                       # the base rate
    (5_000, 200 + 500),             # 2 % + 50 % of 10 %
    (7_999, 200 + 799),             # floor(7999 * 1000 / 10000) = 799
    (8_000, 200 + 800),             # at the kink: the upper branch, same value
    (9_000, 200 + 800 + 500),       # + 10 % of 50 %
    (10_000, 200 + 800 + 1_000),
])
def test_kinked_borrow_rate(u: int, expected: int) -> None:
    assert rates.borrow_rate_bp(u, INFO) == expected


def test_rate_for_a_new_loan_uses_floored_utilisation() -> None:
    pool = PoolDatum(POOL_ID, total_supplied=3_000_000, total_borrowed=2_000_000, reserve=0,
                     total_ctoken=3_000_000)
    assert rates.utilisation_bp(2_000_000, 3_000_000) == 6_666
    assert rates.rate_for_new_loan(pool, INFO) == 200 + 666
    assert rates.utilisation(pool) == Fraction(2, 3)
    assert rates.bp(866) == Decimal("0.0866")
    # suppliers: 8.66 % × 2/3 × 90 %
    assert abs(rates.supply_rate(pool, INFO) - Decimal("0.0866") * Decimal(2) / 3
               * Decimal("0.9")) < Decimal("1e-20")
    assert rates.utilisation_bp(5, 0) == 0


def test_debt_grows_in_whole_basis_points_of_simple_interest() -> None:
    vault = VaultDatum(POOL_ID, OutRef(b"\x05" * 32, 0), b"\x06" * 28, None, 1_000, SNEK,
                       interest_rate=500, start_time=1_000_000, principal=100_000_000)
    assert rates.debt_at(vault, 1_000_000) == 100_000_000
    assert rates.debt_at(vault, 0) == 100_000_000  # never before the start
    year = rates.YEAR_MS
    assert rates.debt_at(vault, 1_000_000 + year) == 105_000_000
    # half a year: 250 bp exactly
    assert rates.debt_at(vault, 1_000_000 + year // 2) == 102_500_000
    # 1 ms short of one basis point (year / 500 ms): still no interest
    assert rates.debt_at(vault, 1_000_000 + year // 500 - 1) == 100_000_000
    assert rates.debt_at(vault, 1_000_000 + year // 500) == 100_010_000


def test_ltv_and_health_from_the_oracle() -> None:
    oracle = OracleDatum(price=500_000, decimals=1_000_000, updated_at=0)  # 1 SNEK = 0.5 lovelace
    vault = VaultDatum(POOL_ID, OutRef(b"\x05" * 32, 0), b"\x06" * 28, None,
                       collateral_amount=400, collateral_asset=SNEK, interest_rate=0,
                       start_time=0, principal=100)
    # 100 * 10000 * 1e6 / (400 * 5e5) = 5000 bp
    assert rates.ltv_bp(100, 400, oracle) == 5_000
    health = rates.vault_health(vault, oracle, INFO, at_ms=0)
    assert (health.debt, health.ltv_bp, health.liquidatable) == (100, 5_000, False)
    assert health.health_factor == Fraction(7_500, 5_000)
    assert health.ltv == Fraction(1, 2)
    assert rates.collateral_value(400, oracle) == 200
    worse = rates.vault_health(vault, OracleDatum(333_333, 1_000_000, 0), INFO, at_ms=0)
    assert worse.ltv_bp == 7_500 and worse.liquidatable  # at the threshold: liquidatable
    with pytest.raises(ValueError, match="without collateral"):
        rates.ltv_bp(1, 0, oracle)
    with pytest.raises(ValueError, match="takes no"):
        rates.vault_health(VaultDatum(POOL_ID, POOL_ID, b"\x06" * 28, None, 1, ADA, 0, 0, 1),
                           oracle, INFO, 0)


def test_ctoken_rate_and_the_pool_validators_own_roundings() -> None:
    pool = PoolDatum(POOL_ID, total_supplied=195_311_696, total_borrowed=0, reserve=0,
                     total_ctoken=185_924_576)
    rate = rates.ctoken_rate(pool)
    assert rate.underlying_per_receipt == Fraction(195_311_696, 185_924_576)
    assert rate.source == "chain"
    assert rates.withdraw_payment(pool, 185_924_576) == 195_311_696
    assert rates.ctokens_for_deposit(pool, 10_000_000) == 10_000_000 * 185_924_576 // 195_311_696
    assert rate.underlying(185_924_576) == 195_311_696
    empty = PoolDatum(POOL_ID, 0, 0, 0, 0)
    assert rates.ctoken_rate(empty).underlying_per_receipt == 1  # first deposit mints 1:1
    assert rates.ctokens_for_deposit(empty, 7) == 7
    with pytest.raises(ValueError):
        rates.withdraw_payment(empty, 1)
    with pytest.raises(ValueError):
        rates.ctoken_rate(PoolDatum(POOL_ID, 0, 0, 0, 5))
    assert rates.available_liquidity(PoolDatum(POOL_ID, 10, 12, 0, 10)) == 0
    assert rates.available_liquidity(PoolDatum(POOL_ID, 10, 4, 0, 10)) == 6
