"""Decode the stored bytes of one column of a binlog row image into its JSON value.

A decoder is chosen once per table map from the column's metadata: type,
signedness, fraction digits, character set and labels. It reads the value at
an offset of the row event's bytes and returns the JSON value and the offset
after it. The formats are those of MySQL's libbinlogevents (the value layouts
of Rows_event) and MariaDB's sql/log_event.cc, which agree on every type here.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymysqlreplication.json_binary import parse_json

from cdc.charsets import text_decoder
from cdc.refused import BinlogRefused
from cdc.temporal import (
    DATETIME2_OFFSET,
    fraction_text,
    old_time_packed,
    time2_packed,
    time2_size,
    time_text,
)
from cdc.values import (
    MAX_SAFE_INTEGER,
    base64_text,
    float32_number,
    float64_number,
    inet4_text,
    inet6_text,
    json_document,
    uuid_text,
)

# Reads one non-NULL value at an offset: (event bytes, offset) -> (JSON value, next offset).
Decode = Callable[[bytes, int], tuple[Any, int]]


class FieldType(enum.IntEnum):
    """Column types of the table map event (MySQL include/field_types.h, enum_field_types)."""

    TINY = 1
    SHORT = 2
    LONG = 3
    FLOAT = 4
    DOUBLE = 5
    TIMESTAMP = 7
    LONGLONG = 8
    INT24 = 9
    DATE = 10
    TIME = 11
    DATETIME = 12
    YEAR = 13
    VARCHAR = 15
    BIT = 16
    TIMESTAMP2 = 17
    DATETIME2 = 18
    TIME2 = 19
    JSON = 245
    NEWDECIMAL = 246
    ENUM = 247
    SET = 248
    BLOB = 252
    VAR_STRING = 253
    STRING = 254
    GEOMETRY = 255


INTEGER_TYPES = frozenset(
    {FieldType.TINY, FieldType.SHORT, FieldType.INT24, FieldType.LONG, FieldType.LONGLONG}
)
STRING_TYPES = frozenset(
    {FieldType.STRING, FieldType.VAR_STRING, FieldType.VARCHAR, FieldType.BLOB}
)
# MariaDB writes UUID, INET4 and INET6 columns into the table map as BINARY(16),
# BINARY(4) and BINARY(16) (MariaDB test binlog_table_map_optional_metadata_type_inet6).
MARIADB_BINARY_TYPE_LENGTHS = {"uuid": 16, "inet4": 4, "inet6": 16}


class ColumnNotDecodable(BinlogRefused):
    """A column's values cannot be turned into JSON faithfully, such as text in an unknown character set.

    Reading the binlog again gives the same bytes, so the reader stops with
    this error instead of reconnecting.
    """


@dataclass(frozen=True)
class ColumnSpec:
    """The metadata of one table map column that its decoder needs."""

    name: str
    type: int
    # Digits of the fraction of seconds: TIME2, DATETIME2 and TIMESTAMP2.
    fsp: int = 0
    # Character set of text, ENUM and SET columns; "binary" for binary strings.
    charset: str | None = None
    # Bytes of a fixed-length string type, or of an ENUM index or SET bitmask;
    # the declared byte length of CHAR, VARCHAR and BINARY columns.
    length: int = 0
    labels: tuple[str, ...] = ()
    # MariaDB's own type name for BINARY(16) or BINARY(4) columns: uuid, inet4 or inet6.
    sql_type: str | None = None
    unsigned: bool = False
    # NEWDECIMAL precision and scale, as (digits, fraction digits).
    precision: int = 0
    scale: int = 0
    # Bytes of the length prefix of BLOB, TEXT, JSON and GEOMETRY values.
    prefix_size: int = 0
    # BIT columns: bytes of the stored value.
    bit_bytes: int = 0


def column_decoder(spec: ColumnSpec, qualified: str) -> Decode:
    """Return the function that decodes non-NULL values of a column; qualified is `db.table`."""
    column = f"{qualified}.{spec.name}"
    field_type = spec.type
    if field_type in INTEGER_TYPES:
        return _integer_decoder(field_type, spec.unsigned)
    builder = _BUILDERS.get(field_type)
    if builder is not None:
        return builder(spec, column)
    raise ColumnNotDecodable(
        f"Column {column} has binlog type {field_type}, which rowcast cannot decode. "
        "Exclude the table from --tables, or change the column's type."
    )


@dataclass(frozen=True)
class FixedValue:
    """A value that generated code can read inline: a struct field, or a 1-byte ENUM index."""

    size: int
    # Reads the value with struct, for TINYINT, SMALLINT and INT.
    unpack_from: Callable[[bytes, int], tuple[Any, ...]] | None = None
    # Maps the stored byte to its label, for ENUMs of up to 255 labels.
    labels: tuple[str, ...] = ()


def fixed_value(spec: ColumnSpec) -> FixedValue | None:
    """Return how to read a column inline, or None when only its decoder can read it."""
    if spec.type in (FieldType.TINY, FieldType.SHORT, FieldType.LONG):
        layout = _INTEGER_FORMATS[(FieldType(spec.type), spec.unsigned)]
        return FixedValue(struct.calcsize(layout), struct.Struct(layout).unpack_from)
    if spec.type == FieldType.ENUM and spec.length == 1:
        return FixedValue(1, labels=("", *spec.labels))
    return None


_INTEGER_FORMATS = {
    (FieldType.TINY, False): "<b", (FieldType.TINY, True): "<B",
    (FieldType.SHORT, False): "<h", (FieldType.SHORT, True): "<H",
    (FieldType.LONG, False): "<i", (FieldType.LONG, True): "<I",
    (FieldType.LONGLONG, False): "<q", (FieldType.LONGLONG, True): "<Q",
}


def _integer_decoder(field_type: int, unsigned: bool) -> Decode:
    if field_type == FieldType.INT24:
        signed = not unsigned

        def int24(data: bytes, offset: int) -> tuple[Any, int]:
            end = offset + 3
            return int.from_bytes(data[offset:end], "little", signed=signed), end

        return int24
    unpack = struct.Struct(_INTEGER_FORMATS[(FieldType(field_type), unsigned)]).unpack_from
    size = struct.calcsize(_INTEGER_FORMATS[(FieldType(field_type), unsigned)])
    if field_type != FieldType.LONGLONG:

        def small(data: bytes, offset: int) -> tuple[Any, int]:
            return unpack(data, offset)[0], offset + size

        return small

    def big(data: bytes, offset: int) -> tuple[Any, int]:
        # Integers beyond ±(2^53−1) would lose digits in a JavaScript number.
        value = unpack(data, offset)[0]
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value, offset + 8
        return str(value), offset + 8

    return big


def _float(spec: ColumnSpec, column: str) -> Decode:
    unpack = struct.Struct("<f").unpack_from
    return lambda data, offset: (float32_number(unpack(data, offset)[0]), offset + 4)


def _double(spec: ColumnSpec, column: str) -> Decode:
    unpack = struct.Struct("<d").unpack_from
    return lambda data, offset: (float64_number(unpack(data, offset)[0]), offset + 8)


def _year(spec: ColumnSpec, column: str) -> Decode:
    # The binlog stores a YEAR as its offset from 1900, and 0000 as 0.
    return lambda data, offset: (data[offset] + 1900 if data[offset] else 0, offset + 1)


def _bit(spec: ColumnSpec, column: str) -> Decode:
    size = spec.bit_bytes

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        end = offset + size
        value = int.from_bytes(data[offset:end], "big")
        return (value if value <= MAX_SAFE_INTEGER else str(value)), end

    return decode


# Bytes that hold 0 to 9 leftover decimal digits (MySQL strings/decimal.cc, dig2bytes).
_DIGIT_BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_DIGITS_PER_WORD = 9


def _decimal(spec: ColumnSpec, column: str) -> Decode:
    """DECIMAL in MySQL's binary form (decimal2bin), rendered as exact plain text.

    Whole digits are stored from the left in groups of 9 (4 bytes each), and
    the leftover leading digits take fewer bytes. Fraction digits are stored
    the same way from the point. The first bit is the sign, set for
    non-negative values, and a negative value has all bits inverted.
    """
    scale = spec.scale
    whole_digits = spec.precision - scale
    whole_words, whole_left = divmod(whole_digits, _DIGITS_PER_WORD)
    fraction_words, fraction_left = divmod(scale, _DIGITS_PER_WORD)
    groups: list[tuple[int, int]] = []
    if whole_left:
        groups.append((_DIGIT_BYTES[whole_left], whole_left))
    groups += [(4, _DIGITS_PER_WORD)] * whole_words
    whole_groups = len(groups)
    groups += [(4, _DIGITS_PER_WORD)] * fraction_words
    if fraction_left:
        groups.append((_DIGIT_BYTES[fraction_left], fraction_left))
    size = sum(group_size for group_size, _ in groups)

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        end = offset + size
        raw = bytearray(data[offset:end])
        negative = not raw[0] & 0x80
        raw[0] ^= 0x80
        if negative:
            raw = bytearray(byte ^ 0xFF for byte in raw)
        parts = []
        position = 0
        for group_size, digits in groups:
            value = int.from_bytes(raw[position:position + group_size], "big")
            parts.append(f"{value:0{digits}d}")
            position += group_size
        whole = "".join(parts[:whole_groups]).lstrip("0") or "0"
        fraction = "".join(parts[whole_groups:])
        text = f"{whole}.{fraction}" if scale else whole
        if negative and text.strip("0.") != "":
            # A sign on zero means nothing in SQL; SELECT shows 0.00, not -0.00.
            text = "-" + text
        return text, end

    return decode


# Texts kept per temporal column; beyond this the cache starts over.
_MAX_CACHED_VALUES = 4096


def _cached(size: int, render: Callable[[bytes], Any]) -> Decode:
    """Return a decoder of a fixed-size value that renders each distinct stored value once.

    Times and dates repeat a lot in a stream of changes (a status update
    rewrites the same timestamps), and a dictionary lookup costs less than
    formatting the text again.
    """
    cache: dict[bytes, Any] = {}

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        end = offset + size
        raw = data[offset:end]
        try:
            return cache[raw], end
        except KeyError:
            if len(cache) >= _MAX_CACHED_VALUES:
                cache.clear()
            value = cache[raw] = render(raw)
            return value, end

    return decode


def _date(spec: ColumnSpec, column: str) -> Decode:
    def render(raw: bytes) -> Any:
        value = int.from_bytes(raw, "little")
        day, month, year = value & 31, value >> 5 & 15, value >> 9
        if not (year and month and day):
            return None
        return f"{year:04d}-{month:02d}-{day:02d}"

    return _cached(3, render)


def _fraction_reader(fsp: int) -> tuple[int, int]:
    """Return the bytes of a stored fraction and the microseconds one unit of it is worth."""
    if fsp <= 0:
        return 0, 0
    size = (fsp + 1) // 2
    return size, 10 ** (6 - 2 * size)


def _datetime2(spec: ColumnSpec, column: str) -> Decode:
    fsp = spec.fsp
    fraction_size, fraction_unit = _fraction_reader(fsp)

    def render(raw: bytes) -> Any:
        value = int.from_bytes(raw[:5], "big") - DATETIME2_OFFSET
        date, clock = value >> 17, value & 0x1FFFF
        year_month, day = date >> 5, date & 31
        year, month = divmod(year_month, 13)
        if not (year and month and day):
            return None
        micros = int.from_bytes(raw[5:], "big") * fraction_unit
        return (
            f"{year:04d}-{month:02d}-{day:02d}T{clock >> 12:02d}:{clock >> 6 & 63:02d}:"
            f"{clock & 63:02d}{fraction_text(micros, fsp)}"
        )

    return _cached(5 + fraction_size, render)


def _datetime(spec: ColumnSpec, column: str) -> Decode:
    # Before MySQL 5.6 a DATETIME is the number YYYYMMDDhhmmss in 8 bytes.
    def render(raw: bytes) -> Any:
        date, clock = divmod(int.from_bytes(raw, "little"), 1_000_000)
        year, month, day = date // 10_000, date // 100 % 100, date % 100
        if not (year and month and day):
            return None
        hours, minutes, seconds = clock // 10_000, clock // 100 % 100, clock % 100
        return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}"

    return _cached(8, render)


def _timestamp_text(seconds: int, micros: int, fsp: int) -> str | None:
    # The zero TIMESTAMP is stored as 0; no valid TIMESTAMP falls on the epoch itself.
    if seconds == 0 and micros == 0:
        return None
    days, clock = divmod(seconds, 86_400)
    year, month, day = _civil_from_days(days)
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{clock // 3600:02d}:{clock // 60 % 60:02d}:"
        f"{clock % 60:02d}{fraction_text(micros, fsp)}Z"
    )


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Return the proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's algorithm)."""
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524
                   - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + 3 if month_index < 10 else month_index - 9
    year = year_of_era + era * 400 + (month <= 2)
    return year, month, day


