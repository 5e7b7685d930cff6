"""Parse the body of a table map event into column specs and the primary key.

MySQL's libbinlogevents (Table_map_event) and MariaDB's sql/log_event.cc
write the same layout. It starts with the table id (6 bytes) and flags (2).
The schema and table name follow, each as a length byte, the name and a NUL.
Then come the column count, the column types, the type metadata and the NULL
bitmap. With binlog_row_metadata = FULL the optional metadata fills the rest
of the event as type, length and value fields: signedness, character sets,
column names, ENUM and SET labels and the primary key.

Text, ENUM and SET labels stay bytes here until the column's character set is
known, so a latin1 label such as 'é' (byte 0xE9) is decoded as latin1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pymysqlreplication.constants.CHARSET import charset_by_id

from cdc.charsets import charset_name, text_decoder
from cdc.columns import STRING_TYPES, ColumnNotDecodable, ColumnSpec, FieldType
from cdc.refused import BinlogRefused

POST_HEADER_SIZE = 8
TABLE_ID_SIZE = 6

# Optional metadata field types (MySQL Table_map_event::Optional_metadata_field_type).
_SIGNEDNESS = 1
_DEFAULT_CHARSET = 2
_COLUMN_CHARSET = 3
_COLUMN_NAME = 4
_SET_STR_VALUE = 5
_ENUM_STR_VALUE = 6
_SIMPLE_PRIMARY_KEY = 8
_PRIMARY_KEY_WITH_PREFIX = 9
_ENUM_AND_SET_DEFAULT_CHARSET = 10
_ENUM_AND_SET_COLUMN_CHARSET = 11

# The types whose signedness the optional metadata lists, one bit each in column
# order. MariaDB 10.11 writes a bit for YEAR too (tests/cdc/test_row_decoding.py),
# and go-mysql pull request 1119 reports the same of MySQL for YEAR and the old DECIMAL (0).
_NUMERIC_TYPES = frozenset({
    FieldType.TINY, FieldType.SHORT, FieldType.INT24, FieldType.LONG, FieldType.LONGLONG,
    FieldType.NEWDECIMAL, FieldType.FLOAT, FieldType.DOUBLE, FieldType.YEAR, 0,
})
# NOTE: 242 is MySQL 9's VECTOR, assumed here to have 1 byte of metadata like
# BLOB; no MySQL 9 server was at hand to check it.
_ONE_BYTE_METADATA = frozenset({
    242, FieldType.FLOAT, FieldType.DOUBLE, FieldType.BLOB, FieldType.GEOMETRY, FieldType.JSON,
    FieldType.TIME2, FieldType.DATETIME2, FieldType.TIMESTAMP2,
})
_TWO_BYTE_METADATA = frozenset({
    FieldType.VARCHAR, FieldType.BIT, FieldType.NEWDECIMAL, FieldType.STRING,
    FieldType.VAR_STRING, FieldType.ENUM, FieldType.SET,
})
_ENUM_SET = (FieldType.ENUM, FieldType.SET)


@dataclass(frozen=True)
class TableMap:
    """One table map event: the table, its columns and its primary key."""

    table_id: int
    schema: str
    table: str
    columns: tuple[ColumnSpec, ...]
    # Names of the primary key columns; empty for a table without one.
    key_columns: tuple[str, ...] = field(default=())

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


def table_map_names(body: bytes) -> tuple[int, str, str]:
    """Read only the table id, schema and table name: enough to skip unwatched tables."""
    table_id = int.from_bytes(body[:TABLE_ID_SIZE], "little")
    reader = _Reader(body, POST_HEADER_SIZE)
    return table_id, _name(reader), _name(reader)


def parse_table_map(body: bytes, is_mariadb: bool) -> TableMap:
    """Parse a whole table map event body, the checksum already cut off."""
    table_id = int.from_bytes(body[:TABLE_ID_SIZE], "little")
    reader = _Reader(body, POST_HEADER_SIZE)
    schema, table = _name(reader), _name(reader)
    qualified = f"{schema}.{table}"

    count = reader.length()
    types = list(reader.take(count))
    columns = _read_type_metadata(reader, types, qualified)
    reader.skip((count + 7) // 8)

    optional = _read_optional(reader, len(body))
    if optional.names is None or len(optional.names) != count:
        raise BinlogRefused(
            f"The table map of {qualified} has no column names, because the server wrote "
            "it with binlog_row_metadata = MINIMAL. rowcast names every column from the "
            "binlog. Fix: run SET GLOBAL binlog_row_metadata = 'FULL'; and set "
            "`binlog_row_metadata = FULL` under [mysqld] in the server's option file, then "
            "restart rowcast."
        )
    for column, name in zip(columns, optional.names):
        column.name = name
    _apply_signedness(columns, optional.signedness)
    _apply_charsets(columns, optional, is_mariadb)
    _apply_labels(columns, optional, qualified)

    specs = tuple(column.spec() for column in columns)
    key = tuple(specs[index].name for index in optional.key_indexes if index < count)
    return TableMap(table_id, schema, table, specs, key)


def _read_type_metadata(reader: _Reader, types: list[int], qualified: str) -> list[_Column]:
    """Read the metadata block: a length, then each column's type metadata in column order."""
    metadata_size = reader.length()
    metadata_start = reader.position
    columns = [_Column(field_type, _type_metadata(reader, field_type)) for field_type in types]
    expected = reader.position - metadata_start
    if expected != metadata_size:
        raise ColumnNotDecodable(
            f"The table map of {qualified} has {metadata_size} bytes of column metadata "
            f"where rowcast expects {expected}, so it cannot tell where each column's value "
            "starts. A column has a type rowcast does not know; exclude the table from "
            "--tables."
        )
    return columns


