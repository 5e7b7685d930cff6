"""Column values become plain JSON values."""

from __future__ import annotations

import datetime
import decimal
from typing import Any

import pytest

from cdc.values import to_json_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (7, 7),
        (2**53 - 1, 2**53 - 1),
        (2**53, "9007199254740992"),
        (-(2**63), "-9223372036854775808"),
        (2**64 - 1, "18446744073709551615"),
        ("héllo 😀", "héllo 😀"),
        (1.5, 1.5),
        (decimal.Decimal("12.50"), "12.50"),
        (decimal.Decimal("1E-10"), "0.0000000001"),
        (datetime.timedelta(hours=8, minutes=5, seconds=9), "08:05:09"),
        (datetime.timedelta(seconds=-1), "-00:00:01"),
        (datetime.timedelta(seconds=-1, microseconds=-500000), "-00:00:01.500000"),
        (datetime.timedelta(hours=838, minutes=59, seconds=59), "838:59:59"),
        (datetime.timedelta(days=1, seconds=3600), "25:00:00"),
        (datetime.timedelta(seconds=5, microseconds=250), "00:00:05.000250"),
        (datetime.date(2024, 2, 29), "2024-02-29"),
        (datetime.datetime(2024, 2, 29, 13, 5, 1, 120000), "2024-02-29T13:05:01.120000"),
        (b"\x00\xffab", "AP9hYg=="),
        ({"b", "a"}, ["a", "b"]),
        ({"k": [1, 2]}, {"k": [1, 2]}),
    ],
)
def test_json_value_table(value: Any, expected: Any) -> None:
    assert to_json_value(value) == expected


def test_unknown_type_is_an_error() -> None:
    with pytest.raises(TypeError, match="No JSON form for column value of type object"):
        to_json_value(object())
