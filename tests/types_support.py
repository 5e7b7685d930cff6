"""Column type cases for tests/cdc/test_types.py and the scenario that observes them.

Each case is a column type, a SQL literal and the JSON value rowcast must send
for it. The scenario puts every literal in a row of its type's table. Then it
reads each row through the real app: from the snapshot endpoint, and from the
SSE stream. There a row shows up in the before and after images of an UPDATE,
the before image of a DELETE and the after image of an INSERT.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import pymysql
from clients import WAIT_S, SseClient
from servers import start_app

from cdc.connection import ConnectionSettings
from cdc.events import ChangeEvent
from cdc.position import BinlogPosition
from cdc.reader import BinlogReader, ReaderSettings
from cdc.tables import TableFilter

DATABASE = "types_db"
# The images that each case is checked in. The names become test ids.
IMAGES = ("snapshot", "update_before", "update_after", "delete_before", "insert_after")
UNSET = object()


@dataclass(frozen=True)
class TypeCase:
    """One column type, a SQL literal of it, and the JSON value it must render as."""

    sql_type: str
    literal: str
    # Lists are not hashable, so a case is identified by its type and literal.
    expected: Any = field(compare=False)

    @property
    def id(self) -> str:
        return f"{self.sql_type} {self.literal}"[:80]


@dataclass(frozen=True)
class TableSpec:
    """A table of the scenario: its column definitions and its rows by id, as SQL literals."""

    name: str
    columns: str
    rows: dict[int, dict[str, str]]
    # Create the table with the temporal types of MySQL 5.5 (MariaDB's
    # mysql56_temporal_format=OFF), as in tables created before MySQL 5.6.
    old_temporal_format: bool = False


# Case tables have a column the scenario's UPDATE changes, so that the edge
# value shows up unchanged in both images (an UPDATE that changes nothing
# writes no row event).
CASE_COLUMNS = "id INT PRIMARY KEY, touch INT NOT NULL DEFAULT 0"


@dataclass
class Observed:
    """Every row the scenario read, by table, row id and image."""

    rows: dict[tuple[str, int, str], dict[str, Any]] = field(default_factory=dict)

    def value(self, table: str, row_id: int, image: str, column: str) -> Any:
        row = self.rows.get((table, row_id, image))
        if row is None:
            return UNSET
        return row.get(column, UNSET)


@dataclass(frozen=True)
class CaseTables:
    """The tables of the type cases, where each case lives, and each type's NULL row."""

    tables: list[TableSpec]
    places: dict[TypeCase, tuple[str, int]]
    null_rows: dict[str, tuple[str, int]]


def case_tables(cases: list[TypeCase]) -> CaseTables:
    """Group the cases into one table per type, each with one more row that is NULL."""
    by_type: dict[str, list[TypeCase]] = {}
    for case in cases:
        by_type.setdefault(case.sql_type, []).append(case)
    tables, places, null_rows = [], {}, {}
    for index, (sql_type, typed) in enumerate(by_type.items(), start=1):
        name = f"t{index:02d}_" + re.sub(r"\W+", "_", sql_type.lower()).strip("_")[:40]
        rows = {row_id: {"v": case.literal} for row_id, case in enumerate(typed, start=1)}
        rows[len(typed) + 1] = {"v": "NULL"}
        tables.append(TableSpec(name, f"{CASE_COLUMNS}, v {sql_type}", rows))
        places.update({case: (name, row_id) for row_id, case in enumerate(typed, start=1)})
        null_rows[sql_type] = (name, len(typed) + 1)
    return CaseTables(tables, places, null_rows)


def create_tables(root: pymysql.Connection, tables: list[TableSpec], keep: bool = False) -> None:
    """Create the database, afresh unless keep, let the reader account read it, and create the tables."""
    with root.cursor() as cursor:
        if not keep:
            cursor.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4")
        cursor.execute(f"GRANT SELECT ON {DATABASE}.* TO 'rowcast_reader'@'%'")
        for table in tables:
            if table.old_temporal_format:
                cursor.execute("SET GLOBAL mysql56_temporal_format = OFF")
            try:
                cursor.execute(f"CREATE TABLE {DATABASE}.{table.name} ({table.columns})")
            finally:
                cursor.execute("SET GLOBAL mysql56_temporal_format = ON")


