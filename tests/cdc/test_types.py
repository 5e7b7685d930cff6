"""Every column type renders as the same JSON in snapshots and in binlog row images.

One scenario writes all cases and reads them through the real app (see
tests/types_support.py); the tests then check each case in each image.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import struct
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from pymysqlreplication.row_event import find_charset
from types_support import (
    CASE_COLUMNS,
    DATABASE,
    IMAGES,
    UNSET,
    Observed,
    ReaderRun,
    TableSpec,
    TypeCase,
    case_tables,
    create_tables,
    open_writer,
    run_scenario,
)

from cdc.charsets import charset_name, text_decoder
from cdc.columns import ColumnNotDecodable
from cdc.connection import ConnectionSettings
from cdc.server import current_position
from cdc.values import json_document
from rowcast.private_server import PrivateServer

DECIMAL_65_30_MAX = "9" * 35 + "." + "9" * 30
BIT_64_MAX = "b'" + "1" * 64 + "'"
# SRID 0, then the WKB of POINT(1 2): little-endian, type 1, x and y as doubles.
POINT_1_2 = base64.b64encode(struct.pack("<IBIdd", 0, 1, 1, 1.0, 2.0)).decode()

CASES = [
    # Integers: JSON numbers up to ±(2^53−1), strings of digits beyond.
    TypeCase("TINYINT", "-128", -128),
    TypeCase("TINYINT", "127", 127),
    TypeCase("TINYINT UNSIGNED", "255", 255),
    TypeCase("SMALLINT", "-32768", -32768),
    TypeCase("SMALLINT UNSIGNED", "65535", 65535),
    TypeCase("MEDIUMINT", "-8388608", -8388608),
    TypeCase("MEDIUMINT", "8388607", 8388607),
    TypeCase("MEDIUMINT UNSIGNED", "16777215", 16777215),
    TypeCase("INT", "-2147483648", -2147483648),
    TypeCase("INT", "2147483647", 2147483647),
    TypeCase("INT UNSIGNED", "4294967295", 4294967295),
    TypeCase("INT(5) UNSIGNED ZEROFILL", "42", 42),
    TypeCase("BIGINT", "-9223372036854775808", "-9223372036854775808"),
    TypeCase("BIGINT", "9223372036854775807", "9223372036854775807"),
    TypeCase("BIGINT", "9007199254740991", 9007199254740991),
    TypeCase("BIGINT", "-9007199254740991", -9007199254740991),
    TypeCase("BIGINT", "9007199254740992", "9007199254740992"),
    TypeCase("BIGINT", "-9007199254740992", "-9007199254740992"),
    TypeCase("BIGINT UNSIGNED", "18446744073709551615", "18446744073709551615"),
    TypeCase("BIGINT UNSIGNED", "0", 0),
    TypeCase("BOOLEAN", "TRUE", 1),
    TypeCase("INT INVISIBLE", "7", 7),
    # DECIMAL: an exact string in plain notation with the column's scale.
    TypeCase("DECIMAL(65,30)", DECIMAL_65_30_MAX, DECIMAL_65_30_MAX),
    TypeCase("DECIMAL(65,30)", "-" + DECIMAL_65_30_MAX, "-" + DECIMAL_65_30_MAX),
    TypeCase("DECIMAL(65,30)", "-0.000000000000000000000000000001",
             "-0.000000000000000000000000000001"),
    TypeCase("DECIMAL(10,2)", "12.5", "12.50"),
    TypeCase("DECIMAL(10,2)", "0", "0.00"),
    TypeCase("DECIMAL(10,2)", "-0.05", "-0.05"),
    TypeCase("DECIMAL(10,10)", "0.0000000001", "0.0000000001"),
    TypeCase("DECIMAL(5,0)", "-5", "-5"),
    TypeCase("DECIMAL(19,9)", "-1234567890.123456789", "-1234567890.123456789"),
    TypeCase("DECIMAL(30,10)", "12345678901234567890.0123456789",
             "12345678901234567890.0123456789"),
    # FLOAT: the shortest decimal that reads back as the same single-precision value.
    TypeCase("FLOAT", "0.1", 0.1),
    TypeCase("FLOAT", "-1.5", -1.5),
    TypeCase("FLOAT", "1.2345678", 1.2345678),
    TypeCase("FLOAT", "16777217", 16777216.0),
    TypeCase("FLOAT", "3.4028234663852886e38", 3.4028235e38),
    TypeCase("FLOAT", "1e-45", 1e-45),
    TypeCase("FLOAT", "0", 0.0),
    TypeCase("FLOAT(7,3)", "1.5", 1.5),
    TypeCase("DOUBLE", "0.1", 0.1),
    TypeCase("DOUBLE", "0.30000000000000004", 0.30000000000000004),
    TypeCase("DOUBLE", "1.7976931348623157e308", 1.7976931348623157e308),
    TypeCase("DOUBLE", "5e-324", 5e-324),
    TypeCase("DOUBLE", "-2.5", -2.5),
    TypeCase("DOUBLE", "1e22", 1e22),
    # TIME: [-]HH:MM:SS, hours past 24, exactly the declared fraction digits.
    TypeCase("TIME(6)", "'-838:59:59.000000'", "-838:59:59.000000"),
    TypeCase("TIME(6)", "'838:59:59.000000'", "838:59:59.000000"),
    TypeCase("TIME(6)", "'25:00:00.5'", "25:00:00.500000"),
    TypeCase("TIME(6)", "'-00:00:00.000001'", "-00:00:00.000001"),
    TypeCase("TIME(6)", "'-01:02:03.456789'", "-01:02:03.456789"),
    TypeCase("TIME(5)", "'-01:00:00.00001'", "-01:00:00.00001"),
    TypeCase("TIME(4)", "'-00:00:00.0001'", "-00:00:00.0001"),
    TypeCase("TIME(3)", "'-00:00:01.500'", "-00:00:01.500"),
    TypeCase("TIME(3)", "'-00:00:00.001'", "-00:00:00.001"),
    TypeCase("TIME(3)", "'-12:34:56.789'", "-12:34:56.789"),
    TypeCase("TIME(3)", "'00:00:00'", "00:00:00.000"),
    TypeCase("TIME(2)", "'-00:00:00.01'", "-00:00:00.01"),
    TypeCase("TIME(2)", "'-01:02:03.99'", "-01:02:03.99"),
    TypeCase("TIME(1)", "'-00:00:00.5'", "-00:00:00.5"),
    TypeCase("TIME", "'-838:59:59'", "-838:59:59"),
    TypeCase("TIME", "'100:00:00'", "100:00:00"),
    TypeCase("TIME", "'00:00:00'", "00:00:00"),
    # DATETIME and DATE: ISO 8601; a zero date or a zero part is null.
    TypeCase("DATETIME(6)", "'2024-02-29 13:05:01.000120'", "2024-02-29T13:05:01.000120"),
    TypeCase("DATETIME(6)", "'1000-01-01 00:00:00'", "1000-01-01T00:00:00.000000"),
    TypeCase("DATETIME(6)", "'9999-12-31 23:59:59.999999'", "9999-12-31T23:59:59.999999"),
    TypeCase("DATETIME(3)", "'2024-02-29 13:05:01.1'", "2024-02-29T13:05:01.100"),
    TypeCase("DATETIME(3)", "'2024-00-10 10:00:00'", None),
    TypeCase("DATETIME", "'2024-01-02 03:04:05'", "2024-01-02T03:04:05"),
    TypeCase("DATETIME", "'0000-00-00 00:00:00'", None),
    TypeCase("DATE", "'2024-02-29'", "2024-02-29"),
    TypeCase("DATE", "'1000-01-01'", "1000-01-01"),
    TypeCase("DATE", "'0000-00-00'", None),
    TypeCase("DATE", "'2024-00-10'", None),
    TypeCase("DATE", "'2024-02-00'", None),
    # TIMESTAMP: written in +05:30, sent in UTC with Z; the zero TIMESTAMP is null.
    TypeCase("TIMESTAMP(3) NULL", "'2024-01-02 03:04:05.678'", "2024-01-01T21:34:05.678Z"),
    TypeCase("TIMESTAMP(3) NULL", "'1970-01-01 05:30:01.000'", "1970-01-01T00:00:01.000Z"),
    TypeCase("TIMESTAMP(3) NULL", "'2038-01-19 08:44:07.999'", "2038-01-19T03:14:07.999Z"),
    TypeCase("TIMESTAMP(3) NULL", "'0000-00-00 00:00:00'", None),
    TypeCase("TIMESTAMP NULL", "'2024-06-01 12:00:00'", "2024-06-01T06:30:00Z"),
    TypeCase("TIMESTAMP(6) NULL", "'2024-06-01 12:00:00.000001'", "2024-06-01T06:30:00.000001Z"),
    TypeCase("YEAR", "0", 0),
    TypeCase("YEAR", "1901", 1901),
    TypeCase("YEAR", "2155", 2155),
    # BIT as a number; ENUM as its label; SET as labels in definition order.
    TypeCase("BIT(1)", "b'1'", 1),
    TypeCase("BIT(1)", "b'0'", 0),
    TypeCase("BIT(10)", "b'1000000001'", 513),
    TypeCase("BIT(64)", BIT_64_MAX, "18446744073709551615"),
    TypeCase("BIT(64)", "5", 5),
    TypeCase("ENUM('a','b','é')", "'é'", "é"),
    TypeCase("ENUM('a','b','é')", "'not a label'", ""),
    TypeCase("ENUM('a','é','€') CHARACTER SET latin1", "'é'", "é"),
    TypeCase("ENUM('a','é','€') CHARACTER SET latin1", "'€'", "€"),
    TypeCase("SET('x','y','z')", "''", []),
    TypeCase("SET('x','y','z')", "'z,x'", ["x", "z"]),
    TypeCase("SET('x','y','z')", "'x,y,z'", ["x", "y", "z"]),
    TypeCase("SET('é','b') CHARACTER SET latin1", "'b,é'", ["é", "b"]),
    # Text in several character sets and collations.
    TypeCase("VARCHAR(20) CHARACTER SET utf8mb4", "'héllo 😀'", "héllo 😀"),
    TypeCase("VARCHAR(20) CHARACTER SET utf8mb4", "''", ""),
    TypeCase("VARCHAR(20) CHARACTER SET utf8mb4", "'a  '", "a  "),
    TypeCase("CHAR(5) CHARACTER SET utf8mb4", "'ab  '", "ab"),
    TypeCase("VARCHAR(20) CHARACTER SET utf8mb3", "'ü'", "ü"),
    TypeCase("VARCHAR(20) CHARACTER SET latin1", "'é€'", "é€"),
    TypeCase("VARCHAR(20) CHARACTER SET latin1", "X'81'", "\x81"),
    TypeCase("TEXT CHARACTER SET latin1", "'Ça coûte 5 €'", "Ça coûte 5 €"),
    TypeCase("VARCHAR(20) CHARACTER SET ucs2", "'ab€'", "ab€"),
    TypeCase("VARCHAR(20) CHARACTER SET utf16", "'a😀'", "a😀"),
    TypeCase("VARCHAR(20) CHARACTER SET utf16le", "'a😀'", "a😀"),
    TypeCase("VARCHAR(20) CHARACTER SET utf32", "'a😀'", "a😀"),
    TypeCase("VARCHAR(20) COLLATE utf8mb4_uca1400_ai_ci", "'Über'", "Über"),
    TypeCase("VARCHAR(20) CHARACTER SET cp1251", "'Жук'", "Жук"),
    # Binary strings: base64 of every stored byte.
    TypeCase("BLOB", "X'00FF00'", "AP8A"),
    TypeCase("BLOB", "''", ""),
    TypeCase("BINARY(4)", "X'0102'", "AQIAAA=="),
    TypeCase("BINARY(4)", "X'00000000'", "AAAAAA=="),
    TypeCase("VARBINARY(10)", "X'00'", "AA=="),
    # MariaDB's UUID, INET4 and INET6 in the text form SELECT shows.
    TypeCase("UUID", "'6ccd780c-baba-1026-9564-5b8c656024db'", "6ccd780c-baba-1026-9564-5b8c656024db"),
    TypeCase("UUID", "'123e4567-e89b-42d3-a456-426655440000'", "123e4567-e89b-42d3-a456-426655440000"),
    TypeCase("UUID", "'00000000-0000-0000-0000-000000000000'", "00000000-0000-0000-0000-000000000000"),
    TypeCase("INET4", "'192.168.0.1'", "192.168.0.1"),
    TypeCase("INET4", "'0.0.0.0'", "0.0.0.0"),
    TypeCase("INET6", "'::'", "::"),
    TypeCase("INET6", "'::1'", "::1"),
    TypeCase("INET6", "'::ffff:1.2.3.4'", "::ffff:1.2.3.4"),
    TypeCase("INET6", "'::1.2.3.4'", "::1.2.3.4"),
    TypeCase("INET6", "'2001:db8::ff00:42:8329'", "2001:db8::ff00:42:8329"),
    TypeCase("INET6", "'1:0:2:3:4:5:6:7'", "1::2:3:4:5:6:7"),
    TypeCase("INET6", "'fe80::1:0:0:0'", "fe80::1:0:0:0"),
    # MariaDB's JSON is LONGTEXT with a CHECK; its value stays the stored text.
    TypeCase("JSON", """'{"a": [1, 2.5, null]}'""", '{"a": [1, 2.5, null]}'),
    # Spatial values: base64 of the stored SRID and WKB, as SELECT returns them.
    TypeCase("POINT", "ST_GeomFromText('POINT(1 2)')", POINT_1_2),
]

# Tables whose cases need more than one column: each with (row id, column, expected JSON).
EXTRA_TABLES = [
    (TableSpec(
        "generated_columns",
        f"{CASE_COLUMNS}, v INT, gv INT AS (v * 2) VIRTUAL, gs VARCHAR(20) AS (CONCAT('v=', v)) STORED",
        {1: {"v": "21"}, 2: {"v": "NULL"}},
    ), [(1, "gv", 42), (1, "gs", "v=21"), (2, "gv", None), (2, "gs", None)]),
    (TableSpec(
        "old_temporal",
        f"{CASE_COLUMNS}, t TIME, dt DATETIME, ts TIMESTAMP NULL",
        {1: {"t": "'-12:34:56'", "dt": "'2024-01-02 03:04:05'", "ts": "'2024-01-02 03:04:05'"},
         2: {"t": "'838:59:59'", "dt": "'0000-00-00 00:00:00'", "ts": "'0000-00-00 00:00:00'"},
         3: {"t": "NULL", "dt": "NULL", "ts": "NULL"}},
        old_temporal_format=True,
    ), [(1, "t", "-12:34:56"), (1, "dt", "2024-01-02T03:04:05"), (1, "ts", "2024-01-01T21:34:05Z"),
        (2, "t", "838:59:59"), (2, "dt", None), (2, "ts", None),
        (3, "t", None), (3, "dt", None), (3, "ts", None)]),
]
EXTRA_CASES = [
    (table.name, row_id, column, expected)
    for table, expectations in EXTRA_TABLES
    for row_id, column, expected in expectations
]

# The three cases the change event format is specified by, each in its own table.
HAND_MADE = [
    (TableSpec("hand_time3", "id INT PRIMARY KEY, d TIME(3)", {1: {"d": "'-00:00:01.500'"}}),
     {"id": 1, "d": "-00:00:01.500"}),
    (TableSpec("hand_bigint_unsigned", "id INT PRIMARY KEY, n BIGINT UNSIGNED",
               {1: {"n": "18446744073709551615"}}),
     {"id": 1, "n": "18446744073709551615"}),
    (TableSpec("hand_decimal", "id INT PRIMARY KEY, p DECIMAL(30,10)",
               {1: {"p": "12345678901234567890.0123456789"}}),
     {"id": 1, "p": "12345678901234567890.0123456789"}),
]

SAMPLE_TEXT = "Aé€Жあ中😀"
LAYOUT = case_tables(CASES)


def charset_table(root: pymysql.Connection) -> tuple[TableSpec, dict[str, str]]:
    """Return a table with one column per character set rowcast decodes, and its row as SELECT shows it."""
    with root.cursor() as cursor:
        cursor.execute("SHOW CHARACTER SET")
        charsets = sorted(str(row[0]) for row in cursor.fetchall())
    decodable = [charset for charset in charsets if charset != "binary" and text_decoder(charset)]
    columns = ", ".join(f"c_{charset} VARCHAR(20) CHARACTER SET {charset}" for charset in decodable)
    values = {f"c_{charset}": f"CONVERT(_utf8mb4'{SAMPLE_TEXT}' USING {charset})"
              for charset in decodable}
    return TableSpec("charsets", f"{CASE_COLUMNS}, {columns}", {1: values}), values


@pytest.fixture(scope="module")
def observed(
    mysql_server: PrivateServer, reader_settings: ConnectionSettings
) -> Iterator[tuple[Observed, dict[str, Any]]]:
    """Run the scenario once for the module; also return the charset row as SELECT shows it."""
    root = mysql_server.root_connection()
    charsets, _ = charset_table(root)
    hand_tables = [table for table, _ in HAND_MADE]
    tables = [*LAYOUT.tables, *(table for table, _ in EXTRA_TABLES), charsets]
    create_tables(root, tables + hand_tables)
    writer = open_writer(mysql_server.root_connection())
    try:
        seen = run_scenario(writer, reader_settings, tables, hand_tables)
        with root.cursor(pymysql.cursors.DictCursor) as cursor:
            cursor.execute(f"SELECT * FROM {DATABASE}.charsets")
            selected = cursor.fetchone()
        yield seen, selected
    finally:
        writer.close()
        root.close()


def as_json(value: Any) -> str:
    return "(missing)" if value is UNSET else json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_type_renders_in_image(
    observed: tuple[Observed, dict[str, Any]], case: TypeCase, image: str
) -> None:
    table, row_id = LAYOUT.places[case]
    actual = observed[0].value(table, row_id, image, "v")
    assert as_json(actual) == as_json(case.expected)


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("sql_type", list(LAYOUT.null_rows))
def test_null_renders_as_null(
    observed: tuple[Observed, dict[str, Any]], sql_type: str, image: str
) -> None:
    table, row_id = LAYOUT.null_rows[sql_type]
    assert as_json(observed[0].value(table, row_id, image, "v")) == "null"


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize(("table", "row_id", "column", "expected"), EXTRA_CASES)
def test_multi_column_case_renders(
    observed: tuple[Observed, dict[str, Any]], table: str, row_id: int, column: str,
    expected: Any, image: str,
) -> None:
    actual = observed[0].value(table, row_id, image, column)
    assert as_json(actual) == as_json(expected)


@pytest.mark.parametrize("image", IMAGES)
def test_charsets_render_as_select(observed: tuple[Observed, dict[str, Any]], image: str) -> None:
    seen, selected = observed
    row = seen.rows.get(("charsets", 1, image), {})
    mismatched = {name: (row.get(name), text) for name, text in selected.items()
                  if name.startswith("c_") and row.get(name) != text}
    assert not mismatched


@pytest.mark.parametrize(("table", "expected"), HAND_MADE, ids=[t.name for t, _ in HAND_MADE])
def test_hand_made_insert_after(
    observed: tuple[Observed, dict[str, Any]], table: TableSpec, expected: dict[str, Any]
) -> None:
    assert observed[0].rows.get((table.name, 1, "insert_after")) == expected


@pytest.mark.parametrize(
    ("parsed", "expected"),
    [
        ({b"a": [1, b"x", None, True]}, {"a": [1, "x", None, True]}),
        ({b"n": decimal.Decimal("1.50")}, {"n": 1.5}),
        ([datetime.datetime(2015, 1, 15, 23, 24, 25)], ["2015-01-15 23:24:25.000000"]),
        (datetime.time(1, 2, 3, 500000), "01:02:03.500000"),
        (b"caf\xc3\xa9", "café"),
    ],
)
def test_mysql_json_document_becomes_plain(parsed: Any, expected: Any) -> None:
    # MySQL's binary JSON type as mysql-replication parses it; no MySQL server runs here.
    assert json_document(parsed) == expected


def test_collation_ids_map_to_server_charsets(root: pymysql.Connection) -> None:
    with root.cursor() as cursor:
        cursor.execute(
            "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY"
        )
        rows = cursor.fetchall()
    wrong = {}
    for collation_id, charset in rows:
        _, collation_name, _ = find_charset(str(collation_id), dbms="mariadb")
        found = charset_name(collation_name, int(collation_id))
        if found != charset:
            wrong[collation_id] = (found, charset)
    assert not wrong


def test_unknown_charset_error_names_column(
    root: pymysql.Connection, reader_settings: ConnectionSettings
) -> None:
    create_tables(root, [], keep=True)
    with root.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {DATABASE}.swe7_text")
        cursor.execute(
            f"CREATE TABLE {DATABASE}.swe7_text (id INT PRIMARY KEY, v VARCHAR(5) CHARACTER SET swe7)")
    run = ReaderRun(reader_settings, f"{DATABASE}.swe7_text", current_position(root), 7301)
    with root.cursor() as cursor:
        cursor.execute(f"INSERT INTO {DATABASE}.swe7_text VALUES (1, 'abc')")
    run.wait_for(1)
    run.stop()
    assert isinstance(run.error, ColumnNotDecodable)
    assert f"{DATABASE}.swe7_text.v" in str(run.error)
    assert "swe7" in str(run.error)


def test_renderer_follows_alter_table(
    root: pymysql.Connection, reader_settings: ConnectionSettings
) -> None:
    create_tables(root, [], keep=True)
    table = f"{DATABASE}.altered"
    with root.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, v TIME(3))")
    run = ReaderRun(reader_settings, table, current_position(root), 7302)
    with root.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} VALUES (1, '-00:00:00.001')")
        cursor.execute(f"ALTER TABLE {table} MODIFY v TIME(6)")
        cursor.execute(f"INSERT INTO {table} VALUES (2, '-00:00:00.000001')")
        cursor.execute(f"ALTER TABLE {table} ADD COLUMN w VARCHAR(5) CHARACTER SET utf16 AFTER id")
        cursor.execute(f"INSERT INTO {table} VALUES (3, 'a😀', '-01:00:00.5')")
    events = run.wait_for(3)
    run.stop()
    assert run.error is None
    assert [event.after for event in events] == [
        {"id": 1, "v": "-00:00:00.001"},
        {"id": 2, "v": "-00:00:00.000001"},
        {"id": 3, "w": "a😀", "v": "-01:00:00.500000"},
    ]
