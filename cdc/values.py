"""JSON forms of column values, shared by binlog row images and snapshot rows.

Binlog rows and snapshot rows reach these functions in different Python types
(decoded binlog values, SELECT result text), and both must render a column
value the same way. cdc/columns.py and cdc/result_columns.py pick the function
for each column from its type.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import struct
from typing import Any

# Integers beyond this lose precision in a JavaScript number, so they are sent as strings.
MAX_SAFE_INTEGER = 2**53 - 1

# A single-precision float needs at most 9 significant digits to read back exactly (IEEE 754).
_FLOAT32_MAX_DIGITS = 9


def json_integer(value: int) -> int | str:
    """Return an integer as a JSON number, or as a string of digits beyond ±(2^53−1)."""
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)


def decimal_text(value: decimal.Decimal) -> str:
    """Format a DECIMAL exactly in plain notation, keeping its scale: `0.0000000001`, `-0.05`."""
    if value.is_zero():
        # A sign on zero means nothing in SQL; SELECT shows 0.00, not -0.00.
        value = value.copy_abs()
    return format(value, "f")


def float32_number(value: float) -> float:
    """Return the shortest decimal that reads back as the same single-precision FLOAT.

    The binlog and `CAST(column AS DOUBLE)` both give the exact single value as
    a double, such as 0.10000000149011612 for FLOAT 0.1. This returns 0.1.
    """
    if value == 0:
        return 0.0
    for digits in range(1, _FLOAT32_MAX_DIGITS + 1):
        candidate = float(f"{value:.{digits}g}")
        try:
            if struct.unpack("<f", struct.pack("<f", candidate))[0] == value:
                return candidate
        except OverflowError:
            # Rounding near the FLOAT maximum went past it; try more digits.
            continue
    return value


def float64_number(value: float) -> float:
    """Return a DOUBLE as a JSON number; -0.0 becomes 0.0, as SELECT shows it."""
    return 0.0 if value == 0 else value


def base64_text(value: bytes) -> str:
    """Encode binary column bytes as base64."""
    return base64.b64encode(value).decode("ascii")


def uuid_text(raw: bytes) -> str:
    """Format a MariaDB UUID from its 16 bytes in text order, as SELECT shows it."""
    hexadecimal = raw.hex()
    return "-".join(
        (hexadecimal[0:8], hexadecimal[8:12], hexadecimal[12:16], hexadecimal[16:20], hexadecimal[20:])
    )


def inet4_text(raw: bytes) -> str:
    """Format a MariaDB INET4 from its 4 bytes."""
    return ".".join(str(byte) for byte in raw)


def inet6_text(raw: bytes) -> str:
    """Format a MariaDB INET6 from its 16 bytes the way the server does.

    This follows `Inet6::to_string` in MariaDB's plugin/type_inet/sql_type_inet.cc:
    the first longest run of zero groups becomes `::`, even a run of one group,
    and an IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d) address
    ends in dotted decimal. Python's ipaddress and glibc's inet_ntop differ on
    some of these.
    """
    groups = [int.from_bytes(raw[index:index + 2], "big") for index in range(0, 16, 2)]
    gap_start, gap_length = _longest_zero_run(groups)
    if gap_start == 0 and (gap_length == 6 or (gap_length == 5 and groups[5] == 0xFFFF)):
        prefix = "::" if gap_length == 6 else "::ffff:"
        return prefix + inet4_text(raw[12:])
    if gap_length == 0:
        return ":".join(f"{group:x}" for group in groups)
    head = ":".join(f"{group:x}" for group in groups[:gap_start])
    tail = ":".join(f"{group:x}" for group in groups[gap_start + gap_length:])
    return f"{head}::{tail}"


def _longest_zero_run(groups: list[int]) -> tuple[int, int]:
    best_start, best_length = 0, 0
    start = None
    for index, group in enumerate([*groups, 1]):
        if group == 0 and start is None:
            start = index
        elif group != 0 and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None
    return best_start, best_length


def json_document(value: Any) -> Any:
    """Turn a MySQL binary JSON value, as mysql-replication parses it, into plain JSON.

    The library returns object keys and strings as bytes, and DECIMAL, DATE,
    DATETIME and TIME scalars as Python objects.
    NOTE: not yet run against MySQL, because the tests here have no MySQL
    server. The temporal forms follow MySQL's JSON text, with 6 fraction digits.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {json_document(key): json_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_document(item) for item in value]
    if isinstance(value, decimal.Decimal):
        # SELECT prints the decimal as a JSON number, which a client reads as a double.
        return float(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M:%S.%f")
    return value


def to_json_value(value: Any) -> Any:
    """Convert one Python value of unknown column type to the JSON form rowcast sends.

    Used where no column type is known; column-aware renderers in cdc/columns.py
    and cdc/result_columns.py take precedence for row images and snapshots.
    """
    if value is None or isinstance(value, (bool, str, float)):
        return value
    if isinstance(value, int):
        return json_integer(value)
    if isinstance(value, datetime.timedelta):
        return format_time(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return decimal_text(value)
    if isinstance(value, (bytes, bytearray)):
        return base64_text(bytes(value))
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, (list, dict)):
        return value
    raise TypeError(f"No JSON form for column value of type {type(value).__name__}")


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
