"""Keep one row decoder per table layout, built from the table map once.

The server writes a table map event before the row events of every statement,
and almost always the same bytes for the same table. So the decoder cache is
keyed by the table map's bytes after the table id: a repeated table map costs
one dictionary lookup, and a table whose definition changed has new bytes and
gets a new decoder. DDL statements clear the cache, so that type names read
from the server (below) are read again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import pymysql

from cdc.column_filter import ColumnFilter
from cdc.columns import (
    MARIADB_BINARY_TYPE_LENGTHS,
    ColumnNotDecodable,
    ColumnSpec,
    FieldType,
    column_decoder,
    fixed_value,
)
from cdc.connection import ConnectionSettings
from cdc.result_columns import column_definitions
from cdc.row_images import ImageOptions, TableDecoder
from cdc.tablemap import TABLE_ID_SIZE, parse_table_map, table_map_names
from cdc.tables import TableFilter

logger = logging.getLogger(__name__)

# Looks up the whole SQL types of a table's columns: (schema, table) -> {column: `time(3)`}.
ColumnTypeLookup = Callable[[str, str], dict[str, str]]

# Layouts kept; beyond this the cache starts over, which only costs rebuilding.
MAX_CACHED_LAYOUTS = 1000


def server_column_types(connection: ConnectionSettings) -> ColumnTypeLookup:
    """Return a lookup that queries the server for a table's column types over a new connection."""

    def lookup(schema: str, table: str) -> dict[str, str]:
        # Connection errors reach BinlogReader.run, which reconnects and reads
        # the transaction again, as for a lost binlog connection.
        link = pymysql.connect(**connection.pymysql_kwargs())
        try:
            return dict(column_definitions(link, schema, table))
        except pymysql.err.ProgrammingError as error:
            # A table dropped since the event, or one the reader may not read,
            # has no types to look up, and retrying would not change that.
            # Its BINARY(n) columns then render as base64.
            logger.warning("column types not found table=%s.%s error=%s", schema, table, error)
            return {}
        finally:
            link.close()

    return lookup


class TableDecoders:
    """Row decoders of the watched tables, by table id and by table layout."""

    def __init__(
        self,
        tables: TableFilter,
        excluded_columns: ColumnFilter,
        allow_partial_images: bool,
        column_types: ColumnTypeLookup,
    ) -> None:
        self._tables = tables
        self._excluded = excluded_columns
        self._allow_partial = allow_partial_images
        self._column_types = column_types
        # None marks a table that is not watched.
        self._by_layout: dict[bytes, TableDecoder | None] = {}
        self._by_table_id: dict[int, TableDecoder | None] = {}
        # Decoders built so far: one per layout of a watched table, plus rebuilds after DDL.
        self.built = 0

    def table_map(self, body: bytes, is_mariadb: bool) -> None:
        """Take a table map event body; the row events after it use its decoder."""
        layout = body[TABLE_ID_SIZE:]
        table_id = int.from_bytes(body[:TABLE_ID_SIZE], "little")
        try:
            decoder = self._by_layout[layout]
        except KeyError:
            decoder = self._build(body, is_mariadb)
            if len(self._by_layout) >= MAX_CACHED_LAYOUTS:
                self._by_layout.clear()
            self._by_layout[layout] = decoder
        if len(self._by_table_id) >= MAX_CACHED_LAYOUTS:
            self._by_table_id.clear()
        self._by_table_id[table_id] = decoder

    def for_rows(self, table_id: int) -> TableDecoder | None:
        """Return the decoder of a row event's table, or None for a table not watched.

        Raises KeyError for a table id that no table map has announced.
        """
        return self._by_table_id[table_id]

    def schema_changed(self) -> None:
        """Forget every layout after DDL; the next table maps build their decoders again."""
        self._by_layout.clear()

    def _build(self, body: bytes, is_mariadb: bool) -> TableDecoder | None:
        _, schema, table = table_map_names(body)
        if not self._tables.matches(schema, table):
            return None
        table_map = parse_table_map(body, is_mariadb)
        types: dict[str, str] | None = None
        if is_mariadb and any(_needs_server_type(spec) for spec in table_map.columns):
            types = self._column_types(schema, table)
            _check_old_fractions(table_map.qualified, table_map.columns, types)
        specs = _with_mariadb_types(table_map.columns, types)
        qualified = table_map.qualified
        decoders = [column_decoder(spec, qualified) for spec in specs]
        options = ImageOptions(self._excluded.excluded_in(schema, table), self._allow_partial)
        self.built += 1
        logger.debug("row decoder built table=%s columns=%s", qualified, len(specs))
        return TableDecoder(table_map, decoders, [fixed_value(spec) for spec in specs], options)


def _needs_server_type(spec: ColumnSpec) -> bool:
    return _may_be_mariadb_binary_type(spec) or spec.type in _OLD_TEMPORAL_TYPES


def _with_mariadb_types(
    specs: tuple[ColumnSpec, ...], types: dict[str, str] | None
) -> list[ColumnSpec]:
    # The binlog cannot tell MariaDB's UUID, INET4 and INET6 from BINARY(n),
    # so their type names come from the server.
    # NOTE: the server returns the table's current definition. So a row
    # event read long after an ALTER that changed such a column between
    # BINARY(n) and UUID or INETn renders in the newer form.
    if types is None:
        return list(specs)
    return [
        _with_sql_type(spec, types.get(spec.name)) if _may_be_mariadb_binary_type(spec) else spec
        for spec in specs
    ]


def _check_old_fractions(
    qualified: str, specs: tuple[ColumnSpec, ...], types: dict[str, str]
) -> None:
    """Raise ColumnNotDecodable for a pre-10.3 MariaDB temporal column with fractional seconds.

    MariaDB writes TIME(n), DATETIME(n) and TIMESTAMP(n) columns created with
    mysql56_temporal_format = OFF under the old type codes without their
    fraction digits, so the binlog alone does not tell how long their values are.
    """
    for spec in specs:
        if spec.type in _OLD_TEMPORAL_TYPES and "(" in types.get(spec.name, ""):
            raise ColumnNotDecodable(
                f"Column {qualified}.{spec.name} is a {types[spec.name].upper()} in MariaDB's "
                "format from before 10.3 (created with mysql56_temporal_format = OFF), whose "
                "binlog values rowcast cannot read. Rebuild the table with that setting ON: "
                "SET GLOBAL mysql56_temporal_format = ON; ALTER TABLE ... FORCE; or exclude "
                "the table from --tables."
            )


def _may_be_mariadb_binary_type(spec: ColumnSpec) -> bool:
    return (
        spec.type == FieldType.STRING
        and spec.charset == "binary"
        and spec.length in MARIADB_BINARY_TYPE_LENGTHS.values()
    )


_OLD_TEMPORAL_TYPES = frozenset({FieldType.TIME, FieldType.DATETIME, FieldType.TIMESTAMP})


def _with_sql_type(spec: ColumnSpec, sql_type: str | None) -> ColumnSpec:
    if sql_type is None or MARIADB_BINARY_TYPE_LENGTHS.get(sql_type) != spec.length:
        return spec
    return dataclasses.replace(spec, sql_type=sql_type)
