"""Turn the Python values that PyMySQL and mysql-replication return into JSON values."""

from __future__ import annotations

import base64
import datetime
import decimal
from typing import Any

# Integers beyond this lose precision in a JavaScript number, so they are sent as strings.
MAX_SAFE_INTEGER = 2**53 - 1


def to_json_value(value: Any) -> Any:
    """Convert one column value to the JSON form rowcast sends."""
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, datetime.timedelta):
        return format_time(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (list, dict)):
        return value
    raise TypeError(f"No JSON form for column value of type {type(value).__name__}")


def to_json_row(row: dict[str, Any]) -> dict[str, Any]:
    """Convert every value of a row image."""
    return {name: to_json_value(value) for name, value in row.items()}


def format_time(value: datetime.timedelta) -> str:
    """Format a TIME value as [-]HH:MM:SS[.ffffff]; hours may exceed 24."""
    total_us = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    seconds, micros = divmod(total_us, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    if micros:
        text += f".{micros:06d}"
    return text