def _timestamp2(spec: ColumnSpec, column: str) -> Decode:
    fsp = spec.fsp
    fraction_size, fraction_unit = _fraction_reader(fsp)

    def render(raw: bytes) -> Any:
        micros = int.from_bytes(raw[4:], "big") * fraction_unit
        return _timestamp_text(int.from_bytes(raw[:4], "big"), micros, fsp)

    return _cached(4 + fraction_size, render)


def _timestamp(spec: ColumnSpec, column: str) -> Decode:
    return _cached(4, lambda raw: _timestamp_text(int.from_bytes(raw, "little"), 0, 0))


def _time2(spec: ColumnSpec, column: str) -> Decode:
    fsp = spec.fsp
    return _cached(time2_size(fsp),
                   lambda raw: time_text(time2_packed(int.from_bytes(raw, "big"), fsp), fsp))


def _time(spec: ColumnSpec, column: str) -> Decode:
    return _cached(3, lambda raw: time_text(
        old_time_packed(int.from_bytes(raw, "little", signed=True)), 0))


def _enum(spec: ColumnSpec, column: str) -> Decode:
    # Index 0 is the empty string that MySQL stores for an invalid value
    # outside strict mode; SELECT shows it as ''.
    labels = ("", *spec.labels)
    size = spec.length

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        end = offset + size
        index = data[offset] if size == 1 else int.from_bytes(data[offset:end], "little")
        return labels[index], end

    return decode


