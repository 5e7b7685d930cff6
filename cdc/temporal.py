"""JSON forms of DATE, DATETIME, TIMESTAMP and TIME values, and the binlog's TIME encodings.

Fractions get exactly the digits the column declares, as SELECT shows them. A
date with a zero year, month or day (`0000-00-00`, `2024-00-10`) is not a
calendar date and becomes None; so does the zero TIMESTAMP.
"""

from __future__ import annotations

# Offsets of the TIME2 encoding (MySQL sql-common/my_time.cc), which MySQL 5.6+
# and MariaDB with mysql56_temporal_format=ON, its default, write.
_TIMEF_INT_OFS = 0x800000
_TIMEF_OFS = 0x800000000000
# DATETIME2 stores its 40-bit value with this added, so that stored bytes sort in time order.
DATETIME2_OFFSET = 0x8000000000


def fraction_text(micros: int, fsp: int) -> str:
    """Return `.` and the first fsp digits of the microseconds, or "" for fsp 0."""
    if fsp <= 0:
        return ""
    return "." + f"{micros:06d}"[:fsp]


def time_text(packed: int, fsp: int) -> str:
    """Format a TIME from its packed integer form as [-]HH:MM:SS with fsp fraction digits.

    The packed form is the one of MySQL's TIME_to_longlong_time_packed: the sign,
    and (hours << 36 | minutes << 30 | seconds << 24) + microseconds.
    """
    sign = "-" if packed < 0 else ""
    magnitude = abs(packed)
    clock = magnitude >> 24
    hours = (clock >> 12) % (1 << 10)
    minutes = (clock >> 6) % (1 << 6)
    seconds = clock % (1 << 6)
    micros = magnitude % (1 << 24)
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}" + fraction_text(micros, fsp)


def time2_packed(stored: int, fsp: int) -> int:
    """Decode a TIME2 value, given as its big-endian stored bytes read as one integer.

    This mirrors my_time_packed_from_binary in MySQL's sql-common/my_time.cc. A
    negative value with a fraction of 1 to 4 digits keeps its fraction as the
    complement of the next whole second, so the stored bytes sort in time
    order. mysql-replication 1.0.17 reads that fraction as positive, and for 5
    or 6 digits splits the 48-bit value in two, so -00:00:00.001 comes out as
    -00:00:00.999. The binlog reader reads these bytes raw and decodes them here.
    """
    if fsp in (1, 2):
        whole, fraction, fraction_range, unit = stored >> 8, stored & 0xFF, 0x100, 10_000
    elif fsp in (3, 4):
        whole, fraction, fraction_range, unit = stored >> 16, stored & 0xFFFF, 0x10000, 100
    elif fsp in (5, 6):
        return stored - _TIMEF_OFS
    else:
        return (stored - _TIMEF_INT_OFS) << 24
    whole -= _TIMEF_INT_OFS
    if whole < 0 and fraction:
        whole += 1
        fraction -= fraction_range
    return (whole << 24) + fraction * unit


def time2_size(fsp: int) -> int:
    """Return the bytes of a TIME2 value: 3 for the clock, plus 1 per 2 fraction digits."""
    return 3 + (max(fsp, 0) + 1) // 2


def old_time_packed(stored: int) -> int:
    """Decode a pre-5.6 TIME value, a signed little-endian 3-byte HHMMSS number, to packed form.

    mysql-replication reads it unsigned, so a negative TIME comes out wrong.
    """
    sign = -1 if stored < 0 else 1
    hours, rest = divmod(abs(stored), 10_000)
    minutes, seconds = divmod(rest, 100)
    return sign * (((hours << 12) | (minutes << 6) | seconds) << 24)


def select_date_text(text: str) -> str | None:
    """Return a DATE as SELECT prints it, or None when a part of it is zero."""
    year, month, day = text[0:4], text[5:7], text[8:10]
    if year == "0000" or month == "00" or day == "00":
        return None
    return text


def select_datetime_text(text: str) -> str | None:
    """Turn SELECT's `YYYY-MM-DD HH:MM:SS[.f]` into the ISO form; None for a zero date part."""
    if select_date_text(text) is None:
        return None
    return text.replace(" ", "T", 1)


def select_timestamp_text(text: str) -> str | None:
    """Turn a TIMESTAMP that SELECT printed in UTC into the ISO form with Z; None for zero."""
    iso = select_datetime_text(text)
    return None if iso is None else iso + "Z"
