"""Units in one place: exact conversions, and a refusal (never a guess) when decimals or an
exchange rate are unknown."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.units import (ADA, Asset, ReceiptRate, Token, UnitError, decimals_of, require_rate,
                        to_base, to_display)

SNEK = Asset("279c909f348e533da5808898f87f9a14bb2c3dfbbacccd631d927a3f", "534e454b")


def test_display_and_base_units_are_exact():
    assert to_base("12.5", 6) == 12_500_000
    assert to_base(Decimal("1"), 0) == 1
    assert to_display(12_500_000, 6) == Decimal("12.5")
    with pytest.raises(UnitError, match="more than 0 decimals"):
        to_base("1.5", 0)  # a fraction of a base unit is refused, not rounded away
    with pytest.raises(UnitError, match="not a finite"):
        to_base(Decimal("NaN"), 6)


def test_unknown_decimals_refuse_instead_of_assuming_six():
    with pytest.raises(UnitError, match="decimals unknown"):
        to_base("1", None)
    with pytest.raises(UnitError, match="decimals unknown"):
        to_display(1, None)
    with pytest.raises(UnitError, match="refusing to guess"):
        decimals_of(SNEK, {})
    assert decimals_of(SNEK, {SNEK: 0}) == 0
    assert decimals_of(ADA, {}) == 6  # lovelace: the ledger's, not an assumption
    with pytest.raises(UnitError):
        Token(SNEK, -1)


def test_a_missing_exchange_rate_refuses_instead_of_one_to_one():
    with pytest.raises(UnitError, match="1:1"):
        require_rate(None, "qADA")
    with pytest.raises(UnitError):
        ReceiptRate(Fraction(0), "chain")


def test_qtoken_arithmetic_of_a_real_supply():
    # Liqwid supply tx 08b82a63 (lending.md §1.2): 40 875 220 504 lovelace minted
    # 1 935 750 709 614 qADA at the rate 33 220 771 660 819 / 1 573 254 688 866 635.
    rate = ReceiptRate(Fraction(33_220_771_660_819, 1_573_254_688_866_635), "chain")
    assert rate.receipts_for_deposit(40_875_220_504) == 1_935_750_709_614
    assert rate.underlying(1_935_750_709_614) <= 40_875_220_504


@given(st.integers(1, 10**15), st.integers(1, 10**15), st.integers(0, 10**15))
def test_receipts_never_short_the_venue(num, den, underlying):
    rate = ReceiptRate(Fraction(num, den), "api")
    burn = rate.receipts_to_burn(underlying)
    assert rate.underlying(burn) >= underlying  # burning this many is always enough
    assert burn == 0 or rate.underlying(burn - 1) < underlying  # and no more than needed
    minted = rate.receipts_for_deposit(underlying)
    assert rate.underlying(minted) <= underlying  # a deposit never redeems for more


@given(st.integers(0, 2**64 - 1), st.integers(0, 18))
def test_display_round_trips(base, decimals):
    assert to_base(to_display(base, decimals), decimals) == base


def test_asset_units():
    assert Asset.from_unit("lovelace") is ADA or Asset.from_unit("lovelace") == ADA
    assert Asset.from_unit(SNEK.unit) == SNEK
    assert Asset.from_unit(f"{SNEK.policy}.{SNEK.name}") == SNEK
    for bad in ("zz" * 28, "ab" * 27, SNEK.policy + "abc"):
        with pytest.raises(UnitError):
            Asset.from_unit(bad)
