"""Render the values of binlog row images as JSON, one renderer per column.

A renderer is chosen once per table map from the column's metadata: type,
signedness, fraction digits, character set and labels. It takes the value as
mysql-replication returns it after cdc/binlog_columns.py has asked the library
for raw bytes where its own decoding loses information (text, TIME, ENUM, SET).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdc.charsets import text_decoder
from cdc.errors import CdcError
from cdc.events import Row
from cdc.temporal import (
    date_text,
    datetime_text,
    old_time_packed,
    time2_packed,
    time_text,
    timestamp_text,
    year_number,
)
from cdc.values import (
    base64_text,
    decimal_text,
    float32_number,
    float64_number,
    inet4_text,
    inet6_text,
    json_document,
    json_integer,
    uuid_text,
)

Render = Callable[[Any], Any]


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


class ColumnNotDecodable(CdcError):
    """A column's values cannot be turned into JSON faithfully, such as text in an unknown character set."""


@dataclass(frozen=True)
class ColumnSpec:
    """The metadata of one table map column that its renderer needs."""

    name: str
    type: int
    # Digits of the fraction of seconds: TIME2, DATETIME2 and TIMESTAMP2.
    fsp: int = 0
    # Character set of text, ENUM and SET columns; "binary" for binary strings.
    charset: str | None = None
    # Bytes of a fixed-length string type, or of an ENUM index or SET bitmask.
    length: int = 0
    labels: tuple[str, ...] = ()
    # MariaDB's own type name for BINARY(16) or BINARY(4) columns: uuid, inet4 or inet6.
    sql_type: str | None = None


class RowRenderer:
    """Render the row images of one table map."""

    def __init__(self, renders: list[Render]) -> None:
        self._renders = renders

    def render(self, values: dict[str, Any]) -> Row:
        """Render a row image; the library lists its values in column order."""
        return {
            name: None if value is None else render(value)
            for (name, value), render in zip(values.items(), self._renders)
        }


def column_renderer(spec: ColumnSpec, qualified: str) -> Render:
    """Return the function that renders non-NULL values of a column; qualified is `db.table`."""
    column = f"{qualified}.{spec.name}"
    simple = _SIMPLE_RENDERS.get(spec.type)
    if simple is not None:
        return simple
    if spec.type == FieldType.TIME2:
        fsp = spec.fsp
        return lambda bits: time_text(time2_packed(int(bits, 2), fsp), fsp)
    if spec.type == FieldType.TIME:
        return lambda bits: time_text(old_time_packed(_little_endian(bits, 3, signed=True)), 0)
    if spec.type in (FieldType.DATETIME2, FieldType.DATETIME):
        return lambda value: datetime_text(value, spec.fsp)
    if spec.type in (FieldType.TIMESTAMP2, FieldType.TIMESTAMP):
        return lambda value: timestamp_text(value, spec.fsp)
    if spec.type == FieldType.ENUM:
        return _enum_renderer(spec)
    if spec.type == FieldType.SET:
        return _set_renderer(spec)
    if spec.type in STRING_TYPES:
        return _string_renderer(spec, column)
    raise ColumnNotDecodable(
        f"Column {column} has binlog type {spec.type}, which rowcast cannot render. "
        "Exclude the table from --tables, or change the column's type."
    )


_SIMPLE_RENDERS: dict[int, Render] = {
    **{field_type: json_integer for field_type in INTEGER_TYPES},
    FieldType.YEAR: year_number,
    FieldType.NEWDECIMAL: decimal_text,
    FieldType.FLOAT: float32_number,
    FieldType.DOUBLE: float64_number,
    FieldType.DATE: date_text,
    FieldType.BIT: lambda bits: json_integer(int(bits, 2)),
    FieldType.JSON: json_document,
    FieldType.GEOMETRY: lambda value: base64_text(_raw_bytes(value)),
}


def _little_endian(bits: str, size: int, signed: bool = False) -> int:
    # cdc/binlog_columns.py reads raw values as a BIT column, which the library
    # returns as a string of 0 and 1, byte after byte in stored order.
    return int.from_bytes(int(bits, 2).to_bytes(size, "big"), "little", signed=signed)


def _enum_renderer(spec: ColumnSpec) -> Render:
    # Index 0 is the empty string that MySQL stores for an invalid value
    # outside strict mode; SELECT shows it as ''.
    labels = ("", *spec.labels)
    size = spec.length
    return lambda bits: labels[_little_endian(bits, size)]


def _set_renderer(spec: ColumnSpec) -> Render:
    labels = spec.labels
    size = spec.length

    def render(bits: str) -> list[str]:
        mask = _little_endian(bits, size)
        return [label for index, label in enumerate(labels) if mask & (1 << index)]

    return render


def _string_renderer(spec: ColumnSpec, column: str) -> Render:
    if spec.charset == "binary":
        return _binary_renderer(spec)
    decode = text_decoder(spec.charset) if spec.charset else None
    if decode is None:
        raise ColumnNotDecodable(
            f"Column {column} uses the character set {spec.charset or 'with an unknown id'}, "
            "which rowcast cannot decode. Convert the column to utf8mb4 "
            "(ALTER TABLE ... CONVERT TO CHARACTER SET utf8mb4), or exclude the table from --tables."
        )
    charset = spec.charset

    def render(value: bytes | str) -> str:
        try:
            return decode(_raw_bytes(value))
        except UnicodeDecodeError as error:
            raise ColumnNotDecodable(
                f"Column {column} contains bytes that are invalid in its character set "
                f"{charset} ({error.reason} at byte {error.start}). Check the stored values "
                "of that column, or exclude the table from --tables."
            ) from None

    return render


def _binary_renderer(spec: ColumnSpec) -> Render:
    # Row images store BINARY(n) without its trailing zero bytes, and SELECT
    # returns all n bytes; padding restores them. VARBINARY and BLOB keep their length.
    length = spec.length if spec.type == FieldType.STRING else 0
    formats: dict[str | None, Callable[[bytes], str]] = {
        "uuid": uuid_text, "inet4": inet4_text, "inet6": inet6_text,
    }
    format_binary = formats.get(spec.sql_type, base64_text)
    return lambda value: format_binary(_raw_bytes(value).ljust(length, b"\0"))


def _raw_bytes(value: bytes | str) -> bytes:
    # The library decodes strings with the character set name it is given, and
    # "binary" has no Python codec, so it returns the bytes unchanged. An empty
    # value is the exception: CPython's bytes.decode returns "" for it without
    # looking the codec up.
    return value if isinstance(value, bytes) else value.encode("utf-8")
