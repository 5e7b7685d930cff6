"""Build and cache the row renderer of each table map, and set the library up to read raw values.

mysql-replication 1.0.17 decodes some column types lossily: text in any
character set it maps to a wrong or missing Python codec (utf16 and utf32 as
little-endian, ucs2 not at all), negative TIME fractions, and ENUM and SET
labels outside UTF-8. The library reads rows lazily, so this module can edit
its column objects before it does. Text columns get the character set
"binary", and the library returns their bytes. TIME, ENUM and SET columns
become BIT columns of the same byte size, and the library returns their
stored bytes as a string of bits. cdc/columns.py decodes both. The row events
after a table map event use that event's column objects.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pymysql

from cdc.charsets import charset_name, text_decoder
from cdc.columns import (
    MARIADB_BINARY_TYPE_LENGTHS,
    STRING_TYPES,
    ColumnNotDecodable,
    ColumnSpec,
    FieldType,
    RowRenderer,
    column_renderer,
)
from cdc.connection import ConnectionSettings
from cdc.result_columns import column_types
from cdc.tablemap import TypeLabels, raw_type_labels
from cdc.temporal import time2_size

logger = logging.getLogger(__name__)

# Looks up the SQL type names of a table's columns: (schema, table) -> {column: type}.
ColumnTypeLookup = Callable[[str, str], dict[str, str]]

# Renderers kept; beyond this the cache starts over, which only costs rebuilding.
MAX_CACHED_TABLES = 1000
# Attribute under which a library column object keeps the spec it was read with.
_SPEC_ATTRIBUTE = "_rowcast_spec"
_UTF8_CHARSETS = frozenset({"utf8mb3", "utf8mb4", "ascii"})


def server_column_types(connection: ConnectionSettings) -> ColumnTypeLookup:
    """Return a lookup that queries the server for a table's column types over a new connection."""

    def lookup(schema: str, table: str) -> dict[str, str]:
        # Connection errors reach BinlogReader.run, which reconnects and reads
        # the transaction again, as for a lost binlog connection.
        link = pymysql.connect(**connection.pymysql_kwargs())
        try:
            return dict(column_types(link, schema, table))
        except pymysql.err.ProgrammingError as error:
            # A table dropped since the event, or one the reader may not read,
            # has no types to look up, and retrying would not change that.
            # Its BINARY(n) columns then render as base64.
            logger.warning("column types not found table=%s.%s error=%s", schema, table, error)
            return {}
        finally:
            link.close()

    return lookup


class TableRenderers:
    """Row renderers per table map, built once per distinct table layout."""

    def __init__(self, column_types: ColumnTypeLookup) -> None:
        self._column_types = column_types
        self._by_layout: dict[tuple[str, str, tuple[ColumnSpec, ...]], RowRenderer] = {}
        # The latest table map of each table id: its column list and renderer.
        self._by_table_id: dict[int, tuple[list[Any], RowRenderer]] = {}

    def table_map(self, event: Any) -> None:
        """Prepare the columns of a TableMapEvent before any row event that uses them is read."""
        specs = _specs_from_table_map(event)
        renderer = self._renderer(event.schema, event.table, specs, event.dbms)
        _read_raw(event.columns, specs)
        if len(self._by_table_id) >= MAX_CACHED_TABLES:
            self._by_table_id.clear()
        self._by_table_id[event.table_id] = (event.columns, renderer)

    def for_rows(self, event: Any) -> RowRenderer:
        """Return the renderer for a row event; call it before reading `event.rows`."""
        latest = self._by_table_id.get(event.table_id)
        if latest is not None and latest[0] is event.columns:
            return latest[1]
        specs = tuple(_spec_of(column, event) for column in event.columns)
        renderer = self._renderer(event.schema, event.table, specs, event.dbms)
        _read_raw(event.columns, specs)
        return renderer

    def _renderer(
        self, schema: str, table: str, specs: tuple[ColumnSpec, ...], dbms: str
    ) -> RowRenderer:
        key = (schema, table, specs)
        renderer = self._by_layout.get(key)
        if renderer is None:
            if len(self._by_layout) >= MAX_CACHED_TABLES:
                self._by_layout.clear()
            typed = self._with_mariadb_types(schema, table, specs, dbms)
            qualified = f"{schema}.{table}"
            renderer = RowRenderer([column_renderer(spec, qualified) for spec in typed])
            self._by_layout[key] = renderer
            logger.debug("row renderer built table=%s columns=%s", qualified, len(specs))
        return renderer

    def _with_mariadb_types(
        self, schema: str, table: str, specs: tuple[ColumnSpec, ...], dbms: str
    ) -> list[ColumnSpec]:
        # The binlog cannot tell MariaDB's UUID, INET4 and INET6 from BINARY(n),
        # so their type names come from the server.
        # NOTE: the server returns the table's current definition. So a row
        # event read long after an ALTER that changed such a column between
        # BINARY(n) and UUID or INETn renders in the newer form.
        candidates = [spec for spec in specs if _may_be_mariadb_binary_type(spec)]
        if dbms != "mariadb" or not candidates:
            return list(specs)
        types = self._column_types(schema, table)
        return [
            _with_sql_type(spec, types.get(spec.name)) if spec in candidates else spec
            for spec in specs
        ]