def _set(spec: ColumnSpec, column: str) -> Decode:
    labels = spec.labels
    size = spec.length

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        end = offset + size
        mask = int.from_bytes(data[offset:end], "little")
        return [label for index, label in enumerate(labels) if mask >> index & 1], end

    return decode


def _length_prefixed(prefix_size: int) -> Callable[[bytes, int], tuple[bytes, int]]:
    """Return a reader of a value with a little-endian length prefix of prefix_size bytes."""
    if prefix_size == 1:

        def short(data: bytes, offset: int) -> tuple[bytes, int]:
            start = offset + 1
            end = start + data[offset]
            return data[start:end], end

        return short

    def long(data: bytes, offset: int) -> tuple[bytes, int]:
        start = offset + prefix_size
        end = start + int.from_bytes(data[offset:start], "little")
        return data[start:end], end

    return long


def _string_prefix_size(spec: ColumnSpec) -> int:
    if spec.type in (FieldType.BLOB, FieldType.GEOMETRY, FieldType.JSON):
        return spec.prefix_size
    # CHAR, BINARY and VARCHAR values have a 1-byte length up to 255 declared bytes, else 2.
    return 1 if spec.length < 256 else 2


def _string(spec: ColumnSpec, column: str) -> Decode:
    read = _length_prefixed(_string_prefix_size(spec))
    if spec.charset == "binary":
        return _binary(spec, read)
    decode_text = text_decoder(spec.charset) if spec.charset else None
    if decode_text is None:
        raise ColumnNotDecodable(
            f"Column {column} uses the character set {spec.charset or 'with an unknown id'}, "
            "which rowcast cannot decode. Convert the column to utf8mb4 "
            "(ALTER TABLE ... CONVERT TO CHARACTER SET utf8mb4), or exclude the table from --tables."
        )
    charset = spec.charset

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        raw, end = read(data, offset)
        try:
            return decode_text(raw), end
        except UnicodeDecodeError as error:
            raise ColumnNotDecodable(
                f"Column {column} contains bytes that are invalid in its character set "
                f"{charset} ({error.reason} at byte {error.start}). Check the stored values "
                "of that column, or exclude the table from --tables."
            ) from None

    return decode


