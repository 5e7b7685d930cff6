"""MariaDB's pre-10.3 fractional temporal columns stop the reader with the fix, not wrong values."""

from __future__ import annotations

import pymysql
from types_support import DATABASE, ReaderRun, create_tables

from cdc.columns import ColumnNotDecodable
from cdc.connection import ConnectionSettings
from cdc.server import current_position


def test_old_fractional_time_stops_reader(
    root: pymysql.Connection, reader_settings: ConnectionSettings
) -> None:
    create_tables(root, [], keep=True)
    with root.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {DATABASE}.old_fractions")
        cursor.execute("SET GLOBAL mysql56_temporal_format = OFF")
        try:
            cursor.execute(
                f"CREATE TABLE {DATABASE}.old_fractions (id INT PRIMARY KEY, t TIME(3), n INT)")
        finally:
            cursor.execute("SET GLOBAL mysql56_temporal_format = ON")
    run = ReaderRun(reader_settings, f"{DATABASE}.old_fractions", current_position(root), 7311)
    with root.cursor() as cursor:
        cursor.execute(f"INSERT INTO {DATABASE}.old_fractions VALUES (1, '12:34:56.789', 7)")
    run.wait_for(1)
    run.stop()
    assert run.events == []
    assert isinstance(run.error, ColumnNotDecodable)
    assert f"{DATABASE}.old_fractions" in str(run.error)
    assert "mysql56_temporal_format" in str(run.error)