def insert_rows(writer: pymysql.Connection, table: TableSpec) -> None:
    """Insert each row of a table in its own statement."""
    with writer.cursor() as cursor:
        for row_id, values in table.rows.items():
            names = ", ".join(["id", *values])
            literals = ", ".join([str(row_id), *values.values()])
            cursor.execute(f"INSERT INTO {DATABASE}.{table.name} ({names}) VALUES ({literals})")


def open_writer(server_root: pymysql.Connection) -> pymysql.Connection:
    """Return the connection as a writer in a non-UTC time zone that may store zero dates."""
    with server_root.cursor() as cursor:
        cursor.execute("SET time_zone = '+05:30'")
        cursor.execute("SET sql_mode = ''")
    return server_root


def run_scenario(
    writer: pymysql.Connection, reader_settings: Any, tables: list[TableSpec],
    extra_inserts: list[TableSpec],
) -> Observed:
    """Write and read every table as the module docstring describes; return what was read."""
    for table in tables:
        insert_rows(writer, table)
    # The app starts reading the binlog after these inserts, so the snapshot
    # replays none of them and shows what SELECT returns.
    app = start_app(reader_settings, tables=f"{DATABASE}.*")
    try:
        observed = Observed()
        for table in tables:
            body = httpx.get(f"{app.base_url}/api/tables/{DATABASE}.{table.name}", timeout=30).json()
            for row in body["rows"]:
                observed.rows[(table.name, row["id"], "snapshot")] = row
        client = SseClient(f"{app.base_url}/events")
        client.next("status")
        expected_changes = _change_rows(writer, tables) + _insert_only(writer, extra_inserts)
        for change in client.changes(expected_changes, timeout=30):
            _record(observed, change)
        client.close()
        return observed
    finally:
        app.stop()


def _change_rows(writer: pymysql.Connection, tables: list[TableSpec]) -> int:
    with writer.cursor() as cursor:
        for table in tables:
            cursor.execute(f"UPDATE {DATABASE}.{table.name} SET touch = 1")
            cursor.execute(f"DELETE FROM {DATABASE}.{table.name}")
    for table in tables:
        insert_rows(writer, table)
    return 3 * sum(len(table.rows) for table in tables)


def _insert_only(writer: pymysql.Connection, tables: list[TableSpec]) -> int:
    for table in tables:
        insert_rows(writer, table)
    return sum(len(table.rows) for table in tables)


def _record(observed: Observed, change: dict[str, Any]) -> None:
    table = change["table"]
    if change["op"] == "update":
        observed.rows[(table, change["before"]["id"], "update_before")] = change["before"]
        observed.rows[(table, change["after"]["id"], "update_after")] = change["after"]
    elif change["op"] == "delete":
        observed.rows[(table, change["before"]["id"], "delete_before")] = change["before"]
    else:
        observed.rows[(table, change["after"]["id"], "insert_after")] = change["after"]


class ReaderRun:
    """A BinlogReader running in a thread, collecting change events and the error that stopped it."""

    def __init__(self, connection: ConnectionSettings, tables: str, start: BinlogPosition,
                 server_id: int) -> None:
        settings = ReaderSettings(connection, TableFilter.parse(tables), server_id=server_id,
                                  heartbeat_s=0.5)
        self.events: list[ChangeEvent] = []
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(BinlogReader(settings, self, start),))
        self._thread.start()

    def _run(self, reader: BinlogReader) -> None:
        try:
            reader.run(self._stop)
        except Exception as error:  # noqa: BLE001 - handed to the test thread
            with self._changed:
                self.error = error
                self._changed.notify_all()

    def transaction(self, events: list[ChangeEvent], end: BinlogPosition) -> None:
        with self._changed:
            self.events.extend(events)
            self._changed.notify_all()

    def progress(self, position: BinlogPosition) -> None:
        return None

    def reader_state(self, state: str, message: str) -> None:
        return None

    def wait_for(self, count: int) -> list[ChangeEvent]:
        """Wait until count change events arrived or the reader stopped with an error."""
        with self._changed:
            self._changed.wait_for(
                lambda: len(self.events) >= count or self.error is not None, WAIT_S)
            return list(self.events)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT_S)
