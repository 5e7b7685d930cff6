"""Render snapshot rows from SELECT result text exactly as binlog row images render.

A snapshot reads raw result text (see TEXT_CONVERSIONS) and renders each
column by its SQL type with the same functions as cdc/columns.py. The SELECT
lists every column by name, invisible ones too, because row images contain
them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pymysql.converters
from pymysql.constants import FIELD_TYPE

from cdc.events import Row
from cdc.temporal import select_date_text, select_datetime_text, select_timestamp_text
from cdc.values import (
    base64_text,
    decimal_text,
    float32_number,
    float64_number,
    json_integer,
    to_json_value,
)

Render = Callable[[Any], Any]

# PyMySQL converters for a snapshot connection: integers become int, every other
# type stays the text the server sent (bytes for binary columns), so that
# fractions, zero dates and DECIMAL digits arrive exactly as SELECT shows them.
_INTEGER_FIELDS = {FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.INT24, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG}
TEXT_CONVERSIONS: dict[Any, Any] = {
    key: converter
    for key, converter in pymysql.converters.conversions.items()
    if not isinstance(key, int) or key in _INTEGER_FIELDS
}

_BASE_TYPE = re.compile(r"[a-z0-9_]+")


def column_types(link: pymysql.Connection, db: str, table: str) -> list[tuple[str, str]]:
    """Return each column's name and SQL type name, such as `decimal` or `uuid`, in table order.

    Raises pymysql.err.ProgrammingError 1146 when the table does not exist.
    """
    types = []
    for name, type_text in column_definitions(link, db, table):
        match = _BASE_TYPE.match(type_text)
        types.append((name, match.group(0) if match else ""))
    return types


def column_definitions(link: pymysql.Connection, db: str, table: str) -> list[tuple[str, str]]:
    """Return each column's name and whole lower-case type, such as `time(3)`, in table order.

    Raises pymysql.err.ProgrammingError 1146 when the table does not exist.
    """
    with link.cursor() as cursor:
        cursor.execute(f"SHOW COLUMNS FROM {quote_name(db)}.{quote_name(table)}")
        rows = cursor.fetchall()
    definitions = []
    for row in rows:
        name, type_text = row[0], row[1]
        if isinstance(type_text, bytes):
            type_text = type_text.decode("utf-8")
        definitions.append((str(name), str(type_text).lower()))
    return definitions


def select_sql(db: str, table: str, columns: list[tuple[str, str]]) -> str:
    """Return the SELECT that reads every column of db.table in the form the renderers take."""
    selected = []
    for name, sql_type in columns:
        quoted = quote_name(name)
        # SELECT prints a FLOAT with 6 significant digits (MariaDB 10.11) and
        # loses precision that the binlog keeps. As a DOUBLE it prints exactly.
        selected.append(f"CAST({quoted} AS DOUBLE) AS {quoted}" if sql_type == "float" else quoted)
    return f"SELECT {', '.join(selected)} FROM {quote_name(db)}.{quote_name(table)}"


def row_renderer(columns: list[tuple[str, str]]) -> Callable[[tuple[Any, ...]], Row]:
    """Return a function that renders one result row of select_sql as a JSON row."""
    names = [name for name, _ in columns]
    renders = [_RENDERS.get(sql_type, to_json_value) for _, sql_type in columns]

    def render(values: tuple[Any, ...]) -> Row:
        return {
            name: None if value is None else column_render(value)
            for name, value, column_render in zip(names, values, renders)
        }

    return render


def _set_labels(text: str) -> list[str]:
    # SELECT lists the members in definition order, and no label contains a comma.
    return text.split(",") if text else []


_BINARY_TYPES = (
    "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "geometry", "point",
    "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection",
)
_RENDERS: dict[str, Render] = {
    **{integer: json_integer for integer in ("tinyint", "smallint", "mediumint", "int", "bigint")},
    **{binary: base64_text for binary in _BINARY_TYPES},
    "decimal": lambda text: decimal_text(Decimal(text)),
    "float": lambda text: float32_number(float(text)),
    "double": lambda text: float64_number(float(text)),
    "date": select_date_text,
    "datetime": select_datetime_text,
    "timestamp": select_timestamp_text,
    "year": int,
    "bit": lambda raw: json_integer(int.from_bytes(raw, "big")),
    "set": _set_labels,
    # MySQL's JSON type. MariaDB's JSON is LONGTEXT, so it stays text, as in the binlog.
    "json": json.loads,
}


def quote_name(name: str) -> str:
    """Quote a MySQL identifier with backticks."""
    return "`" + name.replace("`", "``") + "`"