def _may_be_mariadb_binary_type(spec: ColumnSpec) -> bool:
    return (
        spec.type == FieldType.STRING
        and spec.charset == "binary"
        and spec.length in MARIADB_BINARY_TYPE_LENGTHS.values()
    )


def _with_sql_type(spec: ColumnSpec, sql_type: str | None) -> ColumnSpec:
    if sql_type is None or MARIADB_BINARY_TYPE_LENGTHS.get(sql_type) != spec.length:
        return spec
    return dataclasses.replace(spec, sql_type=sql_type)


def _specs_from_table_map(event: Any) -> tuple[ColumnSpec, ...]:
    metadata = event.optional_metadata
    text_ids = iter(metadata.charset_collation_list or [])
    enum_set_ids = iter(metadata.enum_and_set_collation_list or [])
    labels: TypeLabels | None = None
    specs = []
    for column in event.columns:
        collation_id = None
        if _is_text_column(column.type, event.dbms):
            collation_id = next(text_ids, None)
        elif column.type in (FieldType.ENUM, FieldType.SET):
            collation_id = next(enum_set_ids, None)
            if labels is None and _needs_raw_labels(column, collation_id):
                labels = raw_type_labels(event) or TypeLabels()
        specs.append(_spec(column, collation_id, labels, event))
    return tuple(specs)


def _spec_of(column: Any, event: Any) -> ColumnSpec:
    # A column object read through table_map() carries its spec; any other
    # column is described from what the library parsed, without raw ids.
    spec = getattr(column, _SPEC_ATTRIBUTE, None)
    if isinstance(spec, ColumnSpec):
        return spec
    return _spec(column, None, None, event)


def _spec(column: Any, collation_id: int | None, labels: TypeLabels | None, event: Any) -> ColumnSpec:
    field_type = int(column.type)
    name = str(column.name)
    charset = None
    if _is_text_column(field_type, event.dbms) or field_type in (FieldType.ENUM, FieldType.SET):
        charset = charset_name(column.collation_name, collation_id)
    if field_type in (FieldType.ENUM, FieldType.SET):
        type_labels = _labels(column, charset, labels, event)
        return ColumnSpec(name, field_type, charset=charset, length=int(column.size), labels=type_labels)
    if field_type in STRING_TYPES:
        return ColumnSpec(name, field_type, charset=charset, length=int(getattr(column, "max_length", 0)))
    return ColumnSpec(name, field_type, fsp=int(getattr(column, "fsp", 0) or 0))


def _labels(column: Any, charset: str | None, labels: TypeLabels | None, event: Any) -> tuple[str, ...]:
    is_enum = column.type == FieldType.ENUM
    parsed = column.enum_values[1:] if is_enum else column.set_values
    if charset in _UTF8_CHARSETS:
        return tuple(parsed or ())
    decode = text_decoder(charset) if charset else None
    raw_lists: list[list[bytes]] = []
    if labels is not None:
        raw_lists = labels.enums if is_enum else labels.sets
    index = _type_column_index(event.columns, column)
    if decode is None or index >= len(raw_lists):
        raise ColumnNotDecodable(
            f"Column {event.schema}.{event.table}.{column.name} is "
            f"{'an ENUM' if is_enum else 'a SET'} in the character set {charset or 'with an unknown id'}, "
            "whose labels rowcast cannot read from the table map. Convert the column to "
            "utf8mb4, or exclude the table from --tables."
        )
    return tuple(decode(label) for label in raw_lists[index])


def _type_column_index(columns: list[Any], column: Any) -> int:
    # The table map lists the labels of ENUM columns, and separately of SET
    # columns, in column order.
    same_type = [other for other in columns if other.type == column.type]
    return next(index for index, other in enumerate(same_type) if other is column)


def _needs_raw_labels(column: Any, collation_id: int | None) -> bool:
    return charset_name(column.collation_name, collation_id) not in _UTF8_CHARSETS


def _is_text_column(field_type: int, dbms: str) -> bool:
    # The table map's character set list covers these types, in column order
    # (MySQL Table_map_event; MariaDB also lists GEOMETRY, as mysql-replication does).
    return field_type in STRING_TYPES or (field_type == FieldType.GEOMETRY and dbms == "mariadb")


def _read_raw(columns: list[Any], specs: tuple[ColumnSpec, ...]) -> None:
    for column, spec in zip(columns, specs):
        if getattr(column, _SPEC_ATTRIBUTE, None) is not None:
            continue
        setattr(column, _SPEC_ATTRIBUTE, spec)
        if spec.type in STRING_TYPES and column.character_set_name is not None:
            # Real binary columns already carry this name, and get their bytes back.
            column.character_set_name = "binary"
        elif spec.type == FieldType.TIME2:
            _read_as_bits(column, time2_size(spec.fsp))
        elif spec.type == FieldType.TIME:
            _read_as_bits(column, 3)
        elif spec.type in (FieldType.ENUM, FieldType.SET):
            _read_as_bits(column, spec.length)


def _read_as_bits(column: Any, size: int) -> None:
    # The library reads a BIT column as `bytes` bytes and returns all `bits`
    # bits as text when bits is a whole number of bytes.
    column.type = FieldType.BIT
    column.bytes = size
    column.bits = size * 8
