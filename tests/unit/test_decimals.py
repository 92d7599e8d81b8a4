"""core/decimals.py: the one reader of a finite Decimal from text (the CLI, the stored
market documents, store/codec.py)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from core.decimals import NotFinite, finite_decimal


def test_a_number_reads_exactly() -> None:
    assert finite_decimal("0.1") == Decimal("0.1")
    assert str(finite_decimal("-1.50")) == "-1.50"  # the scale is kept
    assert finite_decimal("1e-9") == Decimal("0.000000001")


@pytest.mark.parametrize("text", ["Infinity", "-inf", "NaN", "sNaN"])
def test_an_infinity_or_nan_is_a_number_but_refused(text: str) -> None:
    with pytest.raises(NotFinite, match="not a finite number"):
        finite_decimal(text)


@pytest.mark.parametrize("text", ["x", "", "1,5", "0x10"])
def test_what_is_no_number_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a number") as raised:
        finite_decimal(text)
    assert not isinstance(raised.value, NotFinite)
