"""The benchmark's private database server, its workload tables and its writers."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pymysql
from pymysql.constants import CLIENT

from cdc.connection import ConnectionSettings
from cdc.position import BinlogPosition
from cdc.server import current_position, server_fingerprint
from rowcast.paths import GRANTS_FILE, SCHEMA_FILE
from rowcast.private_server import PrivateServer, find_server_binary, free_port

READER_USER = "rowcast_reader"
READER_PASSWORD = "reader-demo-pw"
# The decode benchmark reads the demo table itself.
TASK_TABLE = ("robots", "task")
# The latency benchmarks write to a copy of it with one more column, Sent_At:
# the writer's time.time() just before the statement, unique for each change.
TIMED_TABLE = ("robots", "task_timed")
TIMED_ROWS = 100
# Statements sent in one round trip when building the decode binlog.
STATEMENTS_PER_ROUND_TRIP = 1000
# The benchmark measures the reader, not the disk. Flushing the redo log and
# the binlog once a second instead of at every commit lets 100,000 separate
# transactions be written in seconds instead of minutes.
FAST_COMMIT_OPTIONS = ("--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0")


@dataclass(frozen=True)
class BinlogRange:
    """A stretch of the binlog and the change events of the decode table in it."""

    start: BinlogPosition
    end: BinlogPosition
    inserts: int
    updates: int

    @property
    def rows(self) -> int:
        return self.inserts + self.updates


class BenchDatabase:
    """A private server with the demo schema, the timed table and the reader account."""

    def __init__(self, server: PrivateServer) -> None:
        self.server = server
        self.reader = ConnectionSettings(
            "127.0.0.1", server.port, READER_USER, READER_PASSWORD, "robots"
        )
        self._writer = self._connect_root()
        self.source = server_fingerprint(self._writer)

    @property
    def reader_url(self) -> str:
        return self.reader.url()

    def position(self) -> BinlogPosition:
        """Return the end of the binlog, tagged with this server's fingerprint."""
        return current_position(self._writer, self.source)

    def version(self) -> str:
        with self._writer.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            return str(cursor.fetchone()[0])

    def build_decode_binlog(
        self, first_id: int, inserts: int, updates: int, rows_per_insert: int
    ) -> BinlogRange:
        """Insert tasks in multi-row statements, then update them one transaction each.

        The tasks get the ids from first_id on, and the updates go round them in order.
        """
        start = self.position()
        ids = range(first_id, first_id + inserts)
        self._run_batches(_insert_statements(ids, rows_per_insert))
        self._run_batches(_update_statements(ids, updates))
        return BinlogRange(start, self.position(), inserts, updates)

    def fill_timed_table(self) -> None:
        """Give the timed table the rows the latency writers update."""
        db, table = TIMED_TABLE
        values = ", ".join(
            f"({task_id}, {task_id % 10 + 1}, 'Probe {task_id}', '08:00:00', '09:00:00', "
            "'SCHEDULED', 0)"
            for task_id in range(1, TIMED_ROWS + 1)
        )
        self._run_batches([
            f"INSERT INTO {db}.{table} (Task_ID, Robot_ID, Task_Name, Issued_Time, "
            f"Scheduled_Time, Status, Sent_At) VALUES {values}"
        ])

    def close(self) -> None:
        self._writer.close()

    def _connect_root(self) -> pymysql.Connection:
        return pymysql.connect(
            unix_socket=str(self.server.socket_path), user="root", autocommit=True,
            charset="utf8mb4", client_flag=CLIENT.MULTI_STATEMENTS,
        )

    def _run_batches(self, statements: list[str]) -> None:
        # Under autocommit every statement of a multi-statement batch is its own
        # transaction, with its own GTID and XID event in the binlog.
        with self._writer.cursor() as cursor:
            for first in range(0, len(statements), STATEMENTS_PER_ROUND_TRIP):
                cursor.execute(";".join(statements[first:first + STATEMENTS_PER_ROUND_TRIP]))
                while cursor.nextset():
                    pass


