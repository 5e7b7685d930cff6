"""rowcast's own row decoding: signedness, the table map cache and its invalidation."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pymysql
import pytest

from cdc.binlog_stream import BinlogStream
from cdc.column_filter import ColumnFilter
from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent
from cdc.position import BinlogPosition
from cdc.reader import BinlogReader, ReaderSettings
from cdc.server import current_position
from cdc.table_decoders import TableDecoders
from cdc.tables import TableFilter

WAIT_S = 15.0
TABLE = "robots.decoding"


class Collector:
    """Collects change events and lets the test wait for a number of them."""

    def __init__(self) -> None:
        self.events: list[ChangeEvent] = []
        self.changed = threading.Condition()

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        with self.changed:
            self.events += events
            self.changed.notify_all()

    def progress(self, position: BinlogPosition) -> None:
        """Positions do not matter here."""

    def reader_state(self, state: str, message: str) -> None:
        """States do not matter here."""

    def wait_for(self, count: int) -> list[ChangeEvent]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.events) >= count, WAIT_S):
                raise TimeoutError(f"{len(self.events)} of {count} changes arrived")
            return list(self.events)


@pytest.fixture
def table(root: pymysql.Connection) -> pymysql.Connection:
    with root.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        # The table map's signedness list has a bit for YEAR too, so the
        # columns after it must read the bits after that one.
        cursor.execute(
            f"CREATE TABLE {TABLE} (id INT PRIMARY KEY, y YEAR, u INT UNSIGNED, "
            "d DECIMAL(6,2) UNSIGNED, t TINYINT UNSIGNED, s SMALLINT, y2 YEAR, b BIGINT)"
        )
    return root


@contextlib.contextmanager
def running_reader(
    reader_settings: ConnectionSettings, table: pymysql.Connection, server_id: int
) -> Iterator[tuple[Collector, BinlogReader]]:
    """Run a reader of TABLE from its current position on a thread until the block ends."""
    collector = Collector()
    settings = ReaderSettings(reader_settings, TableFilter.parse(TABLE), server_id=server_id,
                              heartbeat_s=0.5)
    reader = BinlogReader(settings, collector, current_position(table))
    stop = threading.Event()
    thread = threading.Thread(target=reader.run, args=(stop,))
    thread.start()
    try:
        yield collector, reader
    finally:
        stop.set()
        thread.join(timeout=WAIT_S)
    assert not thread.is_alive()


@pytest.fixture
def reading(
    reader_settings: ConnectionSettings, table: pymysql.Connection
) -> Iterator[tuple[Collector, BinlogReader]]:
    with running_reader(reader_settings, table, server_id=7101) as running:
        yield running


def test_unsigned_columns_after_a_year_column(
    reading: tuple[Collector, BinlogReader], table: pymysql.Connection
) -> None:
    collector, _ = reading
    with table.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} VALUES "
                       "(1, 2024, 4294967295, 9999.99, 255, -32768, 1901, -1)")
    [change] = collector.wait_for(1)
    assert change.after == {"id": 1, "y": 2024, "u": 4294967295, "d": "9999.99", "t": 255,
                            "s": -32768, "y2": 1901, "b": -1}


def test_decoder_rebuilt_after_alter(
    reading: tuple[Collector, BinlogReader], table: pymysql.Connection
) -> None:
    collector, reader = reading
    decoders: TableDecoders = reader._decoders
    with table.cursor() as cursor:
        for key in range(1, 41):
            cursor.execute(f"INSERT INTO {TABLE} (id, u) VALUES ({key}, {key})")
        collector.wait_for(40)
        assert decoders.built == 1
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN note VARCHAR(20) DEFAULT 'new'")
        cursor.execute(f"UPDATE {TABLE} SET u = u + 1 WHERE id = 1")
    events = collector.wait_for(41)
    after, before = events[-1].after, events[-1].before
    assert after is not None
    assert after["note"] == "new"
    assert before is not None
    assert before["u"] == 1
    assert decoders.built == 2


def test_unwatched_table_builds_no_decoder() -> None:
    built = TableDecoders(TableFilter.parse(TABLE), ColumnFilter(), False,
                          lambda schema, name: {})
    # A table map body: table id 7, flags, `robots`, `other`, one TINY column,
    # no metadata, the NULL bitmap. It belongs to a table the filter leaves out.
    body = (b"\x07\x00\x00\x00\x00\x00" + b"\x01\x00" + b"\x06robots\x00" + b"\x05other\x00"
            + b"\x01\x01" + b"\x00" + b"\x01")
    built.table_map(body, is_mariadb=True)
    built.table_map(body, is_mariadb=True)
    assert built.for_rows(7) is None
    assert built.built == 0


def test_reader_works_through_pymysql_packets(
    monkeypatch: pytest.MonkeyPatch, reader_settings: ConnectionSettings,
    table: pymysql.Connection,
) -> None:
    # Without PyMySQL's buffered socket file the stream reads through its packet API.
    original_open = BinlogStream.open

    def open_without_rfile(self: BinlogStream) -> None:
        original_open(self)
        self._rfile = None

    monkeypatch.setattr(BinlogStream, "open", open_without_rfile)
    with running_reader(reader_settings, table, server_id=7106) as (collector, _):
        with table.cursor() as cursor:
            cursor.execute(f"INSERT INTO {TABLE} (id, u) VALUES (9, 9)")
        [change] = collector.wait_for(1)
    assert change.after is not None
    assert change.after["u"] == 9