class _Column:
    """The table map's facts about one column, collected before its ColumnSpec is built."""

    def __init__(self, field_type: int, metadata: tuple[int, int]) -> None:
        self.type = field_type
        self.metadata = metadata
        self.name = ""
        self.unsigned = False
        self.collation_id: int | None = None
        self.raw_labels: list[bytes] = []
        self.labels: tuple[str, ...] = ()
        self.charset: str | None = None
        if field_type in (FieldType.STRING, FieldType.VAR_STRING):
            # Byte 0 is the real type (ENUM and SET are written as STRING), byte 1
            # the length, whose two high bits hide, inverted, in bits 4 and 5 of byte 0.
            real_type, low = metadata
            if real_type in _ENUM_SET:
                self.type = real_type
                self.length = low
            else:
                self.length = (((real_type << 4) & 0x300) ^ 0x300) + low
        elif field_type == FieldType.VARCHAR:
            self.length = metadata[0] | metadata[1] << 8
        else:
            self.length = 0

    def spec(self) -> ColumnSpec:
        name, kind, meta = self.name, self.type, self.metadata
        if kind == FieldType.NEWDECIMAL:
            return ColumnSpec(name, kind, unsigned=self.unsigned, precision=meta[0], scale=meta[1])
        if kind in (FieldType.TIME2, FieldType.DATETIME2, FieldType.TIMESTAMP2):
            return ColumnSpec(name, kind, fsp=meta[0])
        if kind == FieldType.BIT:
            bits = meta[1] * 8 + meta[0]
            return ColumnSpec(name, kind, bit_bytes=(bits + 7) // 8)
        if kind in (FieldType.BLOB, FieldType.GEOMETRY, FieldType.JSON):
            return ColumnSpec(name, kind, charset=self.charset, prefix_size=meta[0])
        if kind in _ENUM_SET:
            return ColumnSpec(name, kind, charset=self.charset, length=self.length,
                              labels=self.labels)
        if kind in STRING_TYPES:
            return ColumnSpec(name, kind, charset=self.charset, length=self.length)
        return ColumnSpec(name, kind, unsigned=self.unsigned)


def _type_metadata(reader: _Reader, field_type: int) -> tuple[int, int]:
    if field_type in _ONE_BYTE_METADATA:
        return reader.byte(), 0
    if field_type in _TWO_BYTE_METADATA:
        return reader.byte(), reader.byte()
    return 0, 0


@dataclass
class _Optional:
    signedness: bytes = b""
    default_charset: tuple[int, dict[int, int]] | None = None
    column_charsets: list[int] | None = None
    enum_set_default_charset: tuple[int, dict[int, int]] | None = None
    enum_set_column_charsets: list[int] | None = None
    names: list[str] | None = None
    enum_labels: list[list[bytes]] = field(default_factory=list)
    set_labels: list[list[bytes]] = field(default_factory=list)
    key_indexes: list[int] = field(default_factory=list)


def _read_optional(reader: _Reader, end: int) -> _Optional:
    optional = _Optional()
    while reader.position < end:
        kind = reader.byte()
        size = reader.length()
        value_end = reader.position + size
        if kind == _SIGNEDNESS:
            optional.signedness = reader.take(size)
        elif kind == _DEFAULT_CHARSET:
            optional.default_charset = _default_charset(reader, value_end)
        elif kind == _COLUMN_CHARSET:
            optional.column_charsets = _integers(reader, value_end)
        elif kind == _ENUM_AND_SET_DEFAULT_CHARSET:
            optional.enum_set_default_charset = _default_charset(reader, value_end)
        elif kind == _ENUM_AND_SET_COLUMN_CHARSET:
            optional.enum_set_column_charsets = _integers(reader, value_end)
        elif kind == _COLUMN_NAME:
            optional.names = []
            while reader.position < value_end:
                # Column names are utf8 in the data dictionary of both servers.
                optional.names.append(reader.take(reader.length()).decode("utf-8"))
        elif kind == _ENUM_STR_VALUE:
            optional.enum_labels = _label_lists(reader, value_end)
        elif kind == _SET_STR_VALUE:
            optional.set_labels = _label_lists(reader, value_end)
        elif kind == _SIMPLE_PRIMARY_KEY:
            optional.key_indexes = _integers(reader, value_end)
        elif kind == _PRIMARY_KEY_WITH_PREFIX:
            pairs = _integers(reader, value_end)
            optional.key_indexes = pairs[0::2]
        reader.position = value_end
    return optional


def _default_charset(reader: _Reader, end: int) -> tuple[int, dict[int, int]]:
    default = reader.length()
    pairs = _integers(reader, end)
    return default, dict(zip(pairs[0::2], pairs[1::2]))


def _integers(reader: _Reader, end: int) -> list[int]:
    values = []
    while reader.position < end:
        values.append(reader.length())
    return values


def _label_lists(reader: _Reader, end: int) -> list[list[bytes]]:
    lists: list[list[bytes]] = []
    while reader.position < end:
        count = reader.length()
        lists.append([reader.take(reader.length()) for _ in range(count)])
    return lists


def _apply_signedness(columns: list[_Column], bitmap: bytes) -> None:
    # One bit per numeric column, most significant bit first; set means UNSIGNED.
    numeric = [column for column in columns if column.type in _NUMERIC_TYPES]
    for index, column in enumerate(numeric):
        if index // 8 < len(bitmap):
            column.unsigned = bool(bitmap[index // 8] & (0x80 >> index % 8))


def _is_text(column: _Column, is_mariadb: bool) -> bool:
    # The character set list covers these types, in column order (MySQL
    # Table_map_event; MariaDB also lists GEOMETRY).
    return column.type in STRING_TYPES or (column.type == FieldType.GEOMETRY and is_mariadb)


def _apply_charsets(columns: list[_Column], optional: _Optional, is_mariadb: bool) -> None:
    text = [column for column in columns if _is_text(column, is_mariadb)]
    _assign_collations(text, optional.default_charset, optional.column_charsets)
    enum_set = [column for column in columns if column.type in _ENUM_SET]
    _assign_collations(enum_set, optional.enum_set_default_charset,
                       optional.enum_set_column_charsets)
    dbms = "mariadb" if is_mariadb else "mysql"
    for column in (*text, *enum_set):
        if column.collation_id is not None:
            known = charset_by_id(column.collation_id, dbms)
            column.charset = charset_name(known.collation if known else None, column.collation_id)


def _assign_collations(
    columns: list[_Column], default: tuple[int, dict[int, int]] | None, listed: list[int] | None
) -> None:
    if listed is not None:
        for column, collation_id in zip(columns, listed):
            column.collation_id = collation_id
    elif default is not None:
        default_id, exceptions = default
        for index, column in enumerate(columns):
            column.collation_id = exceptions.get(index, default_id)


def _apply_labels(columns: list[_Column], optional: _Optional, qualified: str) -> None:
    enums = iter(optional.enum_labels)
    sets = iter(optional.set_labels)
    for column in columns:
        if column.type not in _ENUM_SET:
            continue
        is_enum = column.type == FieldType.ENUM
        raw = next(enums if is_enum else sets, None)
        decode = text_decoder(column.charset) if column.charset else None
        if raw is None or decode is None:
            raise ColumnNotDecodable(
                f"Column {qualified}.{column.name} is {'an ENUM' if is_enum else 'a SET'} in the "
                f"character set {column.charset or 'with an unknown id'}, whose labels "
                "rowcast cannot read from the table map. Convert the column to utf8mb4, "
                "or exclude the table from --tables."
            )
        column.labels = tuple(decode(label) for label in raw)


def _name(reader: _Reader) -> str:
    value = reader.take(reader.byte())
    reader.skip(1)
    return value.decode("utf-8")


class _Reader:
    """A cursor over event bytes; reading past the end raises IndexError."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data = data
        self.position = position

    def byte(self) -> int:
        value = self.data[self.position]
        self.position += 1
        return value

    def take(self, size: int) -> bytes:
        if self.position + size > len(self.data):
            raise IndexError("table map event ends early")
        value = self.data[self.position:self.position + size]
        self.position += size
        return value

    def skip(self, size: int) -> None:
        self.take(size)

    def length(self) -> int:
        """Read a length-encoded integer (MySQL client/server protocol)."""
        value, self.position = read_length(self.data, self.position)
        return value


def read_length(data: bytes, offset: int) -> tuple[int, int]:
    """Read a length-encoded integer (MySQL client/server protocol); return it and the next offset."""
    first = data[offset]
    if first < 0xFB:
        return first, offset + 1
    size = _LENGTH_SIZES.get(first)
    if size is None:
        raise ValueError(f"invalid length prefix {first:#x} in a binlog event")
    start = offset + 1
    if start + size > len(data):
        raise IndexError("binlog event ends within a length")
    return int.from_bytes(data[start:start + size], "little"), start + size


# Bytes of a length-encoded integer after its first byte, by that byte.
_LENGTH_SIZES = {0xFC: 2, 0xFD: 3, 0xFE: 8}