class TimedWriter:
    """Commits single-row updates of the timed table and notes when each commit returned.

    Each update stores the writer's time.time() in Sent_At. That value, which is
    strictly increasing, is the key under which the commit time is kept, so a
    client can match a change event it receives with its commit.
    """

    def __init__(self, server: PrivateServer) -> None:
        self._connection = pymysql.connect(
            unix_socket=str(server.socket_path), user="root", autocommit=True, charset="utf8mb4",
        )
        self._last_sent = 0.0
        self._count = 0

    def write(self, rate: float | None, duration_s: float, max_count: int) -> dict[float, float]:
        """Commit updates at `rate` per second (None: as fast as possible); return commit times.

        Stops after duration_s seconds or max_count updates, whichever comes first.
        A writer that falls behind its schedule commits without pausing until it catches up.
        """
        db, table = TIMED_TABLE
        statement = f"UPDATE {db}.{table} SET Sent_At = %s WHERE Task_ID = %s"
        commits: dict[float, float] = {}
        started = time.perf_counter()
        with self._connection.cursor() as cursor:
            for number in range(max_count):
                if rate is not None:
                    _sleep_until(started + number / rate)
                if time.perf_counter() - started >= duration_s:
                    break
                sent = max(time.time(), self._last_sent + 1e-6)
                self._last_sent = sent
                self._count += 1
                cursor.execute(statement, (sent, self._count % TIMED_ROWS + 1))
                # autocommit: the statement returns once its transaction is committed.
                commits[sent] = time.time()
        return commits

    def close(self) -> None:
        self._connection.close()


@contextmanager
def private_database() -> Iterator[BenchDatabase]:
    """Start a private server in a temporary folder with the schema, accounts and timed table."""
    binary = find_server_binary()
    if binary is None:
        raise RuntimeError(
            "No mariadbd or mysqld found on PATH or in /usr/sbin; the benchmark starts a "
            "private server of its own. Debian/Ubuntu: apt-get install mariadb-server."
        )
    with tempfile.TemporaryDirectory(prefix="rowcast-bench-") as folder:
        server = PrivateServer(Path(folder), free_port(), binary, FAST_COMMIT_OPTIONS)
        server.start()
        try:
            server.load_sql(SCHEMA_FILE, GRANTS_FILE)
            _create_timed_table(server)
            database = BenchDatabase(server)
            database.fill_timed_table()
            try:
                yield database
            finally:
                database.close()
        finally:
            server.stop()


def _create_timed_table(server: PrivateServer) -> None:
    task_db, task_table = TASK_TABLE
    db, table = TIMED_TABLE
    connection = server.root_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {db}.{table} LIKE {task_db}.{task_table}")
            cursor.execute(f"ALTER TABLE {db}.{table} ADD COLUMN Sent_At DOUBLE NOT NULL DEFAULT 0")
    finally:
        connection.close()


def _insert_statements(ids: range, rows_per_statement: int) -> list[str]:
    db, table = TASK_TABLE
    statements = []
    for first in range(0, len(ids), rows_per_statement):
        chunk = ids[first:first + rows_per_statement]
        values = ", ".join(_task_values(task_id) for task_id in chunk)
        statements.append(
            f"INSERT INTO {db}.{table} (Task_ID, Robot_ID, Task_Name, Issued_Time, "
            f"Scheduled_Time, Status) VALUES {values}"
        )
    return statements


def _task_values(task_id: int) -> str:
    # Task-shaped values: five robots, names of demo length, times spread over a day.
    minute = task_id % 1440
    issued = f"{minute // 60:02d}:{minute % 60:02d}:00"
    scheduled = f"{(minute // 60 + 1) % 24:02d}:{minute % 60:02d}:30"
    return (f"({task_id}, {task_id % 5 + 1}, 'Pick crate A{task_id % 97} for line {task_id % 7}', "
            f"'{issued}', '{scheduled}', 'SCHEDULED')")


def _update_statements(ids: range, count: int) -> list[str]:
    db, table = TASK_TABLE
    statuses = ("ACTIVE", "COMPLETED", "PREEMPTED")
    return [
        f"UPDATE {db}.{table} SET Status = '{statuses[number % 3]}' "
        f"WHERE Task_ID = {ids[number % len(ids)]}"
        for number in range(count)
    ]


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.perf_counter()
    if remaining > 0:
        time.sleep(remaining)
