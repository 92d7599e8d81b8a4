from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from store.codec import (U64_MAX, EncodingError, decode_decimal, decode_time, decode_u64,
                         encode_decimal, encode_time, encode_u64)

u64 = st.integers(min_value=0, max_value=U64_MAX)


@given(u64)
def test_u64_round_trips(n):
    assert decode_u64(encode_u64(n)) == n
    assert len(encode_u64(n)) == 20


@given(u64, u64)
def test_u64_string_order_is_numeric_order(a, b):
    assert (encode_u64(a) < encode_u64(b)) == (a < b)


@pytest.mark.parametrize("bad", [-1, U64_MAX + 1, True, 1.0, "1", None])
def test_u64_rejects_what_is_not_a_quantity(bad):
    with pytest.raises(EncodingError):
        encode_u64(bad)


@pytest.mark.parametrize("bad", ["1", "x" * 20, "99999999999999999999", 5, "-0000000000000000001"])
def test_u64_decode_rejects_corrupt_values(bad):
    with pytest.raises(EncodingError):
        decode_u64(bad)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_round_trips_exactly(d):
    back = decode_decimal(encode_decimal(d))
    assert back == d and str(back) == str(d)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), 1.5, 2])
def test_decimal_rejects_non_finite_and_floats(bad):
    with pytest.raises(EncodingError):
        encode_decimal(bad)


@pytest.mark.parametrize("bad", ["abc", "NaN", 1])
def test_decimal_decode_rejects_corrupt_values(bad):
    with pytest.raises(EncodingError):
        decode_decimal(bad)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.just(timezone.utc)))
def test_time_round_trips_to_the_millisecond(moment):
    back = decode_time(encode_time(moment))
    assert back == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert back.tzinfo is not None


@pytest.mark.parametrize("bad", [datetime(2026, 1, 1), "2026-01-01", 5])
def test_time_rejects_naive_and_non_datetimes(bad):
    with pytest.raises(EncodingError):
        encode_time(bad)