def _binary(spec: ColumnSpec, read: Callable[[bytes, int], tuple[bytes, int]]) -> Decode:
    # Row images store BINARY(n) without its trailing zero bytes, and SELECT
    # returns all n bytes; padding restores them. VARBINARY and BLOB keep their length.
    length = spec.length if spec.type == FieldType.STRING else 0
    formats: dict[str | None, Callable[[bytes], str]] = {
        "uuid": uuid_text, "inet4": inet4_text, "inet6": inet6_text,
    }
    format_binary = formats.get(spec.sql_type, base64_text)

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        raw, end = read(data, offset)
        return format_binary(raw.ljust(length, b"\0")), end

    return decode


def _geometry(spec: ColumnSpec, column: str) -> Decode:
    read = _length_prefixed(spec.prefix_size)

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        raw, end = read(data, offset)
        return base64_text(raw), end

    return decode


def _json(spec: ColumnSpec, column: str) -> Decode:
    # MySQL's binary JSON; mysql-replication parses the document (json_binary.py).
    read = _length_prefixed(spec.prefix_size)

    def decode(data: bytes, offset: int) -> tuple[Any, int]:
        raw, end = read(data, offset)
        if not raw:
            return None, end
        return json_document(parse_json(raw[0], raw[1:])), end

    return decode


_BUILDERS: dict[int, Callable[[ColumnSpec, str], Decode]] = {
    FieldType.FLOAT: _float,
    FieldType.DOUBLE: _double,
    FieldType.YEAR: _year,
    FieldType.BIT: _bit,
    FieldType.NEWDECIMAL: _decimal,
    FieldType.DATE: _date,
    FieldType.DATETIME2: _datetime2,
    FieldType.DATETIME: _datetime,
    FieldType.TIMESTAMP2: _timestamp2,
    FieldType.TIMESTAMP: _timestamp,
    FieldType.TIME2: _time2,
    FieldType.TIME: _time,
    FieldType.ENUM: _enum,
    FieldType.SET: _set,
    FieldType.STRING: _string,
    FieldType.VAR_STRING: _string,
    FieldType.VARCHAR: _string,
    FieldType.BLOB: _string,
    FieldType.GEOMETRY: _geometry,
    FieldType.JSON: _json,
}
